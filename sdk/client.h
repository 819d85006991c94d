#ifndef ACCESSDELEGATION_SDK_CLIENT_H_
#define ACCESSDELEGATION_SDK_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/access_delegation.grpc.pb.h"
#include "accessdelegation/v1/accounts.grpc.pb.h"

namespace accessdelegation::sdk {

// ClientOptions are the settings a Client applies to every call.
struct ClientOptions {
  // Deadline of each call, measured from the moment the call starts. A call still running
  // then fails with DEADLINE_EXCEEDED. absl::InfiniteDuration() sets no deadline.
  absl::Duration default_deadline = absl::Seconds(10);

  // Token sent as the metadata "authorization: Bearer <token>" when non-empty: a session
  // token from SignIn, or a service token issued by the operator. Empty sends no
  // authorization metadata.
  std::string bearer_token;
};

// Client is a blocking client of the Accounts and AccessDelegation services.
//
// Each method sends one unary RPC on the shared channel and returns the response, or the
// call's status as an absl::Status with the same code number and message. Besides the
// codes each RPC documents in the .proto files, any call can fail with DEADLINE_EXCEEDED
// when ClientOptions::default_deadline passes, and with UNAVAILABLE when the server
// cannot be reached. The client never retries.
//
// Credentials: every call carries the bearer token current when the call starts. Service
// RPCs need a service token, and session RPCs need the session_token of a SignIn response.
// The client does not store the token from a SignIn response by itself:
//
//   auto client = accessdelegation::sdk::Client::Connect("127.0.0.1:50051");
//   v1::SignInRequest sign_in;
//   sign_in.set_email("ana@example.org");
//   sign_in.set_password(password);
//   absl::StatusOr<v1::SignInResponse> session = client->SignIn(sign_in);
//   if (!session.ok()) return session.status();
//   client->set_bearer_token(session->session_token());
//   absl::StatusOr<v1::ListGrantsResponse> grants = client->ListGrants();
//
// Thread safety: the RPC methods and set_bearer_token may be called from any number of
// threads at once. A mutex guards the token, and each call copies it when it starts, so a
// call already in flight keeps the token it started with. bearer_token() returns a
// reference that the next set_bearer_token invalidates, so read it only on the thread that
// sets the token, or while no other thread can set it.
class Client {
 public:
  // Connects over plaintext (insecure channel credentials) to `target`, "host:port".
  // The channel connects lazily, so an unreachable target shows up as UNAVAILABLE on the
  // first call rather than here. Never returns null.
  static std::unique_ptr<Client> Connect(const std::string& target, ClientOptions options = {});

  // Creates a client that sends its calls on `channel`, which it shares with the caller.
  explicit Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Replaces the bearer token for calls that start afterwards. An empty token sends no
  // authorization metadata.
  void set_bearer_token(std::string token) ABSL_LOCKS_EXCLUDED(mutex_);

  // Returns the current bearer token. See the class comment for when the reference stays
  // valid.
  const std::string& bearer_token() const ABSL_LOCKS_EXCLUDED(mutex_);

  // Calls Accounts.CreateAccount, which needs a service token.
  absl::StatusOr<v1::CreateAccountResponse> CreateAccount(const v1::CreateAccountRequest& request);
  // Calls Accounts.SignUp, which needs no token because the invitation token is the credential.
  absl::StatusOr<v1::SignUpResponse> SignUp(const v1::SignUpRequest& request);
  // Calls Accounts.SignIn, which needs no token. Leaves this client's bearer token unchanged.
  absl::StatusOr<v1::SignInResponse> SignIn(const v1::SignInRequest& request);
  // Calls Accounts.SignOut with the session token to end. Leaves the bearer token unchanged.
  absl::StatusOr<v1::SignOutResponse> SignOut(const v1::SignOutRequest& request = {});
  // Calls Accounts.GetAccount, which needs a session token.
  absl::StatusOr<v1::GetAccountResponse> GetAccount(const v1::GetAccountRequest& request = {});

  // Calls AccessDelegation.CreateInvitation, which needs the owner's session token.
  absl::StatusOr<v1::CreateInvitationResponse> CreateInvitation(
      const v1::CreateInvitationRequest& request);
  // Calls AccessDelegation.LookupInvitation, which needs no token (the invitation token is
  // the credential).
  absl::StatusOr<v1::LookupInvitationResponse> LookupInvitation(
      const v1::LookupInvitationRequest& request);
  // Calls AccessDelegation.AcceptInvitation, which needs the invitee's session token.
  absl::StatusOr<v1::AcceptInvitationResponse> AcceptInvitation(
      const v1::AcceptInvitationRequest& request);
  // Calls AccessDelegation.ConfirmInvitation, which needs the owner's session token.
  absl::StatusOr<v1::ConfirmInvitationResponse> ConfirmInvitation(
      const v1::ConfirmInvitationRequest& request);
  // Calls AccessDelegation.DenyInvitation, which needs the owner's session token.
  absl::StatusOr<v1::DenyInvitationResponse> DenyInvitation(
      const v1::DenyInvitationRequest& request);
  // Calls AccessDelegation.ListInvitations, which needs the owner's session token.
  absl::StatusOr<v1::ListInvitationsResponse> ListInvitations(
      const v1::ListInvitationsRequest& request = {});
  // Calls AccessDelegation.ListGrants, which needs the owner's session token.
  absl::StatusOr<v1::ListGrantsResponse> ListGrants(const v1::ListGrantsRequest& request = {});
  // Calls AccessDelegation.UpdateGrant, which needs the owner's session token.
  absl::StatusOr<v1::UpdateGrantResponse> UpdateGrant(const v1::UpdateGrantRequest& request);
  // Calls AccessDelegation.RevokeGrant, which needs the owner's session token.
  absl::StatusOr<v1::RevokeGrantResponse> RevokeGrant(const v1::RevokeGrantRequest& request);
  // Calls AccessDelegation.CheckAccess, which needs a service token.
  absl::StatusOr<v1::CheckAccessResponse> CheckAccess(const v1::CheckAccessRequest& request);

 private:
  // Sends `request` through `method` of `stub` with the deadline and the bearer token.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub& stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request) ABSL_LOCKS_EXCLUDED(mutex_);

  const std::shared_ptr<grpc::Channel> channel_;
  const absl::Duration default_deadline_;
  const std::unique_ptr<v1::Accounts::Stub> accounts_;
  const std::unique_ptr<v1::AccessDelegation::Stub> access_delegation_;

  mutable absl::Mutex mutex_;
  std::string bearer_token_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace accessdelegation::sdk

#endif  // ACCESSDELEGATION_SDK_CLIENT_H_
