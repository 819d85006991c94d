// ad-walkthrough plays the whole delegation flow against a running AccessDelegation server:
// an owner invites a family member by email, the invitee signs up and accepts, the owner
// confirms, and a back end checks, narrows and revokes the resulting access. Each step and
// its result are printed to stdout. The program exits with status 1 and names the step at
// the first unexpected result.
//
//   ad-walkthrough --service_token_file=var/service.token --mail_dir=var/mail

#include <google/protobuf/util/time_util.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "sdk/client.h"
#include "tools/walkthrough/mailbox.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Address of the server, as host:port.");
ABSL_FLAG(std::string, mail_dir, "var/mail",
          "Directory into which the server delivers emails as <message-id>.eml files.");
ABSL_FLAG(std::string, service_token_file, "",
          "File containing the raw service token. Surrounding whitespace is ignored.");
ABSL_FLAG(std::string, service_token, "",
          "Raw service token. Prefer --service_token_file, because other local users can "
          "read command lines.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "Maximum time to wait for each email, such as 10s or 500ms.");
ABSL_FLAG(std::string, access_level, "ACCESS_LEVEL_FULL",
          "Access level of the invitation: ACCESS_LEVEL_FULL or "
          "ACCESS_LEVEL_APPOINTMENTS_ONLY (the ACCESS_LEVEL_ prefix may be left out).");

namespace accessdelegation::walkthrough {
namespace {

namespace v1 = ::accessdelegation::v1;

constexpr char kPhoneNumber[] = "+14155550123";

// Settings are the checked command-line flags.
struct Settings {
  std::string target;
  std::string mail_dir;
  std::string service_token;
  absl::Duration timeout;
  v1::AccessLevel access_level = v1::ACCESS_LEVEL_UNSPECIFIED;
};

// Person is one of the two people in the flow, filled in as the steps run.
struct Person {
  std::string email;
  std::string password;
  std::string first_name;
  std::string last_name;
  std::string account_id;
  std::string session_token;
};

// Returns `length` random lowercase hex digits.
std::string RandomHex(int length) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device random;
  std::string hex;
  for (int i = 0; i < length; ++i) {
    hex.push_back(kDigits[random() % 16]);
  }
  return hex;
}

// Returns a person with the email "<role>+<run_id>@example.org", unique to this run, and a
// random password.
Person NewPerson(absl::string_view role, absl::string_view run_id, std::string first_name,
                 std::string last_name) {
  Person person;
  person.email = absl::StrCat(role, "+", run_id, "@example.org");
  person.password = absl::StrCat("Walkthrough-", RandomHex(16));
  person.first_name = std::move(first_name);
  person.last_name = std::move(last_name);
  return person;
}

absl::StatusOr<std::string> ReadServiceTokenFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("failed to open --service_token_file=", path, ": ", std::strerror(errno)));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  std::string token(absl::StripAsciiWhitespace(contents.str()));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--service_token_file=", path, " is empty. Write the raw token into it."));
  }
  return token;
}

absl::StatusOr<v1::AccessLevel> ParseAccessLevel(const std::string& name) {
  std::string full_name = name;
  if (!absl::StartsWith(full_name, "ACCESS_LEVEL_")) {
    full_name = absl::StrCat("ACCESS_LEVEL_", full_name);
  }
  v1::AccessLevel level = v1::ACCESS_LEVEL_UNSPECIFIED;
  if (!v1::AccessLevel_Parse(full_name, &level) || level == v1::ACCESS_LEVEL_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --access_level=", name,
                     ". Use ACCESS_LEVEL_FULL or ACCESS_LEVEL_APPOINTMENTS_ONLY."));
  }
  return level;
}

absl::StatusOr<Settings> LoadSettings() {
  Settings settings;
  settings.target = absl::GetFlag(FLAGS_target);
  settings.mail_dir = absl::GetFlag(FLAGS_mail_dir);
  settings.timeout = absl::GetFlag(FLAGS_timeout);

  const std::string token_file = absl::GetFlag(FLAGS_service_token_file);
  const std::string token = absl::GetFlag(FLAGS_service_token);
  if (!token_file.empty() && !token.empty()) {
    return absl::InvalidArgumentError("set only one of --service_token_file and --service_token");
  }
  if (token_file.empty() && token.empty()) {
    return absl::InvalidArgumentError(
        "missing service token: set --service_token_file or --service_token");
  }
  if (!token.empty()) {
    settings.service_token = token;
  } else {
    absl::StatusOr<std::string> file_token = ReadServiceTokenFile(token_file);
    if (!file_token.ok()) {
      return file_token.status();
    }
    settings.service_token = *std::move(file_token);
  }

  absl::StatusOr<v1::AccessLevel> level = ParseAccessLevel(absl::GetFlag(FLAGS_access_level));
  if (!level.ok()) {
    return level.status();
  }
  settings.access_level = *level;
  return settings;
}

// Returns whether a grant at `level` includes `permission`, as resources.proto defines the
// levels. ACCESS_LEVEL_UNSPECIFIED stands for "no grant" and includes nothing.
bool LevelIncludes(v1::AccessLevel level, v1::Permission permission) {
  switch (level) {
    case v1::ACCESS_LEVEL_FULL:
      return true;
    case v1::ACCESS_LEVEL_APPOINTMENTS_ONLY:
      return permission == v1::PERMISSION_VIEW_APPOINTMENTS ||
             permission == v1::PERMISSION_SCHEDULE_APPOINTMENTS;
    default:
      return false;
  }
}

// Returns the CheckAccess reason expected for `permission` when the delegate has a grant
// at `level`, or no grant when `level` is ACCESS_LEVEL_UNSPECIFIED.
v1::CheckAccessResponse::Reason ExpectedReason(v1::AccessLevel level, v1::Permission permission) {
  if (level == v1::ACCESS_LEVEL_UNSPECIFIED) {
    return v1::CheckAccessResponse::REASON_NO_GRANT;
  }
  return LevelIncludes(level, permission)
             ? v1::CheckAccessResponse::REASON_GRANT
             : v1::CheckAccessResponse::REASON_LEVEL_EXCLUDES_PERMISSION;
}

std::vector<v1::Permission> AllPermissions() {
  std::vector<v1::Permission> permissions;
  const google::protobuf::EnumDescriptor* descriptor = v1::Permission_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const int number = descriptor->value(i)->number();
    if (number != v1::PERMISSION_UNSPECIFIED) {
      permissions.push_back(static_cast<v1::Permission>(number));
    }
  }
  return permissions;
}

// Returns OK when `condition` is true, else an error that states what was expected.
absl::Status Expect(bool condition, absl::string_view expectation) {
  if (condition) {
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("unexpected result: expected ", expectation));
}

// Returns `status` with `rpc` in front of its message, keeping its code.
absl::Status RpcError(absl::string_view rpc, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(rpc, " failed: ", status.message()));
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  return google::protobuf::util::TimeUtil::ToString(time);
}

// Walkthrough runs the steps in order. Each step reads what earlier steps stored.
class Walkthrough {
 public:
  explicit Walkthrough(Settings settings)
      : settings_(std::move(settings)), client_(sdk::Client::Connect(settings_.target)) {
    const std::string run_id = RandomHex(12);
    owner_ = NewPerson("owner", run_id, "Olivia", "Owner");
    invitee_ = NewPerson("invitee", run_id, "Ian", "Invitee");
  }

  // Runs every step and returns 0, or prints the failing step to stderr and returns 1.
  int Run();

 private:
  using StepFunction = absl::Status (Walkthrough::*)();
  struct Step {
    char letter;
    const char* title;
    StepFunction function;
  };

  absl::Status CreateOwnerAccount();
  absl::Status SignInOwner();
  absl::Status CreateInvitation();
  absl::Status ReceiveInvitationEmail();
  absl::Status LookupInvitation();
  absl::Status SignUpInvitee();
  absl::Status AcceptInvitation();
  absl::Status ReceiveConfirmationRequest();
  absl::Status ConfirmInvitation();
  absl::Status ListGrants();
  absl::Status CheckGrantedAccess();
  absl::Status NarrowGrant();
  absl::Status RevokeGrant();

  absl::Status SignIn(Person& person);
  absl::Status CheckEveryPermission(v1::AccessLevel level);

  const Settings settings_;
  const std::unique_ptr<sdk::Client> client_;
  Person owner_;
  Person invitee_;
  std::string invitation_id_;
  std::string invitation_token_;
  std::string grant_id_;
  std::set<std::string> owner_emails_before_accept_;
};

int Walkthrough::Run() {
  const Step steps[] = {
      {'a', "Create the owner's account with the service token", &Walkthrough::CreateOwnerAccount},
      {'b', "Sign in as the owner", &Walkthrough::SignInOwner},
      {'c', "Invite the family member", &Walkthrough::CreateInvitation},
      {'d', "Find the invitation link in the invitee's email",
       &Walkthrough::ReceiveInvitationEmail},
      {'e', "Look up the invitation behind the link", &Walkthrough::LookupInvitation},
      {'f', "Sign up as the invitee with the invitation token", &Walkthrough::SignUpInvitee},
      {'g', "Sign in as the invitee and accept", &Walkthrough::AcceptInvitation},
      {'h', "Find the owner's email asking to confirm", &Walkthrough::ReceiveConfirmationRequest},
      {'i', "List the owner's invitations and confirm", &Walkthrough::ConfirmInvitation},
      {'j', "List the grants on the owner's record", &Walkthrough::ListGrants},
      {'k', "Check every permission of the delegate", &Walkthrough::CheckGrantedAccess},
      {'l', "Narrow the grant to appointments only and check again", &Walkthrough::NarrowGrant},
      {'m', "Revoke the grant and check again", &Walkthrough::RevokeGrant},
  };

  std::cout << "Walkthrough against " << settings_.target << ", emails in " << settings_.mail_dir
            << "\n";
  for (const Step& step : steps) {
    std::cout << "\nStep (" << step.letter << "): " << step.title << "\n";
    const absl::Status status = (this->*step.function)();
    if (!status.ok()) {
      std::cerr << "ad-walkthrough: step (" << step.letter << ") \"" << step.title
                << "\" failed: " << status << "\n";
      return 1;
    }
  }
  std::cout << "\nEvery step passed.\n";
  return 0;
}

absl::Status Walkthrough::CreateOwnerAccount() {
  v1::CreateAccountRequest request;
  request.set_email(owner_.email);
  request.set_password(owner_.password);
  request.set_first_name(owner_.first_name);
  request.set_last_name(owner_.last_name);
  request.set_phone_number(kPhoneNumber);

  client_->set_bearer_token(settings_.service_token);
  absl::StatusOr<v1::CreateAccountResponse> response = client_->CreateAccount(request);
  if (!response.ok()) {
    return RpcError("CreateAccount", response.status());
  }

  owner_.account_id = response->account().account_id();
  std::cout << "  created " << owner_.email << " as account " << owner_.account_id << "\n";
  if (absl::Status status = Expect(!owner_.account_id.empty(), "a non-empty account_id");
      !status.ok()) {
    return status;
  }
  return Expect(
      absl::EqualsIgnoreCase(response->account().email(), owner_.email),
      absl::StrCat("account email ", owner_.email, ", got ", response->account().email()));
}

absl::Status Walkthrough::SignIn(Person& person) {
  v1::SignInRequest request;
  request.set_email(person.email);
  request.set_password(person.password);

  client_->set_bearer_token("");
  absl::StatusOr<v1::SignInResponse> response = client_->SignIn(request);
  if (!response.ok()) {
    return RpcError("SignIn", response.status());
  }

  person.session_token = response->session_token();
  std::cout << "  signed in as " << person.email << ", session expires at "
            << FormatTime(response->expire_time()) << "\n";
  if (absl::Status status = Expect(!person.session_token.empty(), "a non-empty session_token");
      !status.ok()) {
    return status;
  }
  return Expect(
      response->account().account_id() == person.account_id,
      absl::StrCat("account ", person.account_id, ", got ", response->account().account_id()));
}

absl::Status Walkthrough::SignInOwner() { return SignIn(owner_); }

absl::Status Walkthrough::CreateInvitation() {
  v1::CreateInvitationRequest request;
  request.set_first_name(invitee_.first_name);
  request.set_last_name(invitee_.last_name);
  request.set_email(invitee_.email);
  request.set_access_level(settings_.access_level);

  client_->set_bearer_token(owner_.session_token);
  absl::StatusOr<v1::CreateInvitationResponse> response = client_->CreateInvitation(request);
  if (!response.ok()) {
    return RpcError("CreateInvitation", response.status());
  }

  const v1::Invitation& invitation = response->invitation();
  invitation_id_ = invitation.invitation_id();
  std::cout << "  invited " << invitee_.email << " at "
            << v1::AccessLevel_Name(invitation.access_level()) << ": invitation " << invitation_id_
            << " is " << v1::InvitationState_Name(invitation.state()) << ", link expires at "
            << FormatTime(invitation.expire_time()) << "\n";
  if (absl::Status status = Expect(invitation.state() == v1::INVITATION_STATE_PENDING,
                                   "state INVITATION_STATE_PENDING");
      !status.ok()) {
    return status;
  }
  return Expect(invitation.access_level() == settings_.access_level,
                absl::StrCat("access level ", v1::AccessLevel_Name(settings_.access_level)));
}

absl::Status Walkthrough::ReceiveInvitationEmail() {
  absl::StatusOr<std::string> token =
      WaitForInvitationToken(settings_.mail_dir, invitee_.email, settings_.timeout);
  if (!token.ok()) {
    return token.status();
  }

  invitation_token_ = *std::move(token);
  std::cout << "  found an invitation link addressed to " << invitee_.email << " (token of "
            << invitation_token_.size() << " characters)\n";
  return absl::OkStatus();
}

absl::Status Walkthrough::LookupInvitation() {
  v1::LookupInvitationRequest request;
  request.set_invitation_token(invitation_token_);

  client_->set_bearer_token("");
  absl::StatusOr<v1::LookupInvitationResponse> response = client_->LookupInvitation(request);
  if (!response.ok()) {
    return RpcError("LookupInvitation", response.status());
  }

  std::cout << "  owner: " << response->owner_first_name() << " " << response->owner_last_name()
            << "\n  access level: " << v1::AccessLevel_Name(response->access_level())
            << "\n  account_exists: " << (response->account_exists() ? "true" : "false") << "\n";
  const std::vector<absl::Status> checks = {
      Expect(response->invitation_id() == invitation_id_,
             absl::StrCat("invitation ", invitation_id_, ", got ", response->invitation_id())),
      Expect(response->owner_first_name() == owner_.first_name &&
                 response->owner_last_name() == owner_.last_name,
             absl::StrCat("owner ", owner_.first_name, " ", owner_.last_name)),
      Expect(absl::EqualsIgnoreCase(response->email(), invitee_.email),
             absl::StrCat("email ", invitee_.email, ", got ", response->email())),
      Expect(response->access_level() == settings_.access_level,
             absl::StrCat("access level ", v1::AccessLevel_Name(settings_.access_level))),
      Expect(!response->account_exists(), "account_exists false for a new email"),
  };
  for (const absl::Status& check : checks) {
    if (!check.ok()) {
      return check;
    }
  }
  return absl::OkStatus();
}

absl::Status Walkthrough::SignUpInvitee() {
  v1::SignUpRequest request;
  request.set_invitation_token(invitation_token_);
  request.set_password(invitee_.password);
  request.set_first_name(invitee_.first_name);
  request.set_last_name(invitee_.last_name);
  request.set_phone_number(kPhoneNumber);

  client_->set_bearer_token("");
  absl::StatusOr<v1::SignUpResponse> response = client_->SignUp(request);
  if (!response.ok()) {
    return RpcError("SignUp", response.status());
  }

  invitee_.account_id = response->account().account_id();
  std::cout << "  signed up " << response->account().email() << " as account "
            << invitee_.account_id << "\n";
  return Expect(
      absl::EqualsIgnoreCase(response->account().email(), invitee_.email),
      absl::StrCat("account email ", invitee_.email, ", got ", response->account().email()));
}

absl::Status Walkthrough::AcceptInvitation() {
  // Remember the owner's emails so far, so that step (h) waits for one sent after this
  // acceptance rather than any earlier email to the owner.
  absl::StatusOr<std::vector<Email>> emails = ReadEmails(settings_.mail_dir);
  if (emails.ok()) {
    for (const Email& email : *emails) {
      if (email.IsAddressedTo(owner_.email)) {
        owner_emails_before_accept_.insert(email.path);
      }
    }
  }

  if (absl::Status status = SignIn(invitee_); !status.ok()) {
    return status;
  }
  v1::AcceptInvitationRequest request;
  request.set_invitation_token(invitation_token_);
  client_->set_bearer_token(invitee_.session_token);
  absl::StatusOr<v1::AcceptInvitationResponse> response = client_->AcceptInvitation(request);
  if (!response.ok()) {
    return RpcError("AcceptInvitation", response.status());
  }

  const v1::Invitation& invitation = response->invitation();
  std::cout << "  invitation " << invitation.invitation_id() << " is "
            << v1::InvitationState_Name(invitation.state()) << "\n";
  if (absl::Status status = Expect(invitation.state() == v1::INVITATION_STATE_ACCEPTED,
                                   "state INVITATION_STATE_ACCEPTED");
      !status.ok()) {
    return status;
  }
  return Expect(invitation.invitee_account_id() == invitee_.account_id,
                absl::StrCat("invitee_account_id ", invitee_.account_id, ", got ",
                             invitation.invitee_account_id()));
}

absl::Status Walkthrough::ReceiveConfirmationRequest() {
  absl::StatusOr<Email> email = WaitForEmail(
      settings_.mail_dir, owner_.email, settings_.timeout,
      [this](const Email& e) { return owner_emails_before_accept_.count(e.path) == 0; });
  if (!email.ok()) {
    return email.status();
  }

  std::cout << "  found \"" << email->subject << "\" addressed to " << owner_.email << " in "
            << email->path << "\n";
  return absl::OkStatus();
}

absl::Status Walkthrough::ConfirmInvitation() {
  client_->set_bearer_token(owner_.session_token);
  absl::StatusOr<v1::ListInvitationsResponse> list = client_->ListInvitations();
  if (!list.ok()) {
    return RpcError("ListInvitations", list.status());
  }
  const v1::Invitation* listed = nullptr;
  for (const v1::Invitation& invitation : list->invitations()) {
    std::cout << "  invitation " << invitation.invitation_id() << " for " << invitation.email()
              << ": " << v1::InvitationState_Name(invitation.state()) << "\n";
    if (invitation.invitation_id() == invitation_id_) {
      listed = &invitation;
    }
  }
  if (absl::Status status =
          Expect(listed != nullptr, absl::StrCat("invitation ", invitation_id_, " in the list"));
      !status.ok()) {
    return status;
  }
  if (absl::Status status = Expect(listed->state() == v1::INVITATION_STATE_ACCEPTED,
                                   "the listed invitation in state INVITATION_STATE_ACCEPTED");
      !status.ok()) {
    return status;
  }

  v1::ConfirmInvitationRequest request;
  request.set_invitation_id(invitation_id_);
  absl::StatusOr<v1::ConfirmInvitationResponse> response = client_->ConfirmInvitation(request);
  if (!response.ok()) {
    return RpcError("ConfirmInvitation", response.status());
  }

  grant_id_ = response->grant().grant_id();
  std::cout << "  invitation " << invitation_id_ << " is "
            << v1::InvitationState_Name(response->invitation().state()) << ", grant " << grant_id_
            << " created\n";
  const std::vector<absl::Status> checks = {
      Expect(response->invitation().state() == v1::INVITATION_STATE_CONFIRMED,
             "state INVITATION_STATE_CONFIRMED"),
      Expect(!grant_id_.empty(), "a grant with a non-empty grant_id"),
      Expect(response->grant().delegate_account_id() == invitee_.account_id,
             absl::StrCat("delegate ", invitee_.account_id, ", got ",
                          response->grant().delegate_account_id())),
      Expect(response->grant().access_level() == settings_.access_level,
             absl::StrCat("grant access level ", v1::AccessLevel_Name(settings_.access_level))),
  };
  for (const absl::Status& check : checks) {
    if (!check.ok()) {
      return check;
    }
  }
  return absl::OkStatus();
}

absl::Status Walkthrough::ListGrants() {
  client_->set_bearer_token(owner_.session_token);
  absl::StatusOr<v1::ListGrantsResponse> response = client_->ListGrants();
  if (!response.ok()) {
    return RpcError("ListGrants", response.status());
  }

  const v1::Grant* listed = nullptr;
  for (const v1::Grant& grant : response->grants()) {
    std::cout << "  grant " << grant.grant_id() << ": " << grant.delegate_first_name() << " "
              << grant.delegate_last_name() << " <" << grant.delegate_email() << "> at "
              << v1::AccessLevel_Name(grant.access_level()) << "\n";
    if (grant.grant_id() == grant_id_) {
      listed = &grant;
    }
  }
  if (absl::Status status =
          Expect(listed != nullptr, absl::StrCat("grant ", grant_id_, " in the list"));
      !status.ok()) {
    return status;
  }
  return Expect(listed->delegate_account_id() == invitee_.account_id &&
                    listed->access_level() == settings_.access_level,
                absl::StrCat("the listed grant to name ", invitee_.account_id, " at ",
                             v1::AccessLevel_Name(settings_.access_level)));
}

absl::Status Walkthrough::CheckEveryPermission(v1::AccessLevel level) {
  client_->set_bearer_token(settings_.service_token);
  std::vector<std::string> mismatches;
  for (v1::Permission permission : AllPermissions()) {
    v1::CheckAccessRequest request;
    request.set_account_id(invitee_.account_id);
    request.set_owner_account_id(owner_.account_id);
    request.set_permission(permission);
    absl::StatusOr<v1::CheckAccessResponse> response = client_->CheckAccess(request);
    if (!response.ok()) {
      return RpcError(absl::StrCat("CheckAccess for ", v1::Permission_Name(permission)),
                      response.status());
    }

    std::cout << "  " << v1::Permission_Name(permission) << ": "
              << (response->allowed() ? "allowed" : "denied") << " ("
              << v1::CheckAccessResponse::Reason_Name(response->reason()) << ")\n";
    const bool expected_allowed = LevelIncludes(level, permission);
    const v1::CheckAccessResponse::Reason expected_reason = ExpectedReason(level, permission);
    if (response->allowed() != expected_allowed || response->reason() != expected_reason) {
      mismatches.push_back(absl::StrCat(
          v1::Permission_Name(permission), " ", expected_allowed ? "allowed" : "denied", " (",
          v1::CheckAccessResponse::Reason_Name(expected_reason), ")"));
    }
  }
  return Expect(mismatches.empty(), absl::StrJoin(mismatches, ", "));
}

absl::Status Walkthrough::CheckGrantedAccess() {
  return CheckEveryPermission(settings_.access_level);
}

absl::Status Walkthrough::NarrowGrant() {
  v1::UpdateGrantRequest request;
  request.set_grant_id(grant_id_);
  request.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);

  client_->set_bearer_token(owner_.session_token);
  absl::StatusOr<v1::UpdateGrantResponse> response = client_->UpdateGrant(request);
  if (!response.ok()) {
    return RpcError("UpdateGrant", response.status());
  }

  std::cout << "  grant " << grant_id_ << " is now "
            << v1::AccessLevel_Name(response->grant().access_level()) << "\n";
  if (absl::Status status =
          Expect(response->grant().access_level() == v1::ACCESS_LEVEL_APPOINTMENTS_ONLY,
                 "access level ACCESS_LEVEL_APPOINTMENTS_ONLY");
      !status.ok()) {
    return status;
  }
  return CheckEveryPermission(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
}

absl::Status Walkthrough::RevokeGrant() {
  v1::RevokeGrantRequest request;
  request.set_grant_id(grant_id_);

  client_->set_bearer_token(owner_.session_token);
  absl::StatusOr<v1::RevokeGrantResponse> response = client_->RevokeGrant(request);
  if (!response.ok()) {
    return RpcError("RevokeGrant", response.status());
  }

  std::cout << "  grant " << grant_id_ << " revoked\n";
  return CheckEveryPermission(v1::ACCESS_LEVEL_UNSPECIFIED);
}

}  // namespace
}  // namespace accessdelegation::walkthrough

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Plays the whole delegation flow against a running AccessDelegation server and exits "
      "with status 1 at the first unexpected result.\n"
      "Usage: ad-walkthrough --service_token_file=FILE [--target=HOST:PORT] "
      "[--mail_dir=DIR] [--timeout=10s] [--access_level=ACCESS_LEVEL_FULL]");
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::cerr << "ad-walkthrough: unexpected argument " << positional[1]
              << ". Every setting is a --flag, see --help.\n";
    return 1;
  }

  absl::StatusOr<accessdelegation::walkthrough::Settings> settings =
      accessdelegation::walkthrough::LoadSettings();
  if (!settings.ok()) {
    std::cerr << "ad-walkthrough: " << settings.status().message() << "\n";
    return 1;
  }
  accessdelegation::walkthrough::Walkthrough walkthrough(*std::move(settings));
  return walkthrough.Run();
}
