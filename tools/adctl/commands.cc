// The adctl commands: each checks its flags, makes one kind of call with the service token
// and prints the result.

#include <google/protobuf/descriptor.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tools/adctl/adctl.h"
#include "tools/adctl/output.h"
#include "tools/adctl/paging.h"

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

// Maximum number of items that a list command prints when --limit is not given.
constexpr int kDefaultListLimit = 1000;

// Page size that list commands request: the maximum that the list RPCs accept.
constexpr int kPageSize = 200;

// Returns a random version 4 UUID, used as the request_id that makes a write safe to retry.
std::string NewRequestId() {
  absl::BitGen bits;
  const uint64_t high = (absl::Uniform<uint64_t>(bits) & ~uint64_t{0xF000}) | uint64_t{0x4000};
  const uint64_t low =
      (absl::Uniform<uint64_t>(bits) & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32, (high >> 16) & 0xFFFF,
                         high & 0xFFFF, low >> 48, low & 0xFFFFFFFFFFFF);
}

// Returns the --limit flag, kDefaultListLimit when it is not given, or INVALID_ARGUMENT
// when it is not a positive integer.
absl::StatusOr<int> ParseLimit(const CommandLine& line) {
  if (!line.Has("limit")) return kDefaultListLimit;
  int limit = 0;
  if (!absl::SimpleAtoi(line.Get("limit"), &limit) || limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--limit=", line.Get("limit"), " is not a positive integer"));
  }
  return limit;
}

// Returns the time that `flag` names: an RFC 3339 time such as 2024-05-01T09:30:00Z, or a
// duration such as 24h, which means that long before now.
absl::StatusOr<google::protobuf::Timestamp> ParseTimeFlag(const CommandLine& line,
                                                         const std::string& flag) {
  const std::string text = line.Get(flag);
  absl::Time time;
  absl::Duration ago;
  std::string error;
  if (absl::ParseDuration(text, &ago) && ago >= absl::ZeroDuration()) {
    time = absl::Now() - ago;
  } else if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", text, " is neither an RFC 3339 time such as 2024-05-01T09:30:00Z nor a "
        "duration such as 24h"));
  }
  google::protobuf::Timestamp timestamp;
  const int64_t nanos = absl::ToUnixNanos(time);
  timestamp.set_seconds(nanos / 1000000000);
  timestamp.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return timestamp;
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

std::string StateLabel(v1::InvitationState state) {
  return WithoutPrefix(v1::InvitationState_Name(state), "INVITATION_STATE_");
}

int RunListInvitations(const Invocation& invocation) {
  const CommandLine& line = invocation.line;
  if (!RequireFlags(invocation, {"owner"})) return kExitUsage;
  v1::InvitationState state = v1::INVITATION_STATE_UNSPECIFIED;
  if (line.Has("state")) {
    absl::StatusOr<v1::InvitationState> parsed = ParseEnum<v1::InvitationState>(
        v1::InvitationState_descriptor(), "state", line.Get("state"), "INVITATION_STATE_");
    if (!parsed.ok()) return ReportUsageError(invocation, std::string(parsed.status().message()));
    state = *parsed;
  }
  absl::StatusOr<int> limit = ParseLimit(line);
  if (!limit.ok()) return ReportUsageError(invocation, std::string(limit.status().message()));
  std::unique_ptr<sdk::Client> client = ConnectOrReport(invocation);
  if (client == nullptr) return kExitUsage;

  absl::StatusOr<v1::ListInvitationsResponse> response = ReadPages<v1::ListInvitationsResponse>(
      [&](const std::string& page_token) {
        v1::ListInvitationsRequest request;
        request.set_owner_account_id(line.Get("owner"));
        request.set_state(state);
        request.set_page_size(kPageSize);
        request.set_page_token(page_token);
        return client->ListInvitations(request, invocation.call);
      },
      [](v1::ListInvitationsResponse& page) { return page.mutable_invitations(); }, *limit);
  if (!response.ok()) return ReportCallFailure(invocation, "ListInvitations", response.status());

  return PrintResponse(invocation, *response, [&] {
    Table table({"INVITATION ID", "EMAIL", "NAME", "LEVEL", "STATE", "CREATED", "EXPIRES"});
    for (const v1::Invitation& invitation : response->invitations()) {
      table.AddRow({invitation.invitation_id(), invitation.email(),
                    FullName(invitation.first_name(), invitation.last_name()),
                    LevelLabel(invitation.access_level()), StateLabel(invitation.state()),
                    FormatTime(invitation.create_time()), FormatTime(invitation.expire_time())});
    }
    table.Print(invocation.out);
  });
}

int RunListGrants(const Invocation& invocation) {
  const CommandLine& line = invocation.line;
  if (!RequireFlags(invocation, {"owner"})) return kExitUsage;
  v1::GrantState state = v1::GRANT_STATE_UNSPECIFIED;
  if (line.Has("state")) {
    absl::StatusOr<v1::GrantState> parsed = ParseEnum<v1::GrantState>(
        v1::GrantState_descriptor(), "state", line.Get("state"), "GRANT_STATE_");
    if (!parsed.ok()) return ReportUsageError(invocation, std::string(parsed.status().message()));
    state = *parsed;
  }
  absl::StatusOr<int> limit = ParseLimit(line);
  if (!limit.ok()) return ReportUsageError(invocation, std::string(limit.status().message()));
  std::unique_ptr<sdk::Client> client = ConnectOrReport(invocation);
  if (client == nullptr) return kExitUsage;

  absl::StatusOr<v1::ListGrantsResponse> response = ReadPages<v1::ListGrantsResponse>(
      [&](const std::string& page_token) {
        v1::ListGrantsRequest request;
        request.set_owner_account_id(line.Get("owner"));
        request.set_state(state);
        request.set_page_size(kPageSize);
        request.set_page_token(page_token);
        return client->ListGrants(request, invocation.call);
      },
      [](v1::ListGrantsResponse& page) { return page.mutable_grants(); }, *limit);
  if (!response.ok()) return ReportCallFailure(invocation, "ListGrants", response.status());

  return PrintResponse(invocation, *response, [&] {
    Table table({"GRANT ID", "DELEGATE ID", "EMAIL", "NAME", "LEVEL", "STATE", "CREATED",
                 "EXPIRES", "ENDED"});
    for (const v1::Grant& grant : response->grants()) {
      table.AddRow({grant.grant_id(), grant.delegate_account_id(), grant.delegate_email(),
                    FullName(grant.delegate_first_name(), grant.delegate_last_name()),
                    LevelLabel(grant.access_level()),
                    WithoutPrefix(v1::GrantState_Name(grant.state()), "GRANT_STATE_"),
                    FormatTime(grant.create_time()), FormatTime(grant.expire_time()),
                    FormatTime(grant.end_time())});
    }
    table.Print(invocation.out);
  });
}

int RunRevokeGrant(const Invocation& invocation) {
  const CommandLine& line = invocation.line;
  if (!RequireFlags(invocation, {"owner", "grant"})) return kExitUsage;
  std::unique_ptr<sdk::Client> client = ConnectOrReport(invocation);
  if (client == nullptr) return kExitUsage;

  // With a request_id, the server returns the first response to a retried revocation
  // instead of revoking again, so the write is safe to retry.
  v1::RevokeGrantRequest request;
  request.set_owner_account_id(line.Get("owner"));
  request.set_grant_id(line.Get("grant"));
  request.set_etag(line.Get("etag"));
  request.set_request_id(NewRequestId());
  sdk::CallOptions call = invocation.call;
  call.retry_write = true;
  absl::StatusOr<v1::RevokeGrantResponse> response = client->RevokeGrant(request, call);
  if (!response.ok()) return ReportCallFailure(invocation, "RevokeGrant", response.status());

  return PrintResponse(invocation, *response, [&] {
    invocation.out << "revoked grant " << request.grant_id() << " on the record of "
                   << request.owner_account_id() << '\n';
  });
}

// Returns "service:<name>", "account:<id>" or "system" for the actor of an audit event.
std::string ActorLabel(const v1::AuditEvent& event) {
  switch (event.actor_kind()) {
    case v1::ACTOR_KIND_ACCOUNT:
      return absl::StrCat("account:", event.actor_id());
    case v1::ACTOR_KIND_SERVICE:
      return absl::StrCat("service:", event.actor_id());
    case v1::ACTOR_KIND_SYSTEM:
      return "system";
    default:
      return OrDash(event.actor_id());
  }
}

int RunAudit(const Invocation& invocation) {
  const CommandLine& line = invocation.line;
  v1::ListAuditEventsRequest filter;
  filter.set_owner_account_id(line.Get("owner"));
  filter.set_actor_id(line.Get("actor"));
  if (line.Has("since")) {
    absl::StatusOr<google::protobuf::Timestamp> since = ParseTimeFlag(line, "since");
    if (!since.ok()) return ReportUsageError(invocation, std::string(since.status().message()));
    *filter.mutable_start_time() = *since;
  }
  if (line.Has("until")) {
    absl::StatusOr<google::protobuf::Timestamp> until = ParseTimeFlag(line, "until");
    if (!until.ok()) return ReportUsageError(invocation, std::string(until.status().message()));
    *filter.mutable_end_time() = *until;
  }
  absl::StatusOr<int> limit = ParseLimit(line);
  if (!limit.ok()) return ReportUsageError(invocation, std::string(limit.status().message()));
  std::unique_ptr<sdk::Client> client = ConnectOrReport(invocation);
  if (client == nullptr) return kExitUsage;

  absl::StatusOr<v1::ListAuditEventsResponse> response = ReadPages<v1::ListAuditEventsResponse>(
      [&](const std::string& page_token) {
        v1::ListAuditEventsRequest request = filter;
        request.set_page_size(kPageSize);
        request.set_page_token(page_token);
        return client->ListAuditEvents(request, invocation.call);
      },
      [](v1::ListAuditEventsResponse& page) { return page.mutable_events(); }, *limit);
  if (!response.ok()) return ReportCallFailure(invocation, "ListAuditEvents", response.status());

  return PrintResponse(invocation, *response, [&] {
    Table table({"ID", "TIME", "ACTOR", "ACTION", "OWNER", "TARGET", "REQUEST ID"});
    for (const v1::AuditEvent& event : response->events()) {
      table.AddRow({absl::StrCat(event.id()), FormatTime(event.event_time()), ActorLabel(event),
                    event.action(), OrDash(event.owner_account_id()),
                    absl::StrCat(event.target_type(), ":", event.target_id()),
                    OrDash(event.request_id())});
    }
    table.Print(invocation.out);
  });
}

int RunEmails(const Invocation& invocation) {
  absl::StatusOr<int> limit = ParseLimit(invocation.line);
  if (!limit.ok()) return ReportUsageError(invocation, std::string(limit.status().message()));
  std::unique_ptr<sdk::Client> client = ConnectOrReport(invocation);
  if (client == nullptr) return kExitUsage;

  absl::StatusOr<v1::ListFailedEmailsResponse> response = ReadPages<v1::ListFailedEmailsResponse>(
      [&](const std::string& page_token) {
        v1::ListFailedEmailsRequest request;
        request.set_page_size(kPageSize);
        request.set_page_token(page_token);
        return client->ListFailedEmails(request, invocation.call);
      },
      [](v1::ListFailedEmailsResponse& page) { return page.mutable_emails(); }, *limit);
  if (!response.ok()) return ReportCallFailure(invocation, "ListFailedEmails", response.status());

  return PrintResponse(invocation, *response, [&] {
    Table table({"MESSAGE ID", "RECIPIENT", "SUBJECT", "STATE", "ATTEMPTS", "LAST ATTEMPT",
                 "NEXT ATTEMPT", "LAST ERROR"});
    for (const v1::FailedEmail& email : response->emails()) {
      table.AddRow({email.message_id(), email.recipient(), email.subject(),
                    WithoutPrefix(v1::FailedEmailState_Name(email.state()), "FAILED_EMAIL_STATE_"),
                    absl::StrCat(email.attempts()), FormatTime(email.last_attempt_time()),
                    FormatTime(email.next_attempt_time()), email.last_error()});
    }
    table.Print(invocation.out);
  });
}

int RunRetryEmail(const Invocation& invocation) {
  if (!RequireFlags(invocation, {"message"})) return kExitUsage;
  std::unique_ptr<sdk::Client> client = ConnectOrReport(invocation);
  if (client == nullptr) return kExitUsage;

  v1::RetryEmailRequest request;
  request.set_message_id(invocation.line.Get("message"));
  absl::StatusOr<v1::RetryEmailResponse> response = client->RetryEmail(request, invocation.call);
  if (!response.ok()) return ReportCallFailure(invocation, "RetryEmail", response.status());

  return PrintResponse(invocation, *response, [&] {
    invocation.out << "email " << response->email().message_id() << " to "
                   << response->email().recipient() << " is due for delivery now\n";
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
      {"list-invitations",
       "--owner ID [--state STATE] [--limit N]",
       "list an owner's invitations, newest first",
       "Calls AccessDelegation.ListInvitations on behalf of the owner, page by page, and\n"
       "prints every invitation up to --limit. STATE is PENDING, ACCEPTED, CONFIRMED,\n"
       "DENIED, DECLINED, CANCELED or EXPIRED.",
       {{"owner", "ID", "account whose invitations to list"},
        {"state", "STATE", "list only invitations in this state"},
        {"limit", "N", absl::StrCat("maximum number of invitations (default ", kDefaultListLimit,
                                    ")")}},
       RunListInvitations},
      {"list-grants",
       "--owner ID [--state STATE] [--limit N]",
       "list who has access to an owner's record, oldest first",
       "Calls AccessDelegation.ListGrants on behalf of the owner, page by page, and prints\n"
       "every grant in STATE up to --limit. STATE is ACTIVE (the default: grants past their\n"
       "expire time are left out), REVOKED, LEFT or EXPIRED.",
       {{"owner", "ID", "account whose grants to list"},
        {"state", "STATE", "list only grants in this state (default ACTIVE)"},
        {"limit", "N",
         absl::StrCat("maximum number of grants (default ", kDefaultListLimit, ")")}},
       RunListGrants},
      {"revoke-grant",
       "--owner ID --grant ID [--etag ETAG]",
       "remove a delegate's access to an owner's record",
       "Calls AccessDelegation.RevokeGrant on behalf of the owner. The next CheckAccess is\n"
       "denied and the delegate is emailed. The request carries a fresh request_id, so a\n"
       "retry after UNAVAILABLE cannot revoke twice. A grant that is unknown, already ended\n"
       "or another owner's fails with NOT_FOUND.",
       {{"owner", "ID", "account whose record the grant opens"},
        {"grant", "ID", "grant to revoke"},
        {"etag", "ETAG", "fail with ABORTED unless the grant still has this etag"}},
       RunRevokeGrant},
      {"audit",
       "[--owner ID] [--actor ID] [--since TIME] [--until TIME] [--limit N]",
       "list audit events, newest first",
       "Calls AccessHistory.ListAuditEvents, page by page, and prints the matching events up\n"
       "to --limit. Without --owner it lists the events of every owner. TIME is an RFC 3339\n"
       "time such as 2024-05-01T09:30:00Z, or a duration such as 24h for that long ago.",
       {{"owner", "ID", "only events on this account's record"},
        {"actor", "ID", "only events made by this account id or service name"},
        {"since", "TIME", "only events at or after TIME"},
        {"until", "TIME", "only events before TIME"},
        {"limit", "N",
         absl::StrCat("maximum number of events (default ", kDefaultListLimit, ")")}},
       RunAudit},
      {"emails",
       "[--limit N]",
       "list outgoing emails whose delivery failed",
       "Calls Operations.ListFailedEmails, page by page, and prints the undelivered emails\n"
       "whose last attempt failed, in queue order: those the server still retries\n"
       "(RETRYING) and those it gave up (DEAD). Recipients are masked by the server.",
       {{"limit", "N",
         absl::StrCat("maximum number of emails (default ", kDefaultListLimit, ")")}},
       RunEmails},
      {"retry-email",
       "--message ID",
       "make a failed email due for delivery again",
       "Calls Operations.RetryEmail, which resets the email's attempt count and makes it due\n"
       "now, so that a DEAD email is sent again. ID is the MESSAGE ID that emails prints.",
       {{"message", "ID", "message id of the email to retry"}},
       RunRetryEmail},
  };
  return *commands;
}

}  // namespace accessdelegation::adctl
