#include "server/accounts_service.h"

#include <spdlog/spdlog.h>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "server/actor.h"
#include "server/call_interceptor.h"
#include "server/logging.h"
#include "server/rpc_support.h"
#include "server/secrets.h"
#include "server/validation.h"

namespace accessdelegation::server {
namespace {

constexpr char kDeadInvitationMessage[] =
    "invitation_token is not valid: the link is unknown, already used or expired; ask the "
    "account holder for a new invitation";
constexpr char kBadCredentialsMessage[] = "email or password is incorrect";

}  // namespace

AccountsService::AccountsService(storage::Store* store, GrantView* grant_view,
                                 PasswordHasher* password_hasher,
                                 const Authenticator* authenticator, Options options,
                                 PeerThrottle* sign_in_peers, PeerThrottle* token_peers)
    : store_(store),
      grant_view_(grant_view),
      password_hasher_(password_hasher),
      authenticator_(authenticator),
      options_(std::move(options)),
      sign_in_peers_(sign_in_peers),
      token_peers_(token_peers) {
  absl::StatusOr<std::string> decoy = HashPassword(NewToken());
  if (decoy.ok()) decoy_password_hash_ = *std::move(decoy);
}

absl::StatusOr<AccountsService::Profile> AccountsService::CheckProfile(
    const std::string& password, const std::string& first_name, const std::string& last_name,
    const std::string& phone_number) const {
  Profile profile;
  absl::StatusOr<std::string> first = ValidateName("first_name", first_name);
  if (!first.ok()) return first.status();
  profile.first_name = *std::move(first);
  absl::StatusOr<std::string> last = ValidateName("last_name", last_name);
  if (!last.ok()) return last.status();
  profile.last_name = *std::move(last);
  absl::StatusOr<std::string> phone =
      ValidatePhoneNumber("phone_number", phone_number, options_.default_phone_region);
  if (!phone.ok()) return phone.status();
  profile.phone_e164 = *std::move(phone);
  if (absl::Status status = ValidateNewPassword("password", password); !status.ok()) {
    return status;
  }
  return profile;
}

grpc::Status AccountsService::CreateAccount(grpc::ServerContext* context,
                                            const v1::CreateAccountRequest* request,
                                            v1::CreateAccountResponse* response) {
  return CompleteRpc(*context, "CreateAccount", DoCreateAccount(*context, *request, *response));
}

absl::Status AccountsService::DoCreateAccount(const grpc::ServerContext& context,
                                              const v1::CreateAccountRequest& request,
                                              v1::CreateAccountResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireService(context);
  if (!caller.ok()) return caller.status();

  absl::StatusOr<std::string> email = ValidateEmail("email", request.email());
  if (!email.ok()) return email.status();
  absl::StatusOr<Profile> profile = CheckProfile(request.password(), request.first_name(),
                                                 request.last_name(), request.phone_number());
  if (!profile.ok()) return profile.status();
  absl::StatusOr<std::string> password_hash = password_hasher_->Hash(request.password());
  if (!password_hash.ok()) return password_hash.status();

  storage::NewAccount account = profile->ToNewAccount(*std::move(password_hash));
  account.email = *email;
  absl::StatusOr<storage::AccountRecord> created = store_->CreateAccount(ActorFor(context, *caller), account);
  if (!created.ok()) {
    return RewordStatus(created.status(), absl::StatusCode::kAlreadyExists,
                        "email: an account with this email already exists");
  }
  AnnotateCall(context, "account_id", created->id);
  ToProto(*created, response.mutable_account());
  return absl::OkStatus();
}

grpc::Status AccountsService::SignUp(grpc::ServerContext* context,
                                     const v1::SignUpRequest* request,
                                     v1::SignUpResponse* response) {
  return CompleteRpc(*context, "SignUp", DoSignUp(*context, *request, *response));
}

absl::Status AccountsService::DoSignUp(const grpc::ServerContext& context,
                                       const v1::SignUpRequest& request,
                                       v1::SignUpResponse& response) {
  if (absl::Status status = ValidateTokenField("invitation_token", request.invitation_token());
      !status.ok()) {
    return status;
  }
  absl::StatusOr<Profile> profile = CheckProfile(request.password(), request.first_name(),
                                                 request.last_name(), request.phone_number());
  if (!profile.ok()) return profile.status();

  // Look the token up before hashing the password, so that guessing tokens costs the
  // server no hashing work.
  const std::string peer = PeerAddressOf(context);
  if (absl::Status status = token_peers_->Check(peer, absl::Now()); !status.ok()) return status;
  const std::string token_hash = HashToken(request.invitation_token());
  absl::StatusOr<storage::InvitationLookup> lookup =
      store_->LookupInvitation(token_hash, absl::Now());
  if (absl::IsNotFound(lookup.status())) {
    RecordPeerFailure(context, *token_peers_, peer);
    return absl::NotFoundError(kDeadInvitationMessage);
  }
  if (!lookup.ok()) return lookup.status();
  absl::StatusOr<std::string> password_hash = password_hasher_->Hash(request.password());
  if (!password_hash.ok()) return password_hash.status();

  const storage::NewAccount account = profile->ToNewAccount(*std::move(password_hash));
  absl::StatusOr<storage::AccountRecord> created =
      store_->SignUpWithInvitation(AnonymousActorFor(context, ""), token_hash, account,
                                   absl::Now());
  if (!created.ok()) {
    absl::Status status =
        RewordStatus(created.status(), absl::StatusCode::kNotFound, kDeadInvitationMessage);
    return RewordStatus(status, absl::StatusCode::kAlreadyExists,
                        "an account with the invited email already exists; sign in and "
                        "accept the invitation instead");
  }
  AnnotateCall(context, "account_id", created->id);
  AnnotateCall(context, "invitation_id", lookup->invitation.id);
  ToProto(*created, response.mutable_account());
  return absl::OkStatus();
}

grpc::Status AccountsService::SignIn(grpc::ServerContext* context,
                                     const v1::SignInRequest* request,
                                     v1::SignInResponse* response) {
  return CompleteRpc(*context, "SignIn", DoSignIn(*context, *request, *response));
}

absl::Status AccountsService::DoSignIn(const grpc::ServerContext& context,
                                       const v1::SignInRequest& request,
                                       v1::SignInResponse& response) {
  // The email is trimmed and lower-cased as CreateAccount and CreateInvitation store it.
  const std::string email = NormalizeEmail(request.email());
  if (email.empty()) return absl::InvalidArgumentError("email is required");
  if (request.password().empty()) return absl::InvalidArgumentError("password is required");
  if (email.size() > kMaxEmailLength || request.password().size() > kMaxPasswordBytes) {
    return absl::UnauthenticatedError(kBadCredentialsMessage);
  }

  const std::string peer = PeerAddressOf(context);
  const absl::Time now = absl::Now();
  if (absl::Status status = sign_in_peers_->Check(peer, now); !status.ok()) {
    AnnotateCall(context, "outcome", "peer throttled");
    return status;
  }
  absl::StatusOr<storage::SignInAttempt> attempt =
      store_->BeginSignIn(email, now, options_.sign_in_policy);
  if (absl::IsResourceExhausted(attempt.status())) {
    AnnotateCall(context, "outcome", "email throttled");
    return attempt.status();
  }
  if (!attempt.ok()) return attempt.status();

  // An unknown email is checked against the decoy hash, so that it costs the same time
  // and returns the same status as a wrong password.
  const std::optional<storage::Credentials>& credentials = attempt->credentials;
  absl::StatusOr<bool> verified = password_hasher_->Verify(
      request.password(),
      credentials.has_value() ? credentials->password_hash : decoy_password_hash_);
  if (!verified.ok()) return verified.status();
  if (!credentials.has_value() || !*verified) {
    return RejectSignIn(context, peer, credentials.has_value() ? credentials->account_id : "",
                        *attempt);
  }
  if (absl::Status status = store_->ClearSignInFailures(email); !status.ok()) return status;

  const std::string token = NewToken();
  const absl::Time expire_time = absl::Now() + options_.session_ttl;
  if (absl::Status status =
          store_->CreateSession(HashToken(token), credentials->account_id, expire_time);
      !status.ok()) {
    return status;
  }
  absl::StatusOr<storage::AccountRecord> account = store_->GetAccount(credentials->account_id);
  if (!account.ok()) return account.status();
  RecordSignIn(context, credentials->account_id, "account.signed_in");

  response.set_session_token(token);
  ToProto(expire_time, response.mutable_expire_time());
  ToProto(*account, response.mutable_account());
  return absl::OkStatus();
}

grpc::Status AccountsService::SignOut(grpc::ServerContext* context,
                                      const v1::SignOutRequest* request,
                                      v1::SignOutResponse* response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(*context);
  if (!caller.ok()) return CompleteRpc(*context, "SignOut", caller.status());
  return CompleteRpc(*context, "SignOut", store_->EndSession(caller->token_hash));
}

grpc::Status AccountsService::GetAccount(grpc::ServerContext* context,
                                         const v1::GetAccountRequest* request,
                                         v1::GetAccountResponse* response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(*context);
  if (!caller.ok()) return CompleteRpc(*context, "GetAccount", caller.status());
  absl::StatusOr<storage::AccountRecord> account = store_->GetAccount(caller->account_id);
  if (account.ok()) ToProto(*account, response->mutable_account());
  return CompleteRpc(*context, "GetAccount", account.status());
}

absl::Status AccountsService::RejectSignIn(const grpc::ServerContext& context,
                                           const std::string& peer, const std::string& account_id,
                                           const storage::SignInAttempt& attempt) {
  AnnotateCall(context, "outcome", account_id.empty() ? "unknown email" : "wrong password");
  if (!account_id.empty()) {
    AnnotateCall(context, "account_id", account_id);
    RecordSignIn(context, account_id, "account.sign_in_failed");
  }
  if (attempt.locked) {
    std::vector<LogField> fields = {{"request_id", RequestIdOf(context)},
                                    {"peer", peer},
                                    {"failures", std::to_string(attempt.failure_count)}};
    if (!account_id.empty()) fields.push_back({"account_id", account_id});
    LogWarning("sign-in lockout started for an email", fields);
  }
  RecordPeerFailure(context, *sign_in_peers_, peer);
  return absl::UnauthenticatedError(kBadCredentialsMessage);
}

void AccountsService::RecordSignIn(const grpc::ServerContext& context,
                                   const std::string& account_id, const std::string& action) {
  // The sign-in outcome stands without its audit row, so a failure here is only logged.
  absl::Status status =
      store_->RecordAccountEvent(AnonymousActorFor(context, account_id), account_id, action);
  if (!status.ok()) {
    spdlog::error("request {}: writing the {} audit event of account {} failed: {}",
                  RequestIdOf(context), action, account_id, status.ToString());
  }
}

grpc::Status AccountsService::ChangePassword(grpc::ServerContext* context,
                                             const v1::ChangePasswordRequest* request,
                                             v1::ChangePasswordResponse* response) {
  return CompleteRpc(*context, "ChangePassword",
                     DoChangePassword(*context, *request, *response));
}

absl::Status AccountsService::DoChangePassword(const grpc::ServerContext& context,
                                               const v1::ChangePasswordRequest& request,
                                               v1::ChangePasswordResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();
  AnnotateCall(context, "account_id", caller->account_id);
  if (request.current_password().empty()) {
    return absl::InvalidArgumentError("current_password is required");
  }
  if (absl::Status status = ValidateNewPassword("new_password", request.new_password());
      !status.ok()) {
    return status;
  }

  // Wrong current passwords count toward the sign-in throttle of the account's email, so
  // that a stolen session token does not allow unlimited password guesses.
  absl::StatusOr<storage::AccountRecord> account = store_->GetAccount(caller->account_id);
  if (!account.ok()) return account.status();
  const std::string email = NormalizeEmail(account->email);
  absl::StatusOr<storage::SignInAttempt> attempt =
      store_->BeginSignIn(email, absl::Now(), options_.sign_in_policy);
  if (absl::IsResourceExhausted(attempt.status())) {
    AnnotateCall(context, "outcome", "email throttled");
    return attempt.status();
  }
  if (!attempt.ok()) return attempt.status();

  absl::StatusOr<storage::Credentials> credentials =
      store_->FindCredentialsById(caller->account_id);
  if (!credentials.ok()) return credentials.status();
  absl::StatusOr<bool> matches = false;
  if (request.current_password().size() <= kMaxPasswordBytes) {
    matches = password_hasher_->Verify(request.current_password(), credentials->password_hash);
    if (!matches.ok()) return matches.status();
  }
  if (!*matches) {
    AnnotateCall(context, "outcome", "wrong current password");
    if (attempt->locked) {
      LogWarning("sign-in lockout started for an email after wrong current passwords",
                 {{"request_id", RequestIdOf(context)},
                  {"account_id", caller->account_id},
                  {"failures", std::to_string(attempt->failure_count)}});
    }
    return absl::PermissionDeniedError(
        "current_password is incorrect; send the password the account signs in with");
  }
  if (absl::Status status = store_->ClearSignInFailures(email); !status.ok()) return status;

  absl::StatusOr<std::string> password_hash = password_hasher_->Hash(request.new_password());
  if (!password_hash.ok()) return password_hash.status();

  absl::StatusOr<int> ended = store_->ChangePassword(
      ActorFor(context, *caller), caller->account_id, *password_hash, caller->token_hash);
  if (!ended.ok()) return ended.status();
  response.set_ended_session_count(*ended);
  return absl::OkStatus();
}

grpc::Status AccountsService::DeleteAccount(grpc::ServerContext* context,
                                            const v1::DeleteAccountRequest* request,
                                            v1::DeleteAccountResponse* response) {
  return CompleteRpc(*context, "DeleteAccount", DoDeleteAccount(*context, *request, *response));
}

absl::Status AccountsService::DoDeleteAccount(const grpc::ServerContext& context,
                                              const v1::DeleteAccountRequest& request,
                                              v1::DeleteAccountResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (absl::IsPermissionDenied(caller.status())) caller = authenticator_->RequireService(context);
  if (!caller.ok()) return caller.status();

  std::string account_id;
  if (caller->kind == Caller::Kind::kSession) {
    account_id = caller->account_id;
    if (!request.account_id().empty() &&
        absl::AsciiStrToLower(request.account_id()) != account_id) {
      return absl::PermissionDeniedError(
          "account_id: a session may delete only its own account; leave it empty");
    }
  } else {
    if (request.account_id().empty()) {
      return absl::InvalidArgumentError("account_id is required with a service token");
    }
    if (absl::Status status = ValidateUuid("account_id", request.account_id()); !status.ok()) {
      return status;
    }
    account_id = absl::AsciiStrToLower(request.account_id());
  }
  AnnotateCall(context, "account_id", account_id);

  absl::StatusOr<storage::AccountDeletion> deletion =
      store_->DeleteAccount(ActorFor(context, *caller), account_id);
  if (!deletion.ok()) {
    return RewordStatus(deletion.status(), absl::StatusCode::kNotFound,
                        "account_id: no live account has this id");
  }
  response.set_revoked_grant_count(deletion->revoked_grants);
  response.set_canceled_invitation_count(deletion->canceled_invitations);

  absl::StatusOr<uint64_t> position = store_->CurrentWalPosition();
  if (!position.ok()) {
    // The deletion is committed, so the call succeeds, without a token.
    spdlog::warn("request {}: reading the WAL position after deleting account {} failed: {}",
                 RequestIdOf(context), account_id, position.status().ToString());
    grant_view_->InvalidateAccountWithGrants(account_id, std::nullopt);
    return absl::OkStatus();
  }
  grant_view_->InvalidateAccountWithGrants(account_id, *position);
  response.set_consistency_token(RenderConsistencyToken(*position));
  return absl::OkStatus();
}

}  // namespace accessdelegation::server
