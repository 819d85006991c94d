#ifndef ACCESSDELEGATION_SERVER_ACCESS_DELEGATION_SERVICE_H_
#define ACCESSDELEGATION_SERVER_ACCESS_DELEGATION_SERVICE_H_

#include <string>

#include "absl/time/time.h"
#include "accessdelegation/v1/access_delegation.grpc.pb.h"
#include "server/auth.h"
#include "server/secrets.h"
#include "storage/store.h"

namespace accessdelegation::server {

// AccessDelegationService implements accessdelegation.v1.AccessDelegation: invitations,
// grants and access checks. Owner methods act only on the signed-in account's own
// record. Uses the synchronous API for the reason given on AccountsService.
class AccessDelegationService final : public v1::AccessDelegation::Service {
 public:
  struct Options {
    absl::Duration invitation_ttl;
    std::string portal_base_url;
  };

  // `store`, `authenticator` and `secret_box` must outlive the service.
  AccessDelegationService(storage::Store* store, const Authenticator* authenticator,
                          const SecretBox* secret_box, Options options);

  grpc::Status CreateInvitation(grpc::ServerContext* context,
                                const v1::CreateInvitationRequest* request,
                                v1::CreateInvitationResponse* response) override;
  grpc::Status LookupInvitation(grpc::ServerContext* context,
                                const v1::LookupInvitationRequest* request,
                                v1::LookupInvitationResponse* response) override;
  grpc::Status AcceptInvitation(grpc::ServerContext* context,
                                const v1::AcceptInvitationRequest* request,
                                v1::AcceptInvitationResponse* response) override;
  grpc::Status ConfirmInvitation(grpc::ServerContext* context,
                                 const v1::ConfirmInvitationRequest* request,
                                 v1::ConfirmInvitationResponse* response) override;
  grpc::Status DenyInvitation(grpc::ServerContext* context,
                              const v1::DenyInvitationRequest* request,
                              v1::DenyInvitationResponse* response) override;
  grpc::Status ListInvitations(grpc::ServerContext* context,
                               const v1::ListInvitationsRequest* request,
                               v1::ListInvitationsResponse* response) override;
  grpc::Status ListGrants(grpc::ServerContext* context, const v1::ListGrantsRequest* request,
                          v1::ListGrantsResponse* response) override;
  grpc::Status UpdateGrant(grpc::ServerContext* context, const v1::UpdateGrantRequest* request,
                           v1::UpdateGrantResponse* response) override;
  grpc::Status RevokeGrant(grpc::ServerContext* context, const v1::RevokeGrantRequest* request,
                           v1::RevokeGrantResponse* response) override;
  grpc::Status CheckAccess(grpc::ServerContext* context, const v1::CheckAccessRequest* request,
                           v1::CheckAccessResponse* response) override;

 private:
  absl::Status DoCreateInvitation(const grpc::ServerContext& context,
                                  const v1::CreateInvitationRequest& request,
                                  v1::CreateInvitationResponse& response);
  absl::Status DoLookupInvitation(const v1::LookupInvitationRequest& request,
                                  v1::LookupInvitationResponse& response);
  absl::Status DoAcceptInvitation(const grpc::ServerContext& context,
                                  const v1::AcceptInvitationRequest& request,
                                  v1::AcceptInvitationResponse& response);
  absl::Status DoConfirmInvitation(const grpc::ServerContext& context,
                                   const v1::ConfirmInvitationRequest& request,
                                   v1::ConfirmInvitationResponse& response);
  absl::Status DoDenyInvitation(const grpc::ServerContext& context,
                                const v1::DenyInvitationRequest& request,
                                v1::DenyInvitationResponse& response);
  absl::Status DoListInvitations(const grpc::ServerContext& context,
                                 const v1::ListInvitationsRequest& request,
                                 v1::ListInvitationsResponse& response);
  absl::Status DoListGrants(const grpc::ServerContext& context,
                            v1::ListGrantsResponse& response);
  absl::Status DoUpdateGrant(const grpc::ServerContext& context,
                             const v1::UpdateGrantRequest& request,
                             v1::UpdateGrantResponse& response);
  absl::Status DoRevokeGrant(const grpc::ServerContext& context,
                             const v1::RevokeGrantRequest& request);
  absl::Status DoCheckAccess(const grpc::ServerContext& context,
                             const v1::CheckAccessRequest& request,
                             v1::CheckAccessResponse& response);

  storage::Store* const store_;
  const Authenticator* const authenticator_;
  const SecretBox* const secret_box_;
  const Options options_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_ACCESS_DELEGATION_SERVICE_H_
