#ifndef ACCESSDELEGATION_TOOLS_ADCTL_COMMAND_LINE_H_
#define ACCESSDELEGATION_TOOLS_ADCTL_COMMAND_LINE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace accessdelegation::adctl {

// Exit codes of adctl, as its --help lists them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitCallFailed = 1;
inline constexpr int kExitUsage = 2;

// FlagSpec describes one --flag that adctl or one of its commands accepts.
struct FlagSpec {
  // Name without the leading dashes, such as "owner".
  std::string name;
  // Placeholder of the value in help, such as "ID". Empty for a boolean flag, which takes
  // no value.
  std::string value_name;
  // One-line description for help.
  std::string help;
};

// CommandLine is a parsed adctl command line.
struct CommandLine {
  // The command name, such as "list-grants". Empty when the line has none.
  std::string command;
  // Value of each flag given, by name. A boolean flag given has the value "true".
  absl::flat_hash_map<std::string, std::string> flags;

  // Returns whether `name` was given.
  bool Has(absl::string_view name) const { return flags.contains(name); }
  // Returns the value of `name`, or an empty string when it was not given.
  std::string Get(absl::string_view name) const;
};

// Returns the flags of `command`, or null when no command has that name.
using CommandFlagsLookup = std::function<const std::vector<FlagSpec>*(absl::string_view command)>;

// Parses `args`, the arguments after the program name: global flags, then the command
// name, then any mix of global and command flags. A flag is "--name=value" or
// "--name value", and a boolean flag is "--name". "-h" is "--help".
//
// Returns INVALID_ARGUMENT, with a message that names the argument, for an unknown command
// or flag, a command flag before the command, a flag given twice, a missing value, a value
// given to a boolean flag and any extra positional argument.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             const std::vector<FlagSpec>& global_flags,
                                             const CommandFlagsLookup& command_flags);

}  // namespace accessdelegation::adctl

#endif  // ACCESSDELEGATION_TOOLS_ADCTL_COMMAND_LINE_H_
