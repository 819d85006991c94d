#include "server/access_delegation_service.h"

#include <spdlog/spdlog.h>

#include <functional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/actor.h"
#include "server/call_interceptor.h"
#include "server/emails.h"
#include "server/logging.h"
#include "server/permissions.h"
#include "server/rpc_support.h"
#include "server/validation.h"
#include "storage/retry_delay.h"

namespace accessdelegation::server {
namespace {

// Threads for the checks that miss the grant view. Each uses at most one database
// connection at a time, and checks that wait for a consistency token use none, so twice
// the default pool of 8 connections keeps the pool busy.
constexpr int kCheckThreads = 16;
// Checks that may wait for one of those threads before CheckAccess returns
// RESOURCE_EXHAUSTED: about two seconds' worth at the 2,000 checks per second that the
// database path reached in benchmarks (docs/scaling.md).
constexpr size_t kMaxQueuedChecks = 4096;
// The retry delay that a check rejected by a full queue carries: the time the queue takes
// to drain.
constexpr absl::Duration kFullCheckQueueRetryDelay = absl::Seconds(2);

constexpr char kDeadInvitationMessage[] =
    "invitation_token is not valid: the link is unknown, already used or expired; ask the "
    "account holder for a new invitation";
constexpr char kOtherEmailMessage[] =
    "this invitation was sent to a different email address; sign in with the invited address "
    "to accept it";
constexpr char kPasscodeLockedMessage[] =
    "passcode is incorrect and that was the last try, so the invitation is now canceled; ask "
    "the account holder for a new invitation";
constexpr char kUnknownInvitationMessage[] = "invitation_id: no invitation with this id";
constexpr char kUnknownGrantMessage[] = "grant_id: no grant with this id";
constexpr char kNotAwaitingDecisionMessage[] =
    "the invitation is not waiting for your decision: only an ACCEPTED invitation can be "
    "confirmed or denied";
constexpr char kStaleInvitationEtagMessage[] =
    "etag does not match: the invitation changed since it was read; read it again and retry "
    "with its current etag";
constexpr char kStaleGrantEtagMessage[] =
    "etag does not match: the grant changed since it was read; read it again and retry with "
    "its current etag";
constexpr size_t kMaxRequestIdLength = 128;
// Wrong passcodes that cancel an invitation.
constexpr int kMaxPasscodeFailures = 3;

// Maps the store's outcomes of a confirm or deny to API messages.
absl::Status RewordDecisionStatus(const absl::Status& status) {
  if (status.message() == storage::kGrantEndPassedMessage) return status;
  absl::Status reworded =
      RewordStatus(status, absl::StatusCode::kNotFound, kUnknownInvitationMessage);
  reworded = RewordStatus(reworded, absl::StatusCode::kAborted, kStaleInvitationEtagMessage);
  return RewordStatus(reworded, absl::StatusCode::kFailedPrecondition,
                      kNotAwaitingDecisionMessage);
}

// Maps the store's outcomes of an owner's change to an invitation, other than a decision.
absl::Status RewordInvitationChangeStatus(const absl::Status& status,
                                          absl::string_view precondition_message) {
  absl::Status reworded =
      RewordStatus(status, absl::StatusCode::kNotFound, kUnknownInvitationMessage);
  reworded = RewordStatus(reworded, absl::StatusCode::kAborted, kStaleInvitationEtagMessage);
  return RewordStatus(reworded, absl::StatusCode::kFailedPrecondition, precondition_message);
}

absl::Status RewordGrantChangeStatus(const absl::Status& status) {
  absl::Status reworded = RewordStatus(status, absl::StatusCode::kNotFound, kUnknownGrantMessage);
  return RewordStatus(reworded, absl::StatusCode::kAborted, kStaleGrantEtagMessage);
}

// Checks an optional request_id: empty, or 1 to kMaxRequestIdLength printable ASCII
// characters.
absl::Status ValidateRequestId(const std::string& request_id) {
  if (request_id.size() > kMaxRequestIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("request_id is ", request_id.size(),
                                                   " characters long; the maximum is ",
                                                   kMaxRequestIdLength));
  }
  for (const char c : request_id) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "request_id must be printable ASCII, such as a UUID; it contains a control or "
          "non-ASCII character");
    }
  }
  return absl::OkStatus();
}

// Returns the identity under which a caller's request ids are kept apart from others'.
std::string IdempotencyScope(const Caller& caller) {
  if (caller.kind == Caller::Kind::kService) return absl::StrCat("service:", caller.service_name);
  return absl::StrCat("account:", caller.account_id);
}

// Returns the idempotency key of `request` sent to `method` by `scope`. The fingerprint is
// the SHA-256 of the serialized request, request_id included, which is the same for every
// retry of the request.
template <typename Request>
storage::IdempotencyKey IdempotencyFor(const std::string& scope, const char* method,
                                       const Request& request) {
  storage::IdempotencyKey key;
  key.caller = scope;
  key.method = method;
  key.request_id = request.request_id();
  if (!key.request_id.empty()) key.fingerprint = HashToken(request.SerializeAsString());
  return key;
}

std::string RenderEtag(int64_t version) { return absl::StrCat("v", version); }

// Returns the version an etag names; nullopt for an empty etag.
absl::StatusOr<storage::ExpectedVersion> ParseEtag(const std::string& etag) {
  if (etag.empty()) return storage::ExpectedVersion();
  absl::string_view digits = etag;
  int64_t version = 0;
  if (!absl::ConsumePrefix(&digits, "v") || !absl::SimpleAtoi(digits, &version) || version < 1) {
    return absl::InvalidArgumentError(
        "etag is not an etag from this service; pass the etag of the record as last read, or "
        "leave it empty");
  }
  return storage::ExpectedVersion(version);
}

// Returns the time in `timestamp`, which must lie after `now` and within the range of
// google.protobuf.Timestamp.
absl::StatusOr<absl::Time> ReadFutureTime(absl::string_view field,
                                          const google::protobuf::Timestamp& timestamp,
                                          absl::Time now) {
  absl::StatusOr<absl::Time> time = ValidateTimestamp(field, timestamp);
  if (!time.ok()) return time.status();
  if (*time <= now) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " must be in the future; got ",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *time, absl::UTCTimeZone())));
  }
  return time;
}

void FillInvitation(const storage::InvitationRecord& record, v1::Invitation* invitation) {
  ToProto(record, invitation);
  invitation->set_etag(RenderEtag(record.version));
  if (record.grant_expire_time.has_value()) {
    ToProto(*record.grant_expire_time, invitation->mutable_grant_expire_time());
  }
}

void FillGrant(const storage::GrantRecord& record, v1::Grant* grant) {
  ToProto(record, grant);
  grant->set_etag(RenderEtag(record.version));
  if (record.expire_time.has_value()) {
    ToProto(*record.expire_time, grant->mutable_expire_time());
  }
  grant->set_owner_first_name(record.owner_first_name);
  grant->set_owner_last_name(record.owner_last_name);
}

// Lists one page of `account_id`'s grants for ListGrants or ListDelegatedAccess (the
// `list_name`), in the requested state or ACTIVE when it is unset, through `read_page`.
// Page tokens are bound to the list, the account and the state.
absl::Status ListGrantPage(
    const PageTokens& page_tokens, absl::string_view list_name, const std::string& account_id,
    v1::GrantState requested_state, int32_t page_size, const std::string& page_token,
    const std::function<absl::StatusOr<storage::Page<storage::GrantRecord>>(
        v1::GrantState, const storage::PageRequest&)>& read_page,
    google::protobuf::RepeatedPtrField<v1::Grant>* grants, std::string* next_page_token) {
  if (absl::Status status = ValidateStateFilter("state", requested_state); !status.ok()) {
    return status;
  }
  const v1::GrantState state = requested_state == v1::GRANT_STATE_UNSPECIFIED
                                   ? v1::GRANT_STATE_ACTIVE
                                   : requested_state;
  const std::string filter =
      absl::StrCat(list_name, "/", account_id, "/", static_cast<int>(state));
  absl::StatusOr<storage::PageRequest> page =
      ReadPageRequest(page_tokens, filter, page_size, page_token);
  if (!page.ok()) return page.status();

  absl::StatusOr<storage::Page<storage::GrantRecord>> listed = read_page(state, *page);
  if (!listed.ok()) return listed.status();
  for (const storage::GrantRecord& grant : listed->items) FillGrant(grant, grants->Add());
  if (listed->next.has_value()) *next_page_token = page_tokens.Issue(filter, *listed->next);
  return absl::OkStatus();
}

}  // namespace

AccessDelegationService::AccessDelegationService(storage::Store* store, GrantView* grant_view,
                                                 PasswordHasher* password_hasher,
                                                 const Authenticator* authenticator,
                                                 const SecretBox* secret_box, Options options,
                                                 PeerThrottle* token_peers)
    : store_(store),
      grant_view_(grant_view),
      password_hasher_(password_hasher),
      authenticator_(authenticator),
      secret_box_(secret_box),
      page_tokens_(*secret_box),
      options_(std::move(options)),
      token_peers_(token_peers),
      check_queue_(kCheckThreads, kMaxQueuedChecks) {}

absl::StatusOr<AccessDelegationService::OwnerCall> AccessDelegationService::AuthorizeOwner(
    const grpc::ServerContext& context, const std::string& owner_account_id) const {
  OwnerCall call;
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (caller.ok()) {
    if (!owner_account_id.empty() &&
        absl::AsciiStrToLower(owner_account_id) != absl::AsciiStrToLower(caller->account_id)) {
      return absl::PermissionDeniedError(
          "owner_account_id: a signed-in account can manage only its own record; leave it "
          "empty or set it to your own account id");
    }
    call.owner_id = caller->account_id;
  } else if (absl::IsPermissionDenied(caller.status())) {
    // A valid token that is not a session: a service acting on an owner's behalf.
    caller = authenticator_->RequireService(context);
    if (!caller.ok()) return caller.status();
    if (owner_account_id.empty()) {
      return absl::InvalidArgumentError(
          "owner_account_id is required with a service token: set it to the account whose "
          "record the call acts on");
    }
    if (absl::Status status = ValidateUuid("owner_account_id", owner_account_id); !status.ok()) {
      return status;
    }
    absl::StatusOr<storage::AccountRecord> owner = store_->GetAccount(owner_account_id);
    if (absl::IsNotFound(owner.status())) {
      return absl::NotFoundError("owner_account_id: no account with this id");
    }
    if (!owner.ok()) return owner.status();
    call.owner_id = owner->id;
  } else {
    return caller.status();
  }
  call.caller = *std::move(caller);
  call.actor = ActorFor(context, call.caller);
  AnnotateCall(context, "owner_account_id", call.owner_id);
  return call;
}

absl::StatusOr<AccessDelegationService::OwnerChange>
AccessDelegationService::AuthorizeOwnerChange(const grpc::ServerContext& context,
                                              const std::string& owner_account_id,
                                              absl::string_view id_field, const std::string& id,
                                              const std::string& etag,
                                              const std::string& request_id) const {
  absl::StatusOr<OwnerCall> call = AuthorizeOwner(context, owner_account_id);
  if (!call.ok()) return call.status();
  if (absl::Status status = ValidateUuid(id_field, id); !status.ok()) return status;
  absl::StatusOr<storage::ExpectedVersion> expected = ParseEtag(etag);
  if (!expected.ok()) return expected.status();
  if (absl::Status status = ValidateRequestId(request_id); !status.ok()) return status;
  return OwnerChange{*std::move(call), *expected};
}

grpc::Status AccessDelegationService::CreateInvitation(grpc::ServerContext* context,
                                                       const v1::CreateInvitationRequest* request,
                                                       v1::CreateInvitationResponse* response) {
  return CompleteRpc(*context, "CreateInvitation",
                     DoCreateInvitation(*context, *request, *response));
}

absl::Status AccessDelegationService::DoCreateInvitation(
    const grpc::ServerContext& context, const v1::CreateInvitationRequest& request,
    v1::CreateInvitationResponse& response) {
  absl::StatusOr<OwnerCall> call = AuthorizeOwner(context, request.owner_account_id());
  if (!call.ok()) return call.status();

  absl::StatusOr<std::string> first_name = ValidateName("first_name", request.first_name());
  if (!first_name.ok()) return first_name.status();
  absl::StatusOr<std::string> last_name = ValidateName("last_name", request.last_name());
  if (!last_name.ok()) return last_name.status();
  absl::StatusOr<std::string> email = ValidateEmail("email", request.email());
  if (!email.ok()) return email.status();
  if (absl::Status status = ValidateAccessLevel("access_level", request.access_level());
      !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateRequestId(request.request_id()); !status.ok()) return status;
  std::string passcode_hash;
  if (!request.passcode().empty()) {
    if (absl::Status status = ValidatePasscode("passcode", request.passcode()); !status.ok()) {
      return status;
    }
    absl::StatusOr<std::string> hash = password_hasher_->Hash(request.passcode());
    if (!hash.ok()) return hash.status();
    passcode_hash = *std::move(hash);
  }
  const absl::Time now = absl::Now();
  std::optional<absl::Time> grant_expire_time;
  if (request.has_grant_expire_time()) {
    absl::StatusOr<absl::Time> time =
        ReadFutureTime("grant_expire_time", request.grant_expire_time(), now);
    if (!time.ok()) return time.status();
    grant_expire_time = *time;
  }

  const std::string token = NewToken();
  storage::NewInvitation invitation;
  invitation.owner_account_id = call->owner_id;
  invitation.email = *email;
  invitation.first_name = *first_name;
  invitation.last_name = *last_name;
  invitation.access_level = request.access_level();
  invitation.token_hash = HashToken(token);
  invitation.expire_time = now + options_.invitation_ttl;
  invitation.grant_expire_time = grant_expire_time;
  invitation.passcode_hash = std::move(passcode_hash);
  invitation.daily_limit = options_.invitations_per_owner_per_day;
  const std::string sealed_token = secret_box_->Seal(token);
  absl::StatusOr<storage::InvitationRecord> created = store_->CreateInvitation(
      call->actor, invitation,
      [&](const storage::EmailContext& email_context) {
        return InvitationEmail(email_context, sealed_token, options_.portal_base_url);
      },
      IdempotencyFor(IdempotencyScope(call->caller), "CreateInvitation", request));
  if (absl::IsResourceExhausted(created.status())) {
    LogWarning("owner reached the daily invitation limit",
               {{"request_id", RequestIdOf(context)}, {"owner_account_id", call->owner_id}});
    return created.status();
  }
  if (!created.ok()) {
    absl::Status status = created.status();
    if (!absl::StartsWith(status.message(), "request_id")) {
      status = RewordStatus(status, absl::StatusCode::kInvalidArgument,
                            "email: you cannot invite yourself");
    }
    status = RewordStatus(status, absl::StatusCode::kNotFound,
                          "owner_account_id: no account with this id");
    return RewordStatus(status, absl::StatusCode::kAlreadyExists,
                        "email: this person already has a pending invitation or access to "
                        "your record");
  }
  AnnotateCall(context, "invitation_id", created->id);
  FillInvitation(*created, response.mutable_invitation());
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::LookupInvitation(grpc::ServerContext* context,
                                                       const v1::LookupInvitationRequest* request,
                                                       v1::LookupInvitationResponse* response) {
  return CompleteRpc(*context, "LookupInvitation",
                     DoLookupInvitation(*context, *request, *response));
}

absl::Status AccessDelegationService::CountTokenFailure(const grpc::ServerContext& context,
                                                        const std::string& peer,
                                                        absl::Status status) {
  if (absl::IsNotFound(status)) RecordPeerFailure(context, *token_peers_, peer);
  return status;
}

absl::Status AccessDelegationService::DoLookupInvitation(const grpc::ServerContext& context,
                                                         const v1::LookupInvitationRequest& request,
                                                         v1::LookupInvitationResponse& response) {
  if (absl::Status status = ValidateTokenField("invitation_token", request.invitation_token());
      !status.ok()) {
    return status;
  }
  const std::string peer = PeerAddressOf(context);
  if (absl::Status status = token_peers_->Check(peer, absl::Now()); !status.ok()) return status;
  absl::StatusOr<storage::InvitationLookup> lookup =
      store_->LookupInvitation(HashToken(request.invitation_token()), absl::Now());
  if (!lookup.ok()) {
    return CountTokenFailure(
        context, peer,
        RewordStatus(lookup.status(), absl::StatusCode::kNotFound, kDeadInvitationMessage));
  }
  const storage::InvitationRecord& invitation = lookup->invitation;
  response.set_invitation_id(invitation.id);
  response.set_owner_first_name(lookup->owner.first_name);
  response.set_owner_last_name(lookup->owner.last_name);
  response.set_email(invitation.email);
  response.set_first_name(invitation.first_name);
  response.set_last_name(invitation.last_name);
  response.set_access_level(invitation.access_level);
  response.set_account_exists(lookup->account_exists);
  response.set_passcode_required(lookup->passcode_required);
  ToProto(invitation.expire_time, response.mutable_expire_time());
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::AcceptInvitation(grpc::ServerContext* context,
                                                       const v1::AcceptInvitationRequest* request,
                                                       v1::AcceptInvitationResponse* response) {
  return CompleteRpc(*context, "AcceptInvitation",
                     DoAcceptInvitation(*context, *request, *response));
}

absl::Status AccessDelegationService::DoAcceptInvitation(
    const grpc::ServerContext& context, const v1::AcceptInvitationRequest& request,
    v1::AcceptInvitationResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status status = ValidateTokenField("invitation_token", request.invitation_token());
      !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateRequestId(request.request_id()); !status.ok()) return status;
  const std::string peer = PeerAddressOf(context);
  if (absl::Status status = token_peers_->Check(peer, absl::Now()); !status.ok()) return status;

  const std::string token_hash = HashToken(request.invitation_token());
  if (absl::Status status = CheckPasscode(context, *caller, token_hash, request.passcode());
      !status.ok()) {
    return CountTokenFailure(context, peer, status);
  }
  absl::StatusOr<storage::InvitationRecord> accepted = store_->AcceptInvitation(
      ActorFor(context, *caller), token_hash, caller->account_id, absl::Now(),
      [&](const storage::EmailContext& email_context) {
        return AcceptedEmail(email_context, options_.portal_base_url);
      },
      IdempotencyFor(IdempotencyScope(*caller), "AcceptInvitation", request));
  if (!accepted.ok()) {
    absl::Status status = accepted.status();
    status = RewordStatus(status, absl::StatusCode::kNotFound, kDeadInvitationMessage);
    if (absl::IsNotFound(status)) return CountTokenFailure(context, peer, status);
    status = RewordStatus(status, absl::StatusCode::kFailedPrecondition,
                          "you already accepted this invitation; the account holder has been "
                          "asked to confirm");
    status = RewordStatus(status, absl::StatusCode::kPermissionDenied, kOtherEmailMessage);
    if (!absl::StartsWith(status.message(), "request_id")) {
      status = RewordStatus(status, absl::StatusCode::kInvalidArgument,
                            "invitation_token: you cannot accept an invitation to your own "
                            "record");
    }
    return RewordStatus(status, absl::StatusCode::kAlreadyExists,
                        "you already have access to this record");
  }
  AnnotateCall(context, "invitation_id", accepted->id);
  FillInvitation(*accepted, response.mutable_invitation());
  return absl::OkStatus();
}

absl::Status AccessDelegationService::CheckPasscode(const grpc::ServerContext& context,
                                                    const Caller& caller,
                                                    const std::string& token_hash,
                                                    const std::string& passcode) {
  // A malformed passcode can never be right, so it is rejected before it can use a try.
  // The format is public, so this error reveals nothing about the invitation.
  const bool has_passcode = !passcode.empty();
  if (has_passcode) {
    if (absl::Status status = ValidatePasscode("passcode", passcode); !status.ok()) return status;
  }
  // NOTE: The check holds a pooled database connection and the invitation's row lock
  // while the passcode waits for a hashing thread, which under sign-in load can take
  // seconds. A full hashing queue fails the call with RESOURCE_EXHAUSTED, counting nothing.
  absl::StatusOr<storage::PasscodeCheck> check = store_->CheckInvitationPasscode(
      ActorFor(context, caller), token_hash, caller.account_id, absl::Now(), has_passcode,
      [&](const std::string& passcode_hash) {
        return password_hasher_->Verify(passcode, passcode_hash);
      },
      kMaxPasscodeFailures,
      [&](const storage::EmailContext& email_context) {
        return PasscodeLockedEmail(email_context, options_.portal_base_url);
      });
  if (!check.ok()) {
    return RewordStatus(check.status(), absl::StatusCode::kNotFound, kDeadInvitationMessage);
  }

  switch (check->outcome) {
    case storage::PasscodeOutcome::kNotRequired:
    case storage::PasscodeOutcome::kCorrect:
      return absl::OkStatus();
    case storage::PasscodeOutcome::kWrongAccount:
      return absl::PermissionDeniedError(kOtherEmailMessage);
    case storage::PasscodeOutcome::kMissing:
      return absl::InvalidArgumentError(
          "passcode is required for this invitation; ask the account holder who invited you "
          "for it");
    case storage::PasscodeOutcome::kWrong:
      AnnotateCall(context, "invitation_id", check->invitation_id);
      AnnotateCall(context, "outcome", "wrong passcode");
      return absl::PermissionDeniedError(absl::StrCat("passcode is incorrect; ", check->tries_left,
                                                      check->tries_left == 1 ? " try" : " tries",
                                                      " left before the invitation is canceled"));
    case storage::PasscodeOutcome::kCanceled:
      AnnotateCall(context, "invitation_id", check->invitation_id);
      LogWarning("invitation canceled after too many wrong passcodes",
                 {{"request_id", RequestIdOf(context)},
                  {"invitation_id", check->invitation_id},
                  {"account_id", caller.account_id},
                  {"peer", PeerAddressOf(context)}});
      return absl::FailedPreconditionError(kPasscodeLockedMessage);
  }
  return absl::InternalError("unknown passcode outcome");
}

grpc::Status AccessDelegationService::DeclineInvitation(
    grpc::ServerContext* context, const v1::DeclineInvitationRequest* request,
    v1::DeclineInvitationResponse* response) {
  return CompleteRpc(*context, "DeclineInvitation", DoDeclineInvitation(*context, *request));
}

absl::Status AccessDelegationService::DoDeclineInvitation(
    const grpc::ServerContext& context, const v1::DeclineInvitationRequest& request) {
  if (absl::Status status = ValidateTokenField("invitation_token", request.invitation_token());
      !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateRequestId(request.request_id()); !status.ok()) return status;

  const std::string peer = PeerAddressOf(context);
  if (absl::Status status = token_peers_->Check(peer, absl::Now()); !status.ok()) return status;

  // The token is the credential. A signed-in caller is recorded as the actor; without a
  // session, the holder of the token is, and retries are matched by the token.
  const std::string token_hash = HashToken(request.invitation_token());
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  const storage::Actor actor =
      caller.ok() ? ActorFor(context, *caller) : AnonymousActorFor(context, "");
  const std::string scope = absl::StrCat("invitation-token:", ToHex(token_hash));

  absl::StatusOr<storage::InvitationRecord> declined = store_->DeclineInvitation(
      actor, token_hash, absl::Now(),
      [&](const storage::EmailContext& email_context) {
        return DeclinedEmail(email_context, options_.portal_base_url);
      },
      IdempotencyFor(scope, "DeclineInvitation", request));
  if (!declined.ok()) {
    return CountTokenFailure(
        context, peer,
        RewordStatus(declined.status(), absl::StatusCode::kNotFound, kDeadInvitationMessage));
  }
  AnnotateCall(context, "invitation_id", declined->id);
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::ConfirmInvitation(
    grpc::ServerContext* context, const v1::ConfirmInvitationRequest* request,
    v1::ConfirmInvitationResponse* response) {
  return CompleteRpc(*context, "ConfirmInvitation",
                     DoConfirmInvitation(*context, *request, *response));
}

absl::Status AccessDelegationService::DoConfirmInvitation(
    const grpc::ServerContext& context, const v1::ConfirmInvitationRequest& request,
    v1::ConfirmInvitationResponse& response) {
  absl::StatusOr<OwnerChange> change =
      AuthorizeOwnerChange(context, request.owner_account_id(), "invitation_id", request.invitation_id(),
                           request.etag(), request.request_id());
  if (!change.ok()) return change.status();

  absl::StatusOr<storage::Confirmation> confirmation = store_->ConfirmInvitation(
      change->call.actor, change->call.owner_id, request.invitation_id(), change->expected,
      [&](const storage::EmailContext& email_context) {
        return ConfirmedEmail(email_context, options_.portal_base_url);
      },
      IdempotencyFor(IdempotencyScope(change->call.caller), "ConfirmInvitation", request));
  if (!confirmation.ok()) return RewordDecisionStatus(confirmation.status());
  AnnotateCall(context, "invitation_id", confirmation->invitation.id);
  AnnotateCall(context, "grant_id", confirmation->grant.id);
  FillInvitation(confirmation->invitation, response.mutable_invitation());
  FillGrant(confirmation->grant, response.mutable_grant());
  response.set_consistency_token(FinishGrantChange(context, confirmation->grant.owner_account_id,
                                                   confirmation->grant.delegate_account_id));
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::DenyInvitation(grpc::ServerContext* context,
                                                     const v1::DenyInvitationRequest* request,
                                                     v1::DenyInvitationResponse* response) {
  return CompleteRpc(*context, "DenyInvitation", DoDenyInvitation(*context, *request, *response));
}

absl::Status AccessDelegationService::DoDenyInvitation(const grpc::ServerContext& context,
                                                       const v1::DenyInvitationRequest& request,
                                                       v1::DenyInvitationResponse& response) {
  absl::StatusOr<OwnerChange> change =
      AuthorizeOwnerChange(context, request.owner_account_id(), "invitation_id", request.invitation_id(),
                           request.etag(), request.request_id());
  if (!change.ok()) return change.status();

  absl::StatusOr<storage::InvitationRecord> denied = store_->DenyInvitation(
      change->call.actor, change->call.owner_id, request.invitation_id(), change->expected,
      [](const storage::EmailContext& email_context) { return DeniedEmail(email_context); },
      IdempotencyFor(IdempotencyScope(change->call.caller), "DenyInvitation", request));
  if (!denied.ok()) return RewordDecisionStatus(denied.status());
  AnnotateCall(context, "invitation_id", denied->id);
  FillInvitation(*denied, response.mutable_invitation());
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::ResendInvitation(
    grpc::ServerContext* context, const v1::ResendInvitationRequest* request,
    v1::ResendInvitationResponse* response) {
  return CompleteRpc(*context, "ResendInvitation",
                     DoResendInvitation(*context, *request, *response));
}

absl::Status AccessDelegationService::DoResendInvitation(
    const grpc::ServerContext& context, const v1::ResendInvitationRequest& request,
    v1::ResendInvitationResponse& response) {
  absl::StatusOr<OwnerChange> change =
      AuthorizeOwnerChange(context, request.owner_account_id(), "invitation_id", request.invitation_id(),
                           request.etag(), request.request_id());
  if (!change.ok()) return change.status();

  const absl::Time now = absl::Now();
  const std::string token = NewToken();
  const std::string sealed_token = secret_box_->Seal(token);
  absl::StatusOr<storage::InvitationRecord> resent = store_->ResendInvitation(
      change->call.actor, change->call.owner_id, request.invitation_id(), change->expected, HashToken(token),
      now + options_.invitation_ttl, now, options_.invitations_per_owner_per_day,
      [&](const storage::EmailContext& email_context) {
        return ResentInvitationEmail(email_context, sealed_token, options_.portal_base_url);
      },
      IdempotencyFor(IdempotencyScope(change->call.caller), "ResendInvitation", request));
  if (absl::IsResourceExhausted(resent.status())) {
    LogWarning("owner reached the daily invitation limit",
               {{"request_id", RequestIdOf(context)}, {"owner_account_id", change->call.owner_id}});
    return resent.status();
  }
  if (!resent.ok()) {
    return RewordInvitationChangeStatus(
        resent.status(),
        "only a PENDING invitation that has not expired can be sent again; send a new "
        "invitation instead");
  }
  AnnotateCall(context, "invitation_id", resent->id);
  FillInvitation(*resent, response.mutable_invitation());
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::CancelInvitation(
    grpc::ServerContext* context, const v1::CancelInvitationRequest* request,
    v1::CancelInvitationResponse* response) {
  return CompleteRpc(*context, "CancelInvitation",
                     DoCancelInvitation(*context, *request, *response));
}

absl::Status AccessDelegationService::DoCancelInvitation(
    const grpc::ServerContext& context, const v1::CancelInvitationRequest& request,
    v1::CancelInvitationResponse& response) {
  absl::StatusOr<OwnerChange> change =
      AuthorizeOwnerChange(context, request.owner_account_id(), "invitation_id", request.invitation_id(),
                           request.etag(), request.request_id());
  if (!change.ok()) return change.status();

  absl::StatusOr<storage::InvitationRecord> canceled = store_->CancelInvitation(
      change->call.actor, change->call.owner_id, request.invitation_id(), change->expected, absl::Now(),
      [](const storage::EmailContext& email_context) { return CanceledEmail(email_context); },
      IdempotencyFor(IdempotencyScope(change->call.caller), "CancelInvitation", request));
  if (!canceled.ok()) {
    return RewordInvitationChangeStatus(
        canceled.status(),
        "only a PENDING or ACCEPTED invitation can be canceled; this one has already ended");
  }
  AnnotateCall(context, "invitation_id", canceled->id);
  FillInvitation(*canceled, response.mutable_invitation());
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::ListInvitations(grpc::ServerContext* context,
                                                      const v1::ListInvitationsRequest* request,
                                                      v1::ListInvitationsResponse* response) {
  return CompleteRpc(*context, "ListInvitations",
                     DoListInvitations(*context, *request, *response));
}

absl::Status AccessDelegationService::DoListInvitations(
    const grpc::ServerContext& context, const v1::ListInvitationsRequest& request,
    v1::ListInvitationsResponse& response) {
  absl::StatusOr<OwnerCall> call = AuthorizeOwner(context, request.owner_account_id());
  if (!call.ok()) return call.status();
  if (absl::Status status = ValidateStateFilter("state", request.state()); !status.ok()) {
    return status;
  }
  const std::string filter =
      absl::StrCat("ListInvitations/", call->owner_id, "/", static_cast<int>(request.state()));
  absl::StatusOr<storage::PageRequest> page =
      ReadPageRequest(page_tokens_, filter, request.page_size(), request.page_token());
  if (!page.ok()) return page.status();

  absl::StatusOr<storage::Page<storage::InvitationRecord>> invitations =
      store_->ListInvitations(call->owner_id, request.state(), absl::Now(), *page);
  if (!invitations.ok()) return invitations.status();
  for (const storage::InvitationRecord& invitation : invitations->items) {
    FillInvitation(invitation, response.add_invitations());
  }
  if (invitations->next.has_value()) {
    response.set_next_page_token(page_tokens_.Issue(filter, *invitations->next));
  }
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::ListGrants(grpc::ServerContext* context,
                                                 const v1::ListGrantsRequest* request,
                                                 v1::ListGrantsResponse* response) {
  return CompleteRpc(*context, "ListGrants", DoListGrants(*context, *request, *response));
}

absl::Status AccessDelegationService::DoListGrants(const grpc::ServerContext& context,
                                                   const v1::ListGrantsRequest& request,
                                                   v1::ListGrantsResponse& response) {
  absl::StatusOr<OwnerCall> call = AuthorizeOwner(context, request.owner_account_id());
  if (!call.ok()) return call.status();
  absl::StatusOr<uint64_t> min_position =
      ParseConsistencyToken("consistency_token", request.consistency_token());
  if (!min_position.ok()) return min_position.status();
  return ListGrantPage(
      page_tokens_, "ListGrants", call->owner_id, request.state(), request.page_size(),
      request.page_token(),
      [&](v1::GrantState state, const storage::PageRequest& page) {
        return grant_view_->ReadStoreFor(*min_position)
            ->ListGrants(call->owner_id, state, absl::Now(), page);
      },
      response.mutable_grants(), response.mutable_next_page_token());
}

grpc::Status AccessDelegationService::ListDelegatedAccess(
    grpc::ServerContext* context, const v1::ListDelegatedAccessRequest* request,
    v1::ListDelegatedAccessResponse* response) {
  return CompleteRpc(*context, "ListDelegatedAccess",
                     DoListDelegatedAccess(*context, *request, *response));
}

absl::Status AccessDelegationService::DoListDelegatedAccess(
    const grpc::ServerContext& context, const v1::ListDelegatedAccessRequest& request,
    v1::ListDelegatedAccessResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();
  absl::StatusOr<uint64_t> min_position =
      ParseConsistencyToken("consistency_token", request.consistency_token());
  if (!min_position.ok()) return min_position.status();
  return ListGrantPage(
      page_tokens_, "ListDelegatedAccess", caller->account_id, request.state(),
      request.page_size(), request.page_token(),
      [&](v1::GrantState state, const storage::PageRequest& page) {
        return grant_view_->ReadStoreFor(*min_position)
            ->ListDelegatedAccess(caller->account_id, state, absl::Now(), page);
      },
      response.mutable_grants(), response.mutable_next_page_token());
}

grpc::Status AccessDelegationService::UpdateGrant(grpc::ServerContext* context,
                                                  const v1::UpdateGrantRequest* request,
                                                  v1::UpdateGrantResponse* response) {
  return CompleteRpc(*context, "UpdateGrant", DoUpdateGrant(*context, *request, *response));
}

absl::Status AccessDelegationService::DoUpdateGrant(const grpc::ServerContext& context,
                                                    const v1::UpdateGrantRequest& request,
                                                    v1::UpdateGrantResponse& response) {
  absl::StatusOr<OwnerCall> call = AuthorizeOwner(context, request.owner_account_id());
  if (!call.ok()) return call.status();
  if (absl::Status status = ValidateUuid("grant_id", request.grant_id()); !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateAccessLevel("access_level", request.access_level());
      !status.ok()) {
    return status;
  }
  absl::StatusOr<storage::ExpectedVersion> expected = ParseEtag(request.etag());
  if (!expected.ok()) return expected.status();
  if (absl::Status status = ValidateRequestId(request.request_id()); !status.ok()) return status;
  storage::GrantUpdate update;
  update.access_level = request.access_level();
  if (request.has_expire_time() && request.clear_expire_time()) {
    return absl::InvalidArgumentError(
        "expire_time and clear_expire_time cannot both be set; set one, or neither to keep "
        "the grant's end");
  }
  if (request.has_expire_time()) {
    absl::StatusOr<absl::Time> time =
        ReadFutureTime("expire_time", request.expire_time(), absl::Now());
    if (!time.ok()) return time.status();
    update.change_expire_time = true;
    update.expire_time = *time;
  } else if (request.clear_expire_time()) {
    update.change_expire_time = true;
  }

  absl::StatusOr<storage::GrantRecord> updated = store_->UpdateGrant(
      call->actor, call->owner_id, request.grant_id(), *expected, update,
      [&](const storage::GrantEmailContext& email_context) {
        return GrantChangedEmails(email_context, options_.portal_base_url);
      },
      IdempotencyFor(IdempotencyScope(call->caller), "UpdateGrant", request));
  if (!updated.ok()) return RewordGrantChangeStatus(updated.status());
  AnnotateCall(context, "grant_id", updated->id);
  FillGrant(*updated, response.mutable_grant());
  response.set_consistency_token(
      FinishGrantChange(context, updated->owner_account_id, updated->delegate_account_id));
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::RevokeGrant(grpc::ServerContext* context,
                                                  const v1::RevokeGrantRequest* request,
                                                  v1::RevokeGrantResponse* response) {
  return CompleteRpc(*context, "RevokeGrant", DoRevokeGrant(*context, *request, *response));
}

absl::Status AccessDelegationService::DoRevokeGrant(const grpc::ServerContext& context,
                                                    const v1::RevokeGrantRequest& request,
                                                    v1::RevokeGrantResponse& response) {
  absl::StatusOr<OwnerChange> change =
      AuthorizeOwnerChange(context, request.owner_account_id(), "grant_id", request.grant_id(),
                           request.etag(), request.request_id());
  if (!change.ok()) return change.status();

  absl::StatusOr<storage::GrantRecord> revoked = store_->RevokeGrant(
      change->call.actor, change->call.owner_id, request.grant_id(), change->expected,
      [](const storage::GrantEmailContext& email_context) {
        return AccessRemovedEmails(email_context);
      },
      IdempotencyFor(IdempotencyScope(change->call.caller), "RevokeGrant", request));
  if (!revoked.ok()) return RewordGrantChangeStatus(revoked.status());
  AnnotateCall(context, "grant_id", request.grant_id());
  response.set_consistency_token(
      FinishGrantChange(context, revoked->owner_account_id, revoked->delegate_account_id));
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::LeaveGrant(grpc::ServerContext* context,
                                                 const v1::LeaveGrantRequest* request,
                                                 v1::LeaveGrantResponse* response) {
  return CompleteRpc(*context, "LeaveGrant", DoLeaveGrant(*context, *request, *response));
}

absl::Status AccessDelegationService::DoLeaveGrant(const grpc::ServerContext& context,
                                                   const v1::LeaveGrantRequest& request,
                                                   v1::LeaveGrantResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status status = ValidateUuid("grant_id", request.grant_id()); !status.ok()) {
    return status;
  }
  absl::StatusOr<storage::ExpectedVersion> expected = ParseEtag(request.etag());
  if (!expected.ok()) return expected.status();
  if (absl::Status status = ValidateRequestId(request.request_id()); !status.ok()) return status;

  absl::StatusOr<storage::GrantRecord> left = store_->LeaveGrant(
      ActorFor(context, *caller), caller->account_id, request.grant_id(), *expected,
      [&](const storage::GrantEmailContext& email_context) {
        return GrantLeftEmails(email_context, options_.portal_base_url);
      },
      IdempotencyFor(IdempotencyScope(*caller), "LeaveGrant", request));
  if (!left.ok()) return RewordGrantChangeStatus(left.status());
  AnnotateCall(context, "grant_id", request.grant_id());
  response.set_consistency_token(
      FinishGrantChange(context, left->owner_account_id, left->delegate_account_id));
  return absl::OkStatus();
}

std::string AccessDelegationService::FinishGrantChange(const grpc::ServerContext& context,
                                                       const std::string& owner_id,
                                                       const std::string& delegate_id) {
  absl::StatusOr<uint64_t> position = store_->CurrentWalPosition();
  if (!position.ok()) {
    // The change is committed, so the call succeeds; the view drops the pair as it does
    // for another server's change, and the caller gets no token.
    spdlog::warn("request {}: reading the WAL position after a change of grant {} -> {} "
                 "failed: {}",
                 RequestIdOf(context), owner_id, delegate_id, position.status().ToString());
    grant_view_->OnGrantChange(owner_id, delegate_id);
    return "";
  }
  grant_view_->InvalidateGrant(owner_id, delegate_id, *position);
  return RenderConsistencyToken(*position);
}

grpc::ServerUnaryReactor* AccessDelegationService::CheckAccess(
    grpc::CallbackServerContext* context, const v1::CheckAccessRequest* request,
    v1::CheckAccessResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool authenticated = authenticator_->FindServiceInMemory(*context).has_value();
  if (authenticated) {
    uint64_t min_position = 0;
    const absl::Status valid = ValidateCheckAccess(*request, min_position);
    if (!valid.ok() || AnswerCheckFromView(*request, min_position, *response)) {
      reactor->Finish(CompleteRpc(*context, "CheckAccess", valid));
      return reactor;
    }
  }
  const bool queued = check_queue_.TrySchedule([this, context, request, response, reactor,
                                                authenticated] {
    reactor->Finish(CompleteRpc(*context, "CheckAccess",
                                DoCheckAccess(*context, *request, authenticated, *response)));
  });
  if (!queued) {
    reactor->Finish(CompleteRpc(
        *context, "CheckAccess",
        storage::ResourceExhaustedWithRetry(
            absl::StrCat("more than ", kMaxQueuedChecks,
                         " access checks are waiting for the database"),
            kFullCheckQueueRetryDelay, absl::Now())));
  }
  return reactor;
}

absl::Status AccessDelegationService::ValidateCheckAccess(const v1::CheckAccessRequest& request,
                                                          uint64_t& min_position) {
  if (absl::Status status = ValidateUuid("account_id", request.account_id()); !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateUuid("owner_account_id", request.owner_account_id());
      !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidatePermission("permission", request.permission());
      !status.ok()) {
    return status;
  }
  absl::StatusOr<uint64_t> position =
      ParseConsistencyToken("consistency_token", request.consistency_token());
  if (!position.ok()) return position.status();
  min_position = *position;
  return absl::OkStatus();
}

bool AccessDelegationService::IsOwnerCheck(const v1::CheckAccessRequest& request) {
  return absl::AsciiStrToLower(request.account_id()) ==
         absl::AsciiStrToLower(request.owner_account_id());
}

void AccessDelegationService::SetOwnerAnswer(const GrantView::AccountAnswer& owner,
                                             v1::CheckAccessResponse& response) {
  response.set_allowed(owner.exists);
  response.set_reason(owner.exists ? v1::CheckAccessResponse::REASON_OWNER
                                   : v1::CheckAccessResponse::REASON_NO_GRANT);
  if (owner.position > 0) {
    response.set_consistency_token(RenderConsistencyToken(owner.position));
  }
}

void AccessDelegationService::SetGrantAnswer(const GrantView::GrantAnswer& answer,
                                             v1::Permission permission,
                                             v1::CheckAccessResponse& response) {
  if (answer.position > 0) {
    response.set_consistency_token(RenderConsistencyToken(answer.position));
  }
  if (!answer.grant.has_value()) {
    response.set_allowed(false);
    response.set_reason(v1::CheckAccessResponse::REASON_NO_GRANT);
    return;
  }
  const GrantView::Grant& grant = *answer.grant;
  const bool allowed = LevelGrants(grant.access_level, permission);
  response.set_allowed(allowed);
  response.set_reason(allowed ? v1::CheckAccessResponse::REASON_GRANT
                              : v1::CheckAccessResponse::REASON_LEVEL_EXCLUDES_PERMISSION);
  response.set_access_level(grant.access_level);
  response.set_grant_id(grant.id);
}

bool AccessDelegationService::AnswerCheckFromView(const v1::CheckAccessRequest& request,
                                                  uint64_t min_position,
                                                  v1::CheckAccessResponse& response) {
  if (IsOwnerCheck(request)) {
    const std::optional<GrantView::AccountAnswer> owner =
        grant_view_->FindAccountInView(request.owner_account_id(), min_position);
    if (!owner.has_value()) return false;
    SetOwnerAnswer(*owner, response);
    return true;
  }
  const std::optional<GrantView::GrantAnswer> answer = grant_view_->FindGrantInView(
      request.owner_account_id(), request.account_id(), min_position, absl::Now());
  if (!answer.has_value()) return false;
  SetGrantAnswer(*answer, request.permission(), response);
  return true;
}

absl::Status AccessDelegationService::DoCheckAccess(const grpc::ServerContextBase& context,
                                                    const v1::CheckAccessRequest& request,
                                                    bool authenticated,
                                                    v1::CheckAccessResponse& response) {
  if (!authenticated) {
    absl::StatusOr<Caller> caller = authenticator_->RequireService(context);
    if (!caller.ok()) return caller.status();
  }
  uint64_t min_position = 0;
  if (absl::Status status = ValidateCheckAccess(request, min_position); !status.ok()) {
    return status;
  }

  if (IsOwnerCheck(request)) {
    absl::StatusOr<GrantView::AccountAnswer> owner =
        grant_view_->FindAccount(request.owner_account_id(), min_position);
    if (!owner.ok()) return owner.status();
    SetOwnerAnswer(*owner, response);
    return absl::OkStatus();
  }
  absl::StatusOr<GrantView::GrantAnswer> answer = grant_view_->FindGrant(
      request.owner_account_id(), request.account_id(), min_position, absl::Now());
  if (!answer.ok()) return answer.status();
  SetGrantAnswer(*answer, request.permission(), response);
  return absl::OkStatus();
}

}  // namespace accessdelegation::server
