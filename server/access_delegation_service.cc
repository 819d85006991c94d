#include "server/access_delegation_service.h"

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "server/call_interceptor.h"
#include "server/emails.h"
#include "server/permissions.h"
#include "server/rpc_support.h"
#include "server/validation.h"

namespace accessdelegation::server {
namespace {

constexpr char kDeadInvitationMessage[] =
    "invitation_token is not valid: the link is unknown, already used or expired; ask the "
    "account holder for a new invitation";
constexpr char kUnknownInvitationMessage[] = "invitation_id: no invitation with this id";
constexpr char kUnknownGrantMessage[] = "grant_id: no grant with this id";
constexpr char kNotAwaitingDecisionMessage[] =
    "the invitation is not waiting for your decision: only an ACCEPTED invitation can be "
    "confirmed or denied";

// Maps the store's outcomes of a confirm or deny to API messages.
absl::Status RewordDecisionStatus(const absl::Status& status) {
  return RewordStatus(
      RewordStatus(status, absl::StatusCode::kNotFound, kUnknownInvitationMessage),
      absl::StatusCode::kFailedPrecondition, kNotAwaitingDecisionMessage);
}

}  // namespace

AccessDelegationService::AccessDelegationService(storage::Store* store,
                                                 const Authenticator* authenticator,
                                                 const SecretBox* secret_box, Options options)
    : store_(store),
      authenticator_(authenticator),
      secret_box_(secret_box),
      options_(std::move(options)) {}

grpc::Status AccessDelegationService::CreateInvitation(grpc::ServerContext* context,
                                                       const v1::CreateInvitationRequest* request,
                                                       v1::CreateInvitationResponse* response) {
  return CompleteRpc(*context, "CreateInvitation",
                     DoCreateInvitation(*context, *request, *response));
}

absl::Status AccessDelegationService::DoCreateInvitation(
    const grpc::ServerContext& context, const v1::CreateInvitationRequest& request,
    v1::CreateInvitationResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();

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

  const std::string token = NewToken();
  storage::NewInvitation invitation;
  invitation.owner_account_id = caller->account_id;
  invitation.email = *email;
  invitation.first_name = *first_name;
  invitation.last_name = *last_name;
  invitation.access_level = request.access_level();
  invitation.token_hash = HashToken(token);
  invitation.expire_time = absl::Now() + options_.invitation_ttl;
  const std::string sealed_token = secret_box_->Seal(token);
  absl::StatusOr<storage::InvitationRecord> created = store_->CreateInvitation(
      invitation, [&](const storage::EmailContext& email_context) {
        return InvitationEmail(email_context, sealed_token, options_.portal_base_url);
      });
  if (!created.ok()) {
    absl::Status status = RewordStatus(created.status(), absl::StatusCode::kInvalidArgument,
                                       "email: you cannot invite yourself");
    return RewordStatus(status, absl::StatusCode::kAlreadyExists,
                        "email: this person already has a pending invitation or access to "
                        "your record");
  }
  AnnotateCall(context, "invitation_id", created->id);
  ToProto(*created, response.mutable_invitation());
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::LookupInvitation(grpc::ServerContext* context,
                                                       const v1::LookupInvitationRequest* request,
                                                       v1::LookupInvitationResponse* response) {
  return CompleteRpc(*context, "LookupInvitation", DoLookupInvitation(*request, *response));
}

absl::Status AccessDelegationService::DoLookupInvitation(
    const v1::LookupInvitationRequest& request, v1::LookupInvitationResponse& response) {
  if (absl::Status status = ValidateTokenField("invitation_token", request.invitation_token());
      !status.ok()) {
    return status;
  }
  absl::StatusOr<storage::InvitationLookup> lookup =
      store_->LookupInvitation(HashToken(request.invitation_token()), absl::Now());
  if (!lookup.ok()) {
    return RewordStatus(lookup.status(), absl::StatusCode::kNotFound, kDeadInvitationMessage);
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

  absl::StatusOr<storage::InvitationRecord> accepted = store_->AcceptInvitation(
      HashToken(request.invitation_token()), caller->account_id, absl::Now(),
      [&](const storage::EmailContext& email_context) {
        return AcceptedEmail(email_context, options_.portal_base_url);
      });
  if (!accepted.ok()) {
    absl::Status status = accepted.status();
    status = RewordStatus(status, absl::StatusCode::kNotFound, kDeadInvitationMessage);
    status = RewordStatus(status, absl::StatusCode::kFailedPrecondition,
                          "you already accepted this invitation; the account holder has been "
                          "asked to confirm");
    status = RewordStatus(status, absl::StatusCode::kPermissionDenied,
                          "this invitation was sent to a different email address; sign in "
                          "with the invited address to accept it");
    status = RewordStatus(status, absl::StatusCode::kInvalidArgument,
                          "invitation_token: you cannot accept an invitation to your own "
                          "record");
    return RewordStatus(status, absl::StatusCode::kAlreadyExists,
                        "you already have access to this record");
  }
  AnnotateCall(context, "invitation_id", accepted->id);
  ToProto(*accepted, response.mutable_invitation());
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
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status status = ValidateUuid("invitation_id", request.invitation_id());
      !status.ok()) {
    return status;
  }

  absl::StatusOr<storage::Confirmation> confirmation = store_->ConfirmInvitation(
      caller->account_id, request.invitation_id(),
      [&](const storage::EmailContext& email_context) {
        return ConfirmedEmail(email_context, options_.portal_base_url);
      });
  if (!confirmation.ok()) return RewordDecisionStatus(confirmation.status());
  AnnotateCall(context, "invitation_id", confirmation->invitation.id);
  AnnotateCall(context, "grant_id", confirmation->grant.id);
  ToProto(confirmation->invitation, response.mutable_invitation());
  ToProto(confirmation->grant, response.mutable_grant());
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
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status status = ValidateUuid("invitation_id", request.invitation_id());
      !status.ok()) {
    return status;
  }

  absl::StatusOr<storage::InvitationRecord> denied = store_->DenyInvitation(
      caller->account_id, request.invitation_id(),
      [](const storage::EmailContext& email_context) { return DeniedEmail(email_context); });
  if (!denied.ok()) return RewordDecisionStatus(denied.status());
  AnnotateCall(context, "invitation_id", denied->id);
  ToProto(*denied, response.mutable_invitation());
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
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status status = ValidateStateFilter("state", request.state()); !status.ok()) {
    return status;
  }

  absl::StatusOr<std::vector<storage::InvitationRecord>> invitations =
      store_->ListInvitations(caller->account_id, request.state(), absl::Now());
  if (!invitations.ok()) return invitations.status();
  for (const storage::InvitationRecord& invitation : *invitations) {
    ToProto(invitation, response.add_invitations());
  }
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::ListGrants(grpc::ServerContext* context,
                                                 const v1::ListGrantsRequest* request,
                                                 v1::ListGrantsResponse* response) {
  return CompleteRpc(*context, "ListGrants", DoListGrants(*context, *response));
}

absl::Status AccessDelegationService::DoListGrants(const grpc::ServerContext& context,
                                                   v1::ListGrantsResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();

  absl::StatusOr<std::vector<storage::GrantRecord>> grants =
      store_->ListGrants(caller->account_id);
  if (!grants.ok()) return grants.status();
  for (const storage::GrantRecord& grant : *grants) ToProto(grant, response.add_grants());
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::UpdateGrant(grpc::ServerContext* context,
                                                  const v1::UpdateGrantRequest* request,
                                                  v1::UpdateGrantResponse* response) {
  return CompleteRpc(*context, "UpdateGrant", DoUpdateGrant(*context, *request, *response));
}

absl::Status AccessDelegationService::DoUpdateGrant(const grpc::ServerContext& context,
                                                    const v1::UpdateGrantRequest& request,
                                                    v1::UpdateGrantResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status status = ValidateUuid("grant_id", request.grant_id()); !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateAccessLevel("access_level", request.access_level());
      !status.ok()) {
    return status;
  }

  absl::StatusOr<storage::GrantRecord> updated =
      store_->UpdateGrant(caller->account_id, request.grant_id(), request.access_level());
  if (!updated.ok()) {
    return RewordStatus(updated.status(), absl::StatusCode::kNotFound, kUnknownGrantMessage);
  }
  AnnotateCall(context, "grant_id", updated->id);
  ToProto(*updated, response.mutable_grant());
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::RevokeGrant(grpc::ServerContext* context,
                                                  const v1::RevokeGrantRequest* request,
                                                  v1::RevokeGrantResponse* response) {
  return CompleteRpc(*context, "RevokeGrant", DoRevokeGrant(*context, *request));
}

absl::Status AccessDelegationService::DoRevokeGrant(const grpc::ServerContext& context,
                                                    const v1::RevokeGrantRequest& request) {
  absl::StatusOr<Caller> caller = authenticator_->RequireSession(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status status = ValidateUuid("grant_id", request.grant_id()); !status.ok()) {
    return status;
  }

  absl::Status revoked = store_->RevokeGrant(caller->account_id, request.grant_id());
  if (!revoked.ok()) {
    return RewordStatus(revoked, absl::StatusCode::kNotFound, kUnknownGrantMessage);
  }
  AnnotateCall(context, "grant_id", request.grant_id());
  return absl::OkStatus();
}

grpc::Status AccessDelegationService::CheckAccess(grpc::ServerContext* context,
                                                  const v1::CheckAccessRequest* request,
                                                  v1::CheckAccessResponse* response) {
  return CompleteRpc(*context, "CheckAccess", DoCheckAccess(*context, *request, *response));
}

absl::Status AccessDelegationService::DoCheckAccess(const grpc::ServerContext& context,
                                                    const v1::CheckAccessRequest& request,
                                                    v1::CheckAccessResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireService(context);
  if (!caller.ok()) return caller.status();
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

  if (absl::AsciiStrToLower(request.account_id()) ==
      absl::AsciiStrToLower(request.owner_account_id())) {
    absl::StatusOr<storage::AccountRecord> owner = store_->GetAccount(request.owner_account_id());
    if (absl::IsNotFound(owner.status())) {
      response.set_allowed(false);
      response.set_reason(v1::CheckAccessResponse::REASON_NO_GRANT);
      return absl::OkStatus();
    }
    if (!owner.ok()) return owner.status();
    response.set_allowed(true);
    response.set_reason(v1::CheckAccessResponse::REASON_OWNER);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<storage::GrantRecord>> grant =
      store_->FindGrant(request.owner_account_id(), request.account_id());
  if (!grant.ok()) return grant.status();
  if (!grant->has_value()) {
    response.set_allowed(false);
    response.set_reason(v1::CheckAccessResponse::REASON_NO_GRANT);
    return absl::OkStatus();
  }
  const storage::GrantRecord& record = **grant;
  const bool allowed = LevelGrants(record.access_level, request.permission());
  response.set_allowed(allowed);
  response.set_reason(allowed ? v1::CheckAccessResponse::REASON_GRANT
                              : v1::CheckAccessResponse::REASON_LEVEL_EXCLUDES_PERMISSION);
  response.set_access_level(record.access_level);
  response.set_grant_id(record.id);
  return absl::OkStatus();
}

}  // namespace accessdelegation::server
