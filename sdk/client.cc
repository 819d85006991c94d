#include "sdk/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <utility>

namespace accessdelegation::sdk {
namespace {

// The numbers of grpc::StatusCode and absl::StatusCode are the same canonical codes.
absl::Status ToAbslStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace

std::unique_ptr<Client> Client::Connect(const std::string& target, ClientOptions options) {
  return std::make_unique<Client>(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()),
                                  std::move(options));
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      default_deadline_(options.default_deadline),
      accounts_(v1::Accounts::NewStub(channel_)),
      access_delegation_(v1::AccessDelegation::NewStub(channel_)),
      bearer_token_(std::move(options.bearer_token)) {}

void Client::set_bearer_token(std::string token) {
  absl::MutexLock lock(&mutex_);
  bearer_token_ = std::move(token);
}

const std::string& Client::bearer_token() const {
  absl::MutexLock lock(&mutex_);
  return bearer_token_;
}

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Client::Call(Stub& stub,
                                      grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                                      const Request& request) {
  std::string token;
  {
    absl::MutexLock lock(&mutex_);
    token = bearer_token_;
  }

  grpc::ClientContext context;
  if (default_deadline_ != absl::InfiniteDuration()) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + default_deadline_));
  }
  if (!token.empty()) {
    context.AddMetadata("authorization", "Bearer " + token);
  }

  Response response;
  grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) {
    return ToAbslStatus(status);
  }
  return response;
}

absl::StatusOr<v1::CreateAccountResponse> Client::CreateAccount(
    const v1::CreateAccountRequest& request) {
  return Call(*accounts_, &v1::Accounts::Stub::CreateAccount, request);
}

absl::StatusOr<v1::SignUpResponse> Client::SignUp(const v1::SignUpRequest& request) {
  return Call(*accounts_, &v1::Accounts::Stub::SignUp, request);
}

absl::StatusOr<v1::SignInResponse> Client::SignIn(const v1::SignInRequest& request) {
  return Call(*accounts_, &v1::Accounts::Stub::SignIn, request);
}

absl::StatusOr<v1::SignOutResponse> Client::SignOut(const v1::SignOutRequest& request) {
  return Call(*accounts_, &v1::Accounts::Stub::SignOut, request);
}

absl::StatusOr<v1::GetAccountResponse> Client::GetAccount(const v1::GetAccountRequest& request) {
  return Call(*accounts_, &v1::Accounts::Stub::GetAccount, request);
}

absl::StatusOr<v1::CreateInvitationResponse> Client::CreateInvitation(
    const v1::CreateInvitationRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::CreateInvitation, request);
}

absl::StatusOr<v1::LookupInvitationResponse> Client::LookupInvitation(
    const v1::LookupInvitationRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::LookupInvitation, request);
}

absl::StatusOr<v1::AcceptInvitationResponse> Client::AcceptInvitation(
    const v1::AcceptInvitationRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::AcceptInvitation, request);
}

absl::StatusOr<v1::ConfirmInvitationResponse> Client::ConfirmInvitation(
    const v1::ConfirmInvitationRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::ConfirmInvitation, request);
}

absl::StatusOr<v1::DenyInvitationResponse> Client::DenyInvitation(
    const v1::DenyInvitationRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::DenyInvitation, request);
}

absl::StatusOr<v1::ListInvitationsResponse> Client::ListInvitations(
    const v1::ListInvitationsRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::ListInvitations, request);
}

absl::StatusOr<v1::ListGrantsResponse> Client::ListGrants(const v1::ListGrantsRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::ListGrants, request);
}

absl::StatusOr<v1::UpdateGrantResponse> Client::UpdateGrant(const v1::UpdateGrantRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::UpdateGrant, request);
}

absl::StatusOr<v1::RevokeGrantResponse> Client::RevokeGrant(const v1::RevokeGrantRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::RevokeGrant, request);
}

absl::StatusOr<v1::CheckAccessResponse> Client::CheckAccess(const v1::CheckAccessRequest& request) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::CheckAccess, request);
}

}  // namespace accessdelegation::sdk
