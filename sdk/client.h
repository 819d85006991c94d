#ifndef ACCESSDELEGATION_SDK_CLIENT_H_
#define ACCESSDELEGATION_SDK_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/access_delegation.grpc.pb.h"
#include "accessdelegation/v1/access_history.grpc.pb.h"
#include "accessdelegation/v1/accounts.grpc.pb.h"
#include "accessdelegation/v1/operations.grpc.pb.h"

// C++ client of the AccessDelegation API.
//
// Connect over plaintext to a server on loopback, or over TLS to any other:
//
//   namespace sdk = accessdelegation::sdk;
//   std::unique_ptr<sdk::Client> client = sdk::Client::Connect("127.0.0.1:50051");
//
//   sdk::ClientOptions options;
//   options.tls = sdk::TlsOptions{};
//   options.tls->root_certificates_pem = ReadFile("/etc/accessdelegation/ca.pem");
//   std::unique_ptr<sdk::Client> secure = sdk::Client::Connect("ad.example.org:443", options);
//
// Sign in and reuse the session token for later calls:
//
//   v1::SignInRequest sign_in;
//   sign_in.set_email("ana@example.org");
//   sign_in.set_password(password);
//   absl::StatusOr<v1::SignInResponse> session = client->SignIn(sign_in);
//   if (!session.ok()) return session.status();
//   client->set_bearer_token(session->session_token());
//   absl::StatusOr<v1::ListGrantsResponse> grants = client->ListGrants();
//
// Check access from a back end with a service token:
//
//   sdk::ClientOptions options;
//   options.bearer_token = service_token;
//   std::unique_ptr<sdk::Client> service = sdk::Client::Connect(target, options);
//   v1::CheckAccessRequest check;
//   check.set_account_id(delegate_id);
//   check.set_owner_account_id(owner_id);
//   check.set_permission(v1::PERMISSION_VIEW_BILLING);
//   absl::StatusOr<v1::CheckAccessResponse> access = service->CheckAccess(check);
//   if (access.ok() && access->allowed()) ShowBilling(owner_id);
//
// Handle errors by code. Each method returns the call's gRPC status as an absl::Status
// with the same code number and message. The codes each RPC returns are listed in the
// .proto files:
//
//   absl::StatusOr<v1::RevokeGrantResponse> revoked = client->RevokeGrant(request);
//   if (absl::IsNotFound(revoked.status())) {
//     // Already revoked, or not this owner's grant: nothing left to do.
//   } else if (absl::IsUnauthenticated(revoked.status())) {
//     // The session expired: sign in again.
//   } else if (absl::IsUnavailable(revoked.status())) {
//     // The server or its database is down and retries ran out: try again later.
//   } else if (!revoked.ok()) {
//     return revoked.status();
//   }
//
// A RESOURCE_EXHAUSTED status (a rate limit or lockout) carries the server's retry delay
// as a payload: a serialized google.rpc.RetryInfo under the type URL
// "type.googleapis.com/google.rpc.RetryInfo". Every detail of the server's status
// details is kept this way, under its type URL.
//
// Tag a call with a request id, which the server writes to its access log:
//
//   sdk::CallOptions call;
//   call.request_id = "billing-7f3a9c";
//   call.deadline = absl::Seconds(2);
//   absl::StatusOr<v1::CheckAccessResponse> access = service->CheckAccess(check, call);
namespace accessdelegation::sdk {

// RetryPolicy sets how a Client retries a call that fails with UNAVAILABLE, which means the
// server could not be reached or could not reach its database.
//
// Only RPCs that are safe to repeat are retried by default: the reads LookupInvitation,
// GetAccount, ListInvitations, ListGrants, ListDelegatedAccess, CheckAccess,
// ListAuditEvents and ListFailedEmails, and SignOut. Every other RPC changes state, and a
// write whose response was lost may have been applied, so it is retried only when
// CallOptions::retry_write is true. No other code is retried.
//
// Waits between attempts grow exponentially: the n-th retry waits
// min(initial_backoff * backoff_multiplier^(n-1), max_backoff), scaled by a random factor
// in [1 - jitter, 1 + jitter] so that many clients do not retry in step. All attempts of a
// call share the call's deadline: the client does not start a wait that would end after
// the deadline, and returns the last UNAVAILABLE instead.
struct RetryPolicy {
  // Maximum number of attempts of one call, the first included. 1 or less turns retries off.
  int max_attempts = 4;
  // Wait before the first retry, before jitter.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  // Maximum wait between two attempts, before jitter.
  absl::Duration max_backoff = absl::Seconds(2);
  // Factor by which the wait grows after each retry. Values below 1 count as 1.
  double backoff_multiplier = 2.0;
  // Fraction by which each wait is randomly shortened or lengthened, from 0 (no jitter)
  // to 1. Values outside that range are clamped into it.
  double jitter = 0.2;
};

// TlsOptions are the credentials of a TLS channel. Each field contains PEM text, not a path.
struct TlsOptions {
  // Certificates of the CAs that may sign the server's certificate. Empty trusts gRPC's
  // default roots: the file in GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, or the roots built into
  // gRPC.
  std::string root_certificates_pem;
  // Client certificate chain for mutual TLS. Set it together with private_key_pem, or
  // leave both empty to send no client certificate.
  std::string certificate_chain_pem;
  // Private key of certificate_chain_pem.
  std::string private_key_pem;
  // Host name that the server's certificate must match, in place of the host in the
  // target. Empty matches the target's host. Meant for tests and for servers reached
  // through an address that is not in their certificate.
  std::string target_name_override;
};

// ClientOptions are the settings a Client applies to every call.
struct ClientOptions {
  // Deadline of each call, measured from the moment the call starts, retries included. A
  // call still running then fails with DEADLINE_EXCEEDED. absl::InfiniteDuration() sets no
  // deadline. CallOptions::deadline overrides it for one call.
  absl::Duration default_deadline = absl::Seconds(10);

  // Token sent as the metadata "authorization: Bearer <token>" when non-empty: a session
  // token from SignIn, or a service token issued by the operator. Empty sends no
  // authorization metadata.
  std::string bearer_token;

  // Retry policy of calls that fail with UNAVAILABLE.
  RetryPolicy retry;

  // TLS credentials for Client::Connect. Unset connects over plaintext, which is fit only
  // for loopback or a network that a proxy secures. The Client constructor ignores it,
  // because the caller's channel already carries its credentials.
  std::optional<TlsOptions> tls;
};

// CallOptions are the settings of one call, passed as the last argument of any method.
struct CallOptions {
  // Deadline of this call, retries included, in place of ClientOptions::default_deadline.
  std::optional<absl::Duration> deadline;

  // Identifier of this call, sent as the metadata "x-request-id" on every attempt when
  // non-empty. The server writes it to its access log and returns it in the response
  // metadata. It must be at most 64 printable ASCII characters without spaces, and any
  // other value fails the call with INVALID_ARGUMENT before it is sent. Empty lets the
  // server generate one.
  std::string request_id;

  // Retries a write RPC that fails with UNAVAILABLE, as reads are retried. Set it when the
  // request carries a request_id field, with which the server answers a repeat with the
  // first response, or when applying the write twice is harmless, or when the caller
  // handles the code that a repeated write returns, such as ALREADY_EXISTS from
  // CreateAccount. Has no effect on reads, which are always retried.
  bool retry_write = false;
};

// Client is a blocking client of the Accounts, AccessDelegation and Operations services.
//
// Each method sends one unary RPC on the shared channel, retrying as RetryPolicy describes, and
// returns the response or the last attempt's status as an absl::Status with the same code
// number and message. Besides the codes each RPC documents in the .proto files, any call
// can fail with DEADLINE_EXCEEDED when its deadline passes, with UNAVAILABLE when the
// server cannot be reached, and with INVALID_ARGUMENT when CallOptions::request_id or
// ClientOptions::tls is invalid, in which case nothing is sent.
//
// Credentials: every call carries the bearer token current when the call starts. Service
// RPCs need a service token, and session RPCs need the session_token of a SignIn response.
// The client does not store the token from a SignIn response by itself.
//
// Thread safety: the RPC methods and set_bearer_token may be called from any number of
// threads at once. A mutex guards the token, and each call copies it when it starts, so a
// call already in flight keeps the token it started with. bearer_token() returns a
// reference that the next set_bearer_token invalidates, so read it only on the thread that
// sets the token, or while no other thread can set it.
class Client {
 public:
  // Connects to `target`, "host:port", over TLS when options.tls is set and over
  // plaintext otherwise. The channel connects lazily, so an unreachable target shows up as
  // UNAVAILABLE on the first call rather than here. Never returns null. When options.tls
  // is invalid (a certificate without its key or the reverse, or text that is not PEM),
  // every call of the returned client fails with INVALID_ARGUMENT that names the field.
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
  absl::StatusOr<v1::CreateAccountResponse> CreateAccount(const v1::CreateAccountRequest& request,
                                                          const CallOptions& call = {});
  // Calls Accounts.SignUp, which needs no token because the invitation token is the credential.
  absl::StatusOr<v1::SignUpResponse> SignUp(const v1::SignUpRequest& request,
                                            const CallOptions& call = {});
  // Calls Accounts.SignIn, which needs no token. Leaves this client's bearer token unchanged.
  absl::StatusOr<v1::SignInResponse> SignIn(const v1::SignInRequest& request,
                                            const CallOptions& call = {});
  // Calls Accounts.SignOut with the session token to end. Leaves the bearer token unchanged.
  // NOTE: SignOut is retried on UNAVAILABLE. When an attempt that ended the session lost
  // its response, the retry fails with UNAUTHENTICATED although the session did end.
  absl::StatusOr<v1::SignOutResponse> SignOut(const v1::SignOutRequest& request = {},
                                              const CallOptions& call = {});
  // Calls Accounts.GetAccount, which needs a session token.
  absl::StatusOr<v1::GetAccountResponse> GetAccount(const v1::GetAccountRequest& request = {},
                                                    const CallOptions& call = {});
  // Calls Accounts.ChangePassword, which needs a session token. A write: retried only with
  // CallOptions.retry_write.
  absl::StatusOr<v1::ChangePasswordResponse> ChangePassword(
      const v1::ChangePasswordRequest& request, const CallOptions& call = {});
  // Calls Accounts.DeleteAccount, which needs a session token, or a service token and an
  // account_id. A write: retried only with CallOptions.retry_write.
  absl::StatusOr<v1::DeleteAccountResponse> DeleteAccount(
      const v1::DeleteAccountRequest& request = {}, const CallOptions& call = {});
  // Calls AccessHistory.ListAuditEvents, which needs a session or a service token.
  // NOTE: the client has no method for the server stream AccessHistory.WatchAccessChanges.
  // Call it on a v1::AccessHistory::Stub over a channel to the same target.
  absl::StatusOr<v1::ListAuditEventsResponse> ListAuditEvents(
      const v1::ListAuditEventsRequest& request = {}, const CallOptions& call = {});

  // Calls AccessDelegation.CreateInvitation, which needs the owner's session token, or a
  // service token and the request's owner_account_id.
  absl::StatusOr<v1::CreateInvitationResponse> CreateInvitation(
      const v1::CreateInvitationRequest& request, const CallOptions& call = {});
  // Calls AccessDelegation.LookupInvitation, which needs no token (the invitation token is
  // the credential).
  absl::StatusOr<v1::LookupInvitationResponse> LookupInvitation(
      const v1::LookupInvitationRequest& request, const CallOptions& call = {});
  // Calls AccessDelegation.AcceptInvitation, which needs the invitee's session token.
  absl::StatusOr<v1::AcceptInvitationResponse> AcceptInvitation(
      const v1::AcceptInvitationRequest& request, const CallOptions& call = {});
  // Calls AccessDelegation.ConfirmInvitation, which needs the owner's session token, or a
  // service token and the request's owner_account_id.
  absl::StatusOr<v1::ConfirmInvitationResponse> ConfirmInvitation(
      const v1::ConfirmInvitationRequest& request, const CallOptions& call = {});
  // Calls AccessDelegation.DenyInvitation, which needs the owner's session token, or a
  // service token and the request's owner_account_id.
  absl::StatusOr<v1::DenyInvitationResponse> DenyInvitation(
      const v1::DenyInvitationRequest& request, const CallOptions& call = {});
  // Calls AccessDelegation.ListInvitations, which needs the owner's session token, or a
  // service token and the request's owner_account_id.
  absl::StatusOr<v1::ListInvitationsResponse> ListInvitations(
      const v1::ListInvitationsRequest& request = {}, const CallOptions& call = {});
  // Calls AccessDelegation.ListGrants, which needs the owner's session token, or a
  // service token and the request's owner_account_id.
  absl::StatusOr<v1::ListGrantsResponse> ListGrants(const v1::ListGrantsRequest& request = {},
                                                    const CallOptions& call = {});
  // Calls AccessDelegation.UpdateGrant, which needs the owner's session token, or a
  // service token and the request's owner_account_id.
  absl::StatusOr<v1::UpdateGrantResponse> UpdateGrant(const v1::UpdateGrantRequest& request,
                                                      const CallOptions& call = {});
  // Calls AccessDelegation.RevokeGrant, which needs the owner's session token, or a
  // service token and the request's owner_account_id.
  absl::StatusOr<v1::RevokeGrantResponse> RevokeGrant(const v1::RevokeGrantRequest& request,
                                                      const CallOptions& call = {});
  // Calls AccessDelegation.DeclineInvitation, which needs no token (the invitation token is
  // the credential).
  absl::StatusOr<v1::DeclineInvitationResponse> DeclineInvitation(
      const v1::DeclineInvitationRequest& request, const CallOptions& call = {});
  // Calls AccessDelegation.ResendInvitation, which needs the owner's session token, or a
  // service token and the request's owner_account_id.
  absl::StatusOr<v1::ResendInvitationResponse> ResendInvitation(
      const v1::ResendInvitationRequest& request, const CallOptions& call = {});
  // Calls AccessDelegation.CancelInvitation, which needs the owner's session token, or a
  // service token and the request's owner_account_id.
  absl::StatusOr<v1::CancelInvitationResponse> CancelInvitation(
      const v1::CancelInvitationRequest& request, const CallOptions& call = {});
  // Calls AccessDelegation.LeaveGrant, which needs the delegate's session token.
  absl::StatusOr<v1::LeaveGrantResponse> LeaveGrant(const v1::LeaveGrantRequest& request,
                                                    const CallOptions& call = {});
  // Calls AccessDelegation.ListDelegatedAccess, which needs a session token.
  absl::StatusOr<v1::ListDelegatedAccessResponse> ListDelegatedAccess(
      const v1::ListDelegatedAccessRequest& request = {}, const CallOptions& call = {});
  // Calls AccessDelegation.CheckAccess, which needs a service token.
  absl::StatusOr<v1::CheckAccessResponse> CheckAccess(const v1::CheckAccessRequest& request,
                                                      const CallOptions& call = {});

  // Calls Operations.ListFailedEmails, which needs a service token.
  absl::StatusOr<v1::ListFailedEmailsResponse> ListFailedEmails(
      const v1::ListFailedEmailsRequest& request = {}, const CallOptions& call = {});
  // Calls Operations.RetryEmail, which needs a service token.
  absl::StatusOr<v1::RetryEmailResponse> RetryEmail(const v1::RetryEmailRequest& request,
                                                    const CallOptions& call = {});

 private:
  // Idempotency of an RPC, which decides whether UNAVAILABLE is retried by default.
  enum class Idempotency { kRead, kWrite };

  // One attempt of a call: sends the RPC on a prepared context and fills the response.
  using Attempt = std::function<grpc::Status(grpc::ClientContext&)>;

  // Sends `request` through `method` of `stub` with retries, the deadline, the bearer token
  // and the request id.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub& stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request, const CallOptions& call,
                                Idempotency idempotency) ABSL_LOCKS_EXCLUDED(mutex_);

  // Runs `attempt` until it succeeds, fails with a code that is not retried, or runs out
  // of attempts or time, and returns its last status.
  absl::Status RunWithRetries(const Attempt& attempt, const CallOptions& call,
                              Idempotency idempotency) ABSL_LOCKS_EXCLUDED(mutex_);

  const std::shared_ptr<grpc::Channel> channel_;
  const absl::Duration default_deadline_;
  const RetryPolicy retry_;
  const std::unique_ptr<v1::Accounts::Stub> accounts_;
  const std::unique_ptr<v1::AccessDelegation::Stub> access_delegation_;
  const std::unique_ptr<v1::AccessHistory::Stub> access_history_;
  const std::unique_ptr<v1::Operations::Stub> operations_;

  // Error that every call returns without being sent, when Connect got invalid options,
  // and OK otherwise. Set only before Connect returns the client.
  absl::Status options_status_;

  mutable absl::Mutex mutex_;
  std::string bearer_token_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace accessdelegation::sdk

#endif  // ACCESSDELEGATION_SDK_CLIENT_H_
