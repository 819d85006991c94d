#include "tools/adctl/command_line.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace accessdelegation::adctl {
namespace {

const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags, absl::string_view name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

// Parser walks the arguments once, left to right.
class Parser {
 public:
  Parser(const std::vector<std::string>& args, const std::vector<FlagSpec>& global_flags,
         const CommandFlagsLookup& command_flags)
      : args_(args), global_flags_(global_flags), command_flags_(command_flags) {}

  absl::StatusOr<CommandLine> Parse() {
    for (index_ = 0; index_ < args_.size(); ++index_) {
      const std::string& arg = args_[index_];
      absl::Status status;
      if (arg == "-h") {
        status = Store(FlagSpec{"help", "", ""}, "--help", std::nullopt);
      } else if (absl::StartsWith(arg, "--") && arg.size() > 2) {
        status = ParseFlag(arg);
      } else if (absl::StartsWith(arg, "-")) {
        status = absl::InvalidArgumentError(
            absl::StrCat("invalid argument '", arg, "'; flags look like --name=value"));
      } else {
        status = ParseCommand(arg);
      }
      if (!status.ok()) return status;
    }
    return std::move(result_);
  }

 private:
  absl::Status ParseCommand(const std::string& arg) {
    if (!result_.command.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "' after the command ",
                                                     result_.command, "; values go in flags"));
    }
    command_spec_ = command_flags_(arg);
    if (command_spec_ == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown command '", arg, "'; run adctl --help for the list"));
    }
    result_.command = arg;
    return absl::OkStatus();
  }

  absl::Status ParseFlag(const std::string& arg) {
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(2, equals == std::string::npos ? std::string::npos
                                                                       : equals - 2);
    std::optional<std::string> value;
    if (equals != std::string::npos) value = arg.substr(equals + 1);

    const FlagSpec* spec = FindFlag(global_flags_, name);
    if (spec == nullptr && command_spec_ != nullptr) spec = FindFlag(*command_spec_, name);
    if (spec == nullptr) return UnknownFlag(name);

    if (!spec->value_name.empty() && !value.has_value()) {
      if (index_ + 1 >= args_.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " is missing its value, ", spec->value_name));
      }
      value = args_[++index_];
    }
    return Store(*spec, arg, value);
  }

  absl::Status Store(const FlagSpec& spec, const std::string& arg,
                     const std::optional<std::string>& value) {
    if (spec.value_name.empty() && value.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", spec.name, " takes no value, but got '", arg, "'"));
    }
    if (spec.name != "help" && result_.Has(spec.name)) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", spec.name, " is given twice"));
    }
    result_.flags[spec.name] = value.value_or("true");
    return absl::OkStatus();
  }

  absl::Status UnknownFlag(const std::string& name) const {
    if (command_spec_ == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown flag --", name,
          " before the command; command flags go after the command name, see adctl --help"));
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " for ",
                                                   result_.command, "; run adctl ",
                                                   result_.command, " --help"));
  }

  const std::vector<std::string>& args_;
  const std::vector<FlagSpec>& global_flags_;
  const CommandFlagsLookup& command_flags_;
  const std::vector<FlagSpec>* command_spec_ = nullptr;
  size_t index_ = 0;
  CommandLine result_;
};

}  // namespace

std::string CommandLine::Get(absl::string_view name) const {
  auto it = flags.find(name);
  return it == flags.end() ? "" : it->second;
}

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             const std::vector<FlagSpec>& global_flags,
                                             const CommandFlagsLookup& command_flags) {
  return Parser(args, global_flags, command_flags).Parse();
}

}  // namespace accessdelegation::adctl
