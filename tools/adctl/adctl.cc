#include "tools/adctl/adctl.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "tools/adctl/output.h"

namespace accessdelegation::adctl {
namespace {

constexpr char kDefaultTarget[] = "127.0.0.1:50051";
constexpr absl::Duration kDefaultTimeout = absl::Seconds(10);

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  the call succeeded\n"
    "  1  the call failed; its gRPC code and message are printed to stderr\n"
    "  2  usage error: an unknown command or flag, a missing or invalid value, or a file\n"
    "     that cannot be read\n";

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"target", "HOST:PORT", absl::StrCat("server address (default ", kDefaultTarget, ")")},
      {"service_token_file", "FILE", "file that contains the service token; required"},
      {"tls_ca", "FILE", "PEM CA certificates that verify the server; turns on TLS"},
      {"tls_cert", "FILE", "PEM client certificate for mutual TLS; turns on TLS"},
      {"tls_key", "FILE", "PEM private key of --tls_cert"},
      {"tls_server_name", "NAME", "name to verify in the server's certificate, not the target's"},
      {"timeout", "DURATION",
       absl::StrCat("deadline of the call and its retries, such as 30s (default ",
                    absl::FormatDuration(kDefaultTimeout), ")")},
      {"request_id", "ID", "request id sent as x-request-id, which the server logs"},
      {"json", "", "print the response as protobuf JSON instead of a table"},
      {"help", "", "print help and exit; after a command, that command's help"},
  };
  return *flags;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

void PrintFlagList(const std::vector<FlagSpec>& flags, std::ostream& out) {
  size_t width = 0;
  std::vector<std::string> names;
  for (const FlagSpec& flag : flags) {
    names.push_back(flag.value_name.empty() ? absl::StrCat("--", flag.name)
                                            : absl::StrCat("--", flag.name, " ", flag.value_name));
    width = std::max(width, names.back().size());
  }
  for (size_t i = 0; i < flags.size(); ++i) {
    out << "  " << names[i] << std::string(width - names[i].size(), ' ') << "  " << flags[i].help
        << '\n';
  }
}

void PrintMainHelp(std::ostream& out) {
  out << "adctl is the operator's command line for an AccessDelegation server. It calls the\n"
         "server with a service token.\n\n"
         "Usage: adctl [GLOBAL FLAGS] COMMAND [FLAGS]\n\n"
         "Commands:\n";
  size_t width = 0;
  for (const Command& command : Commands()) width = std::max(width, command.name.size());
  for (const Command& command : Commands()) {
    out << "  " << command.name << std::string(width - command.name.size(), ' ') << "  "
        << command.summary << '\n';
  }
  out << "\nGlobal flags, accepted before or after the command:\n";
  PrintFlagList(GlobalFlags(), out);
  out << "\nRun adctl COMMAND --help for a command's flags.\n\n" << kExitCodesHelp;
}

void PrintCommandHelp(const Command& command, std::ostream& out) {
  out << "Usage: adctl [GLOBAL FLAGS] " << command.name;
  if (!command.usage.empty()) out << ' ' << command.usage;
  out << "\n\n" << command.description << "\n\n";
  if (!command.flags.empty()) {
    out << "Flags:\n";
    PrintFlagList(command.flags, out);
    out << '\n';
  }
  out << "Global flags:\n";
  PrintFlagList(GlobalFlags(), out);
  out << '\n' << kExitCodesHelp;
}

// Reads the file named by flag `flag` into `contents`.
absl::Status ReadFlagFile(const CommandLine& line, const std::string& flag, std::string& contents) {
  const std::string path = line.Get(flag);
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read --", flag, "=", path, ": ", std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << file.rdbuf();
  contents = buffer.str();
  return absl::OkStatus();
}

absl::StatusOr<sdk::ClientOptions> MakeClientOptions(const CommandLine& line) {
  sdk::ClientOptions options;
  if (!line.Has("service_token_file")) {
    return absl::InvalidArgumentError("--service_token_file is required");
  }
  std::string token;
  if (absl::Status status = ReadFlagFile(line, "service_token_file", token); !status.ok()) {
    return status;
  }
  options.bearer_token = std::string(absl::StripAsciiWhitespace(token));
  if (options.bearer_token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--service_token_file=", line.Get("service_token_file"), " is empty"));
  }

  if (line.Has("tls_cert") != line.Has("tls_key")) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key must be given together");
  }
  if (line.Has("tls_ca") || line.Has("tls_cert")) {
    sdk::TlsOptions tls;
    for (const auto& [flag, field] : {std::pair<const char*, std::string*>{"tls_ca", &tls.root_certificates_pem},
                                      {"tls_cert", &tls.certificate_chain_pem},
                                      {"tls_key", &tls.private_key_pem}}) {
      if (!line.Has(flag)) continue;
      if (absl::Status status = ReadFlagFile(line, flag, *field); !status.ok()) return status;
    }
    tls.target_name_override = line.Get("tls_server_name");
    options.tls = std::move(tls);
  } else if (line.Has("tls_server_name")) {
    return absl::InvalidArgumentError("--tls_server_name needs TLS: give --tls_ca or --tls_cert");
  }
  return options;
}

absl::StatusOr<sdk::CallOptions> MakeCallOptions(const CommandLine& line) {
  sdk::CallOptions call;
  call.request_id = line.Get("request_id");
  if (line.Has("timeout")) {
    absl::Duration timeout;
    if (!absl::ParseDuration(line.Get("timeout"), &timeout) || timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--timeout=", line.Get("timeout"), " is not a positive duration such as 500ms or 30s"));
    }
    call.deadline = timeout;
  } else {
    call.deadline = kDefaultTimeout;
  }
  return call;
}

}  // namespace

bool RequireFlags(const Invocation& invocation, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (invocation.line.Get(name).empty()) {
      ReportUsageError(invocation, absl::StrCat("--", name, " is required"));
      return false;
    }
  }
  return true;
}

int ReportUsageError(const Invocation& invocation, const std::string& message) {
  invocation.err << "adctl " << invocation.line.command << ": error: " << message
                 << "\nRun adctl " << invocation.line.command << " --help for usage.\n";
  return kExitUsage;
}

int ReportCallFailure(const Invocation& invocation, const std::string& rpc,
                      const absl::Status& status) {
  invocation.err << "adctl " << invocation.line.command << ": " << rpc
                 << " failed: " << absl::StatusCodeToString(status.code()) << ": "
                 << status.message() << '\n';
  return kExitCallFailed;
}

int PrintResponse(const Invocation& invocation, const google::protobuf::Message& response,
                  const std::function<void()>& print_table) {
  if (!invocation.json()) {
    print_table();
    return kExitOk;
  }
  if (absl::Status status = PrintJson(response, invocation.out); !status.ok()) {
    invocation.err << "adctl " << invocation.line.command
                   << ": printing the response as JSON failed: " << status << '\n';
    return kExitCallFailed;
  }
  return kExitOk;
}

int RunAdctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<CommandLine> parsed =
      ParseCommandLine(args, GlobalFlags(), [](absl::string_view name) {
        const Command* command = FindCommand(name);
        return command == nullptr ? nullptr : &command->flags;
      });
  if (!parsed.ok()) {
    err << "adctl: error: " << parsed.status().message() << '\n';
    return kExitUsage;
  }
  const CommandLine& line = *parsed;

  if (line.command.empty()) {
    if (line.Has("help")) {
      PrintMainHelp(out);
      return kExitOk;
    }
    err << "adctl: error: no command given\n\n";
    PrintMainHelp(err);
    return kExitUsage;
  }
  const Command& command = *FindCommand(line.command);
  if (line.Has("help")) {
    PrintCommandHelp(command, out);
    return kExitOk;
  }

  Invocation invocation{line, out, err, nullptr, {}};
  absl::StatusOr<sdk::CallOptions> call = MakeCallOptions(line);
  if (!call.ok()) return ReportUsageError(invocation, std::string(call.status().message()));
  invocation.call = *std::move(call);
  invocation.connect = [&line]() -> absl::StatusOr<std::unique_ptr<sdk::Client>> {
    absl::StatusOr<sdk::ClientOptions> options = MakeClientOptions(line);
    if (!options.ok()) return options.status();
    const std::string target = line.Has("target") ? line.Get("target") : kDefaultTarget;
    return sdk::Client::Connect(target, *std::move(options));
  };
  return command.run(invocation);
}

}  // namespace accessdelegation::adctl
