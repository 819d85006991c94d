#ifndef ACCESSDELEGATION_TOOLS_ADCTL_ADCTL_H_
#define ACCESSDELEGATION_TOOLS_ADCTL_ADCTL_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "sdk/client.h"
#include "tools/adctl/command_line.h"

namespace accessdelegation::adctl {

// Invocation is what a command runs with: its parsed flags, where to print, and how to
// reach the server.
struct Invocation {
  const CommandLine& line;
  // Receives the command's result, as a table or as JSON with --json.
  std::ostream& out;
  // Receives errors.
  std::ostream& err;
  // Connects with the global flags. Fails with INVALID_ARGUMENT when a flag or a file it
  // names is unusable.
  std::function<absl::StatusOr<std::unique_ptr<sdk::Client>>()> connect;
  // Options of each call: the --timeout and --request_id flags.
  sdk::CallOptions call;

  // Returns whether --json was given.
  bool json() const { return line.Has("json"); }
};

// Command is one adctl subcommand.
struct Command {
  // Name on the command line, such as "list-grants".
  std::string name;
  // Flags in the usage line, such as "--owner ID [--state STATE]".
  std::string usage;
  // One line for the command list.
  std::string summary;
  // Paragraphs for the command's --help.
  std::string description;
  // Flags of this command, besides the global ones.
  std::vector<FlagSpec> flags;
  // Runs the command and returns the exit code.
  std::function<int(const Invocation&)> run;
};

// Returns every command, in the order help lists them.
const std::vector<Command>& Commands();

// Returns true when every flag in `names` was given. Otherwise prints a usage error that
// names the first missing flag to invocation.err and returns false.
bool RequireFlags(const Invocation& invocation, const std::vector<std::string>& names);

// Prints a usage error about the command to invocation.err and returns kExitUsage.
int ReportUsageError(const Invocation& invocation, const std::string& message);

// Prints `response` as JSON with --json, or calls `print_table` otherwise, and returns
// kExitOk. Returns kExitCallFailed after printing an error when the JSON conversion fails.
int PrintResponse(const Invocation& invocation, const google::protobuf::Message& response,
                  const std::function<void()>& print_table);

// Prints "<rpc> failed: <CODE>: <message>" to invocation.err and returns kExitCallFailed.
int ReportCallFailure(const Invocation& invocation, const std::string& rpc,
                      const absl::Status& status);

// Runs adctl with `args`, the arguments after the program name, and returns its exit code:
// kExitOk, kExitCallFailed when the call failed, or kExitUsage for a usage error.
int RunAdctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace accessdelegation::adctl

#endif  // ACCESSDELEGATION_TOOLS_ADCTL_ADCTL_H_
