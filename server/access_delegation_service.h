#ifndef ACCESSDELEGATION_SERVER_ACCESS_DELEGATION_SERVICE_H_
#define ACCESSDELEGATION_SERVER_ACCESS_DELEGATION_SERVICE_H_

#include <string>

#include "absl/time/time.h"
#include "accessdelegation/v1/access_delegation.grpc.pb.h"
#include "server/auth.h"
#include "server/grant_view.h"
#include "server/page_tokens.h"
#include "server/password_hasher.h"
#include "server/peer_throttle.h"
#include "server/secrets.h"
#include "server/work_queue.h"
#include "storage/store.h"

namespace accessdelegation::server {

// AccessDelegationService implements accessdelegation.v1.AccessDelegation: invitations,
// grants and access checks. Owner methods act on the signed-in account's own record, or,
// with a service token, on the record named by owner_account_id. Uses the synchronous API
// for the reason given on AccountsService, except for CheckAccess: most checks are
// served from memory, and gRPC's callback API serves them without a hand-off to
// another thread.
class AccessDelegationService final
    : public v1::AccessDelegation::WithCallbackMethod_CheckAccess<v1::AccessDelegation::Service> {
 public:
  struct Options {
    absl::Duration invitation_ttl;
    std::string portal_base_url;
    int invitations_per_owner_per_day = 0;  // 0 for no limit.
  };

  // `store`, `grant_view`, `password_hasher`, `authenticator`, `secret_box` and
  // `token_peers` must outlive the service. CheckAccess reads `grant_view`, and every
  // write that changes a grant updates it before it replies. Invitation passcodes are
  // hashed and checked on `password_hasher`'s pool, as passwords are. `token_peers`
  // counts, per peer address, invitation tokens that find no live invitation.
  AccessDelegationService(storage::Store* store, GrantView* grant_view,
                          PasswordHasher* password_hasher, const Authenticator* authenticator,
                          const SecretBox* secret_box, Options options, PeerThrottle* token_peers);

  grpc::Status CreateInvitation(grpc::ServerContext* context,
                                const v1::CreateInvitationRequest* request,
                                v1::CreateInvitationResponse* response) override;
  grpc::Status LookupInvitation(grpc::ServerContext* context,
                                const v1::LookupInvitationRequest* request,
                                v1::LookupInvitationResponse* response) override;
  grpc::Status AcceptInvitation(grpc::ServerContext* context,
                                const v1::AcceptInvitationRequest* request,
                                v1::AcceptInvitationResponse* response) override;
  grpc::Status DeclineInvitation(grpc::ServerContext* context,
                                 const v1::DeclineInvitationRequest* request,
                                 v1::DeclineInvitationResponse* response) override;
  grpc::Status ConfirmInvitation(grpc::ServerContext* context,
                                 const v1::ConfirmInvitationRequest* request,
                                 v1::ConfirmInvitationResponse* response) override;
  grpc::Status DenyInvitation(grpc::ServerContext* context,
                              const v1::DenyInvitationRequest* request,
                              v1::DenyInvitationResponse* response) override;
  grpc::Status ResendInvitation(grpc::ServerContext* context,
                                const v1::ResendInvitationRequest* request,
                                v1::ResendInvitationResponse* response) override;
  grpc::Status CancelInvitation(grpc::ServerContext* context,
                                const v1::CancelInvitationRequest* request,
                                v1::CancelInvitationResponse* response) override;
  grpc::Status ListInvitations(grpc::ServerContext* context,
                               const v1::ListInvitationsRequest* request,
                               v1::ListInvitationsResponse* response) override;
  grpc::Status ListGrants(grpc::ServerContext* context, const v1::ListGrantsRequest* request,
                          v1::ListGrantsResponse* response) override;
  grpc::Status UpdateGrant(grpc::ServerContext* context, const v1::UpdateGrantRequest* request,
                           v1::UpdateGrantResponse* response) override;
  grpc::Status RevokeGrant(grpc::ServerContext* context, const v1::RevokeGrantRequest* request,
                           v1::RevokeGrantResponse* response) override;
  grpc::Status LeaveGrant(grpc::ServerContext* context, const v1::LeaveGrantRequest* request,
                          v1::LeaveGrantResponse* response) override;
  grpc::Status ListDelegatedAccess(grpc::ServerContext* context,
                                   const v1::ListDelegatedAccessRequest* request,
                                   v1::ListDelegatedAccessResponse* response) override;
  // Responds on gRPC's thread when the grant view contains the result and the caller is a
  // service known without a database read. Otherwise it responds on the check queue's threads.
  grpc::ServerUnaryReactor* CheckAccess(grpc::CallbackServerContext* context,
                                        const v1::CheckAccessRequest* request,
                                        v1::CheckAccessResponse* response) override;

 private:
  // OwnerCall is an authorized call of an owner RPC.
  struct OwnerCall {
    Caller caller;
    std::string owner_id;  // The record the call acts on.
    storage::Actor actor;
  };

  // Authorizes an owner RPC: a session acts on its own record (`owner_account_id` empty
  // or its own id, else PERMISSION_DENIED); a service must name an existing owner
  // (INVALID_ARGUMENT if empty or malformed, NOT_FOUND if no such account).
  absl::StatusOr<OwnerCall> AuthorizeOwner(const grpc::ServerContext& context,
                                           const std::string& owner_account_id) const;

  // OwnerChange is an authorized owner call that changes one invitation or grant.
  struct OwnerChange {
    OwnerCall call;
    storage::ExpectedVersion expected;  // From the request's etag; unset when it is empty.
  };

  // Authorizes an owner call as AuthorizeOwner does, then checks, in this order, that
  // `id` (the request field `id_field`) is a UUID, the etag and the request id.
  absl::StatusOr<OwnerChange> AuthorizeOwnerChange(const grpc::ServerContext& context,
                                                   const std::string& owner_account_id,
                                                   absl::string_view id_field,
                                                   const std::string& id, const std::string& etag,
                                                   const std::string& request_id) const;

  absl::Status DoCreateInvitation(const grpc::ServerContext& context,
                                  const v1::CreateInvitationRequest& request,
                                  v1::CreateInvitationResponse& response);
  absl::Status DoLookupInvitation(const grpc::ServerContext& context,
                                  const v1::LookupInvitationRequest& request,
                                  v1::LookupInvitationResponse& response);
  // Checks the passcode of the invitation behind `token_hash`, if it has one. Returns OK
  // when none is needed or it is correct, and INVALID_ARGUMENT when it is malformed, or
  // missing for an invitation with a passcode. Returns PERMISSION_DENIED, whatever the
  // passcode, when the caller's email is not the invited one, and PERMISSION_DENIED with
  // the tries left when the passcode is wrong. Returns FAILED_PRECONDITION when this
  // wrong passcode canceled the invitation.
  absl::Status CheckPasscode(const grpc::ServerContext& context, const Caller& caller,
                             const std::string& token_hash, const std::string& passcode);
  // Returns `status`, counting it against the call's peer address when it is NOT_FOUND.
  absl::Status CountTokenFailure(const grpc::ServerContext& context, const std::string& peer,
                                 absl::Status status);
  absl::Status DoAcceptInvitation(const grpc::ServerContext& context,
                                  const v1::AcceptInvitationRequest& request,
                                  v1::AcceptInvitationResponse& response);
  absl::Status DoDeclineInvitation(const grpc::ServerContext& context,
                                   const v1::DeclineInvitationRequest& request);
  absl::Status DoConfirmInvitation(const grpc::ServerContext& context,
                                   const v1::ConfirmInvitationRequest& request,
                                   v1::ConfirmInvitationResponse& response);
  absl::Status DoDenyInvitation(const grpc::ServerContext& context,
                                const v1::DenyInvitationRequest& request,
                                v1::DenyInvitationResponse& response);
  absl::Status DoResendInvitation(const grpc::ServerContext& context,
                                  const v1::ResendInvitationRequest& request,
                                  v1::ResendInvitationResponse& response);
  absl::Status DoCancelInvitation(const grpc::ServerContext& context,
                                  const v1::CancelInvitationRequest& request,
                                  v1::CancelInvitationResponse& response);
  absl::Status DoListInvitations(const grpc::ServerContext& context,
                                 const v1::ListInvitationsRequest& request,
                                 v1::ListInvitationsResponse& response);
  absl::Status DoListGrants(const grpc::ServerContext& context,
                            const v1::ListGrantsRequest& request,
                            v1::ListGrantsResponse& response);
  absl::Status DoUpdateGrant(const grpc::ServerContext& context,
                             const v1::UpdateGrantRequest& request,
                             v1::UpdateGrantResponse& response);
  absl::Status DoRevokeGrant(const grpc::ServerContext& context,
                             const v1::RevokeGrantRequest& request,
                             v1::RevokeGrantResponse& response);
  absl::Status DoLeaveGrant(const grpc::ServerContext& context,
                            const v1::LeaveGrantRequest& request,
                            v1::LeaveGrantResponse& response);

  // Updates the grant view after a committed change to the pair's grant and returns the
  // change's consistency token; empty if the position could not be read.
  std::string FinishGrantChange(const grpc::ServerContext& context, const std::string& owner_id,
                                const std::string& delegate_id);
  absl::Status DoListDelegatedAccess(const grpc::ServerContext& context,
                                     const v1::ListDelegatedAccessRequest& request,
                                     v1::ListDelegatedAccessResponse& response);
  // Validates the check's fields and sets `min_position` from its consistency token.
  static absl::Status ValidateCheckAccess(const v1::CheckAccessRequest& request,
                                          uint64_t& min_position);
  // Returns whether the check is about the owner's own record.
  static bool IsOwnerCheck(const v1::CheckAccessRequest& request);
  static void SetOwnerAnswer(const GrantView::AccountAnswer& owner,
                             v1::CheckAccessResponse& response);
  static void SetGrantAnswer(const GrantView::GrantAnswer& answer, v1::Permission permission,
                             v1::CheckAccessResponse& response);
  // Sets the response of a valid check from the grant view alone and returns true, or
  // returns false when the result needs a wait or a database read.
  bool AnswerCheckFromView(const v1::CheckAccessRequest& request, uint64_t min_position,
                           v1::CheckAccessResponse& response);
  // Performs the check, reading the database when the view does not contain the result.
  // Authenticates the caller unless `authenticated` is true because CheckAccess already did.
  absl::Status DoCheckAccess(const grpc::ServerContextBase& context,
                             const v1::CheckAccessRequest& request, bool authenticated,
                             v1::CheckAccessResponse& response);

  storage::Store* const store_;
  GrantView* const grant_view_;
  PasswordHasher* const password_hasher_;
  const Authenticator* const authenticator_;
  const SecretBox* const secret_box_;
  const PageTokens page_tokens_;
  const Options options_;
  PeerThrottle* const token_peers_;
  // Runs the checks that block: on a database read, or on a wait for a consistency token.
  // Last, so that its destructor runs the queued checks while the rest is still alive.
  WorkQueue check_queue_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_ACCESS_DELEGATION_SERVICE_H_
