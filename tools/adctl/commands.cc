// The adctl commands: each checks its flags, makes one kind of call with the service token
// and prints the result.

#include <google/protobuf/descriptor.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "tools/adctl/adctl.h"
#include "tools/adctl/output.h"

namespace accessdelegation::adctl {
namespace {

// Returns the value of enum type `E` that `text` names, with or without the type prefix,
// in any letter case and with '-' for '_': "view-billing", "VIEW_BILLING" and
// "PERMISSION_VIEW_BILLING" all name PERMISSION_VIEW_BILLING. The *_UNSPECIFIED value is
// rejected with INVALID_ARGUMENT, as is an unknown name; the message lists the valid ones.
template <typename E>
absl::StatusOr<E> ParseEnum(const google::protobuf::EnumDescriptor* type, const std::string& flag,
                            const std::string& text, absl::string_view prefix) {
  std::string name = absl::AsciiStrToUpper(absl::StrReplaceAll(text, {{"-", "_"}}));
  if (!absl::StartsWith(name, prefix)) name = absl::StrCat(prefix, name);

  std::vector<std::string> valid;
  for (int i = 0; i < type->value_count(); ++i) {
    const google::protobuf::EnumValueDescriptor* value = type->value(i);
    if (value->number() == 0) continue;
    if (value->name() == name) return static_cast<E>(value->number());
    valid.push_back(WithoutPrefix(value->name(), prefix));
  }
  return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", text, " is not one of ",
                                                 absl::StrJoin(valid, ", ")));
}

// Returns the password in `path`, or in standard input when `path` is "-", without one
// final line break.
absl::StatusOr<std::string> ReadPassword(const std::string& path) {
  std::ostringstream contents;
  if (path == "-") {
    contents << std::cin.rdbuf();
  } else {
    std::ifstream file(path, std::ios::binary);
    if (!file) return absl::InvalidArgumentError(absl::StrCat("cannot read --password_file=", path));
    contents << file.rdbuf();
  }
  std::string password = contents.str();
  if (absl::EndsWith(password, "\n")) password.pop_back();
  if (absl::EndsWith(password, "\r")) password.pop_back();
  if (password.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--password_file=", path, " is empty"));
  }
  return password;
}

// Connects with the global flags. On failure prints a usage error and returns null.
std::unique_ptr<sdk::Client> ConnectOrReport(const Invocation& invocation) {
  absl::StatusOr<std::unique_ptr<sdk::Client>> client = invocation.connect();
  if (!client.ok()) {
    ReportUsageError(invocation, std::string(client.status().message()));
    return nullptr;
  }
  return *std::move(client);
}

std::string FullName(const std::string& first, const std::string& last) {
  return absl::StrCat(first, " ", last);
}

// Returns `value`, or "-" when it is empty, so that table cells are never blank.
std::string OrDash(const std::string& value) { return value.empty() ? "-" : value; }

// Returns "FULL" for ACCESS_LEVEL_FULL and the like, and "-" for the unset level.
std::string LevelLabel(v1::AccessLevel level) {
  if (level == v1::ACCESS_LEVEL_UNSPECIFIED) return "-";
  return WithoutPrefix(v1::AccessLevel_Name(level), "ACCESS_LEVEL_");
}

int RunCreateAccount(const Invocation& invocation) {
  const CommandLine& line = invocation.line;
  if (!RequireFlags(invocation,
                    {"email", "first_name", "last_name", "phone_number", "password_file"})) {
    return kExitUsage;
  }
  absl::StatusOr<std::string> password = ReadPassword(line.Get("password_file"));
  if (!password.ok()) return ReportUsageError(invocation, std::string(password.status().message()));
  std::unique_ptr<sdk::Client> client = ConnectOrReport(invocation);
  if (client == nullptr) return kExitUsage;

  v1::CreateAccountRequest request;
  request.set_email(line.Get("email"));
  request.set_password(*password);
  request.set_first_name(line.Get("first_name"));
  request.set_last_name(line.Get("last_name"));
  request.set_phone_number(line.Get("phone_number"));
  absl::StatusOr<v1::CreateAccountResponse> response =
      client->CreateAccount(request, invocation.call);
  if (!response.ok()) return ReportCallFailure(invocation, "CreateAccount", response.status());

  return PrintResponse(invocation, *response, [&] {
    const v1::Account& account = response->account();
    PrintFields({{"account_id", account.account_id()},
                 {"email", account.email()},
                 {"name", FullName(account.first_name(), account.last_name())},
                 {"phone_number", account.phone_number()},
                 {"create_time", FormatTime(account.create_time())}},
                invocation.out);
  });
}

int RunCheckAccess(const Invocation& invocation) {
  const CommandLine& line = invocation.line;
  if (!RequireFlags(invocation, {"account", "owner", "permission"})) return kExitUsage;
  absl::StatusOr<v1::Permission> permission = ParseEnum<v1::Permission>(
      v1::Permission_descriptor(), "permission", line.Get("permission"), "PERMISSION_");
  if (!permission.ok()) {
    return ReportUsageError(invocation, std::string(permission.status().message()));
  }
  std::unique_ptr<sdk::Client> client = ConnectOrReport(invocation);
  if (client == nullptr) return kExitUsage;

  v1::CheckAccessRequest request;
  request.set_account_id(line.Get("account"));
  request.set_owner_account_id(line.Get("owner"));
  request.set_permission(*permission);
  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess(request, invocation.call);
  if (!response.ok()) return ReportCallFailure(invocation, "CheckAccess", response.status());

  return PrintResponse(invocation, *response, [&] {
    const std::string reason = v1::CheckAccessResponse::Reason_Name(response->reason());
    PrintFields({{"allowed", response->allowed() ? "true" : "false"},
                 {"reason", WithoutPrefix(reason, "REASON_")},
                 {"access_level", LevelLabel(response->access_level())},
                 {"grant_id", OrDash(response->grant_id())}},
                invocation.out);
  });
}

}  // namespace

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"create-account",
       "--email EMAIL --first_name NAME --last_name NAME --phone_number PHONE "
       "--password_file FILE",
       "create a patient account",
       "Creates an account with Accounts.CreateAccount and prints it. The password is read\n"
       "from a file, or from standard input with --password_file=-, so that it stays out of\n"
       "the process list and the shell history; one final line break is dropped.",
       {{"email", "EMAIL", "sign-in address, at most 254 ASCII characters"},
        {"first_name", "NAME", "given name, 1 to 100 characters"},
        {"last_name", "NAME", "family name, 1 to 100 characters"},
        {"phone_number", "PHONE", "phone number, E.164 (+14155550123) or national form"},
        {"password_file", "FILE", "file with the password (12 to 128 characters); - is stdin"}},
       RunCreateAccount},
      {"check-access",
       "--account ID --owner ID --permission PERMISSION",
       "decide whether an account may perform a permission on an owner's record",
       "Calls AccessDelegation.CheckAccess and prints whether the account is allowed, why,\n"
       "and the grant behind the decision. Exits with 0 whether or not access is allowed.\n"
       "PERMISSION is VIEW_APPOINTMENTS, SCHEDULE_APPOINTMENTS, VIEW_HEALTH_RECORD,\n"
       "MESSAGE_CARE_TEAM or VIEW_BILLING, in any letter case, with or without the\n"
       "PERMISSION_ prefix.",
       {{"account", "ID", "account that wants to act"},
        {"owner", "ID", "account whose record it acts on"},
        {"permission", "PERMISSION", "permission to decide, such as VIEW_BILLING"}},
       RunCheckAccess},
  };
  return *commands;
}

}  // namespace accessdelegation::adctl
