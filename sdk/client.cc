#include "sdk/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/rpc/status.pb.h"

namespace accessdelegation::sdk {
namespace {

// Metadata key of the request id, which the server reads and echoes.
constexpr char kRequestIdKey[] = "x-request-id";

// Maximum length of a request id that the server keeps as sent. It replaces longer ones
// with an id of its own.
constexpr size_t kMaxRequestIdLength = 64;

// The numbers of grpc::StatusCode and absl::StatusCode are the same canonical codes. Each
// detail of a google.rpc.Status in the error details becomes a payload under its type URL.
absl::Status ToAbslStatus(const grpc::Status& status) {
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status details;
  if (result.ok() || status.error_details().empty() ||
      !details.ParseFromString(status.error_details())) {
    return result;
  }
  for (const google::protobuf::Any& detail : details.details()) {
    result.SetPayload(detail.type_url(), absl::Cord(detail.value()));
  }
  return result;
}

absl::Status ValidateRequestId(const std::string& request_id) {
  if (request_id.size() > kMaxRequestIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("CallOptions.request_id is ",
                                                   request_id.size(), " characters long; the max is ",
                                                   kMaxRequestIdLength));
  }
  for (char c : request_id) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "CallOptions.request_id contains a space, a control character or a non-ASCII byte; "
          "use printable ASCII only");
    }
  }
  return absl::OkStatus();
}

// Returns INVALID_ARGUMENT when a non-empty `pem` field is not PEM text, which happens
// when a caller passes a file path instead of the file's contents.
absl::Status ValidatePem(const char* field, const std::string& pem) {
  if (pem.empty() || absl::StrContains(pem, "-----BEGIN ")) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("ClientOptions.tls.", field,
                   " is not PEM text (no \"-----BEGIN \" line); pass the file's contents, not "
                   "its path"));
}

absl::Status ValidateTls(const TlsOptions& tls) {
  if (tls.certificate_chain_pem.empty() != tls.private_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "ClientOptions.tls: set certificate_chain_pem and private_key_pem together for mutual "
        "TLS, or neither");
  }
  for (const auto& [field, pem] : {std::pair<const char*, const std::string&>{
                                       "root_certificates_pem", tls.root_certificates_pem},
                                   {"certificate_chain_pem", tls.certificate_chain_pem},
                                   {"private_key_pem", tls.private_key_pem}}) {
    if (absl::Status status = ValidatePem(field, pem); !status.ok()) return status;
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> CreateTlsChannel(const std::string& target, const TlsOptions& tls) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls.root_certificates_pem;
  ssl.pem_cert_chain = tls.certificate_chain_pem;
  ssl.pem_private_key = tls.private_key_pem;

  grpc::ChannelArguments arguments;
  if (!tls.target_name_override.empty()) {
    arguments.SetSslTargetNameOverride(tls.target_name_override);
  }
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), arguments);
}

// Backoff yields the waits between the attempts of one call, as RetryPolicy describes.
// Not thread-safe, so each call makes its own.
class Backoff {
 public:
  explicit Backoff(const RetryPolicy& policy)
      : next_(policy.initial_backoff),
        max_(policy.max_backoff),
        multiplier_(std::max(1.0, policy.backoff_multiplier)),
        jitter_(std::clamp(policy.jitter, 0.0, 1.0)) {}

  // Returns the wait before the next retry.
  absl::Duration Next() {
    const absl::Duration base = std::min(next_, max_);
    next_ = std::min(next_ * multiplier_, max_);
    if (jitter_ == 0) return base;
    return base * absl::Uniform(bits_, 1.0 - jitter_, 1.0 + jitter_);
  }

 private:
  absl::Duration next_;
  const absl::Duration max_;
  const double multiplier_;
  const double jitter_;
  absl::BitGen bits_;
};

}  // namespace

std::unique_ptr<Client> Client::Connect(const std::string& target, ClientOptions options) {
  if (!options.tls.has_value()) {
    return std::make_unique<Client>(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()),
                                    std::move(options));
  }

  absl::Status tls_status = ValidateTls(*options.tls);
  std::shared_ptr<grpc::Channel> channel = CreateTlsChannel(target, *options.tls);
  auto client = std::make_unique<Client>(std::move(channel), std::move(options));
  client->options_status_ = std::move(tls_status);
  return client;
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      default_deadline_(options.default_deadline),
      retry_(options.retry),
      accounts_(v1::Accounts::NewStub(channel_)),
      access_delegation_(v1::AccessDelegation::NewStub(channel_)),
      access_history_(v1::AccessHistory::NewStub(channel_)),
      operations_(v1::Operations::NewStub(channel_)),
      bearer_token_(std::move(options.bearer_token)) {}

void Client::set_bearer_token(std::string token) {
  absl::MutexLock lock(&mutex_);
  bearer_token_ = std::move(token);
}

const std::string& Client::bearer_token() const {
  absl::MutexLock lock(&mutex_);
  return bearer_token_;
}

absl::Status Client::RunWithRetries(const Attempt& attempt, const CallOptions& call,
                                    Idempotency idempotency) {
  if (!options_status_.ok()) return options_status_;
  if (absl::Status status = ValidateRequestId(call.request_id); !status.ok()) return status;

  std::string token;
  {
    absl::MutexLock lock(&mutex_);
    token = bearer_token_;
  }
  const absl::Duration timeout = call.deadline.value_or(default_deadline_);
  const absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  const bool retryable = idempotency == Idempotency::kRead || call.retry_write;
  const int max_attempts = retryable ? std::max(1, retry_.max_attempts) : 1;

  std::optional<Backoff> backoff;
  for (int attempt_number = 1;; ++attempt_number) {
    grpc::ClientContext context;
    if (deadline != absl::InfiniteFuture()) context.set_deadline(absl::ToChronoTime(deadline));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    if (!call.request_id.empty()) context.AddMetadata(kRequestIdKey, call.request_id);

    const grpc::Status status = attempt(context);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || attempt_number >= max_attempts) {
      return ToAbslStatus(status);
    }

    if (!backoff.has_value()) backoff.emplace(retry_);
    const absl::Duration wait = backoff->Next();
    if (absl::Now() + wait >= deadline) return ToAbslStatus(status);
    absl::SleepFor(wait);
  }
}

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Client::Call(Stub& stub,
                                      grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                                      const Request& request, const CallOptions& call,
                                      Idempotency idempotency) {
  Response response;
  const absl::Status status = RunWithRetries(
      [&](grpc::ClientContext& context) {
        response.Clear();
        return (stub.*method)(&context, request, &response);
      },
      call, idempotency);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::CreateAccountResponse> Client::CreateAccount(
    const v1::CreateAccountRequest& request, const CallOptions& call) {
  return Call(*accounts_, &v1::Accounts::Stub::CreateAccount, request, call, Idempotency::kWrite);
}

absl::StatusOr<v1::SignUpResponse> Client::SignUp(const v1::SignUpRequest& request,
                                                  const CallOptions& call) {
  return Call(*accounts_, &v1::Accounts::Stub::SignUp, request, call, Idempotency::kWrite);
}

absl::StatusOr<v1::SignInResponse> Client::SignIn(const v1::SignInRequest& request,
                                                  const CallOptions& call) {
  return Call(*accounts_, &v1::Accounts::Stub::SignIn, request, call, Idempotency::kWrite);
}

absl::StatusOr<v1::SignOutResponse> Client::SignOut(const v1::SignOutRequest& request,
                                                    const CallOptions& call) {
  return Call(*accounts_, &v1::Accounts::Stub::SignOut, request, call, Idempotency::kRead);
}

absl::StatusOr<v1::GetAccountResponse> Client::GetAccount(const v1::GetAccountRequest& request,
                                                          const CallOptions& call) {
  return Call(*accounts_, &v1::Accounts::Stub::GetAccount, request, call, Idempotency::kRead);
}

absl::StatusOr<v1::ChangePasswordResponse> Client::ChangePassword(
    const v1::ChangePasswordRequest& request, const CallOptions& call) {
  return Call(*accounts_, &v1::Accounts::Stub::ChangePassword, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::DeleteAccountResponse> Client::DeleteAccount(
    const v1::DeleteAccountRequest& request, const CallOptions& call) {
  return Call(*accounts_, &v1::Accounts::Stub::DeleteAccount, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::ListAuditEventsResponse> Client::ListAuditEvents(
    const v1::ListAuditEventsRequest& request, const CallOptions& call) {
  return Call(*access_history_, &v1::AccessHistory::Stub::ListAuditEvents, request, call,
              Idempotency::kRead);
}

absl::StatusOr<v1::CreateInvitationResponse> Client::CreateInvitation(
    const v1::CreateInvitationRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::CreateInvitation, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::LookupInvitationResponse> Client::LookupInvitation(
    const v1::LookupInvitationRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::LookupInvitation, request, call,
              Idempotency::kRead);
}

absl::StatusOr<v1::AcceptInvitationResponse> Client::AcceptInvitation(
    const v1::AcceptInvitationRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::AcceptInvitation, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::ConfirmInvitationResponse> Client::ConfirmInvitation(
    const v1::ConfirmInvitationRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::ConfirmInvitation, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::DenyInvitationResponse> Client::DenyInvitation(
    const v1::DenyInvitationRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::DenyInvitation, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::ListInvitationsResponse> Client::ListInvitations(
    const v1::ListInvitationsRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::ListInvitations, request, call,
              Idempotency::kRead);
}

absl::StatusOr<v1::ListGrantsResponse> Client::ListGrants(const v1::ListGrantsRequest& request,
                                                          const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::ListGrants, request, call,
              Idempotency::kRead);
}

absl::StatusOr<v1::UpdateGrantResponse> Client::UpdateGrant(const v1::UpdateGrantRequest& request,
                                                            const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::UpdateGrant, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::RevokeGrantResponse> Client::RevokeGrant(const v1::RevokeGrantRequest& request,
                                                            const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::RevokeGrant, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::DeclineInvitationResponse> Client::DeclineInvitation(
    const v1::DeclineInvitationRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::DeclineInvitation, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::ResendInvitationResponse> Client::ResendInvitation(
    const v1::ResendInvitationRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::ResendInvitation, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::CancelInvitationResponse> Client::CancelInvitation(
    const v1::CancelInvitationRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::CancelInvitation, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::LeaveGrantResponse> Client::LeaveGrant(const v1::LeaveGrantRequest& request,
                                                          const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::LeaveGrant, request, call,
              Idempotency::kWrite);
}

absl::StatusOr<v1::ListDelegatedAccessResponse> Client::ListDelegatedAccess(
    const v1::ListDelegatedAccessRequest& request, const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::ListDelegatedAccess, request,
              call, Idempotency::kRead);
}

absl::StatusOr<v1::CheckAccessResponse> Client::CheckAccess(const v1::CheckAccessRequest& request,
                                                            const CallOptions& call) {
  return Call(*access_delegation_, &v1::AccessDelegation::Stub::CheckAccess, request, call,
              Idempotency::kRead);
}

absl::StatusOr<v1::ListFailedEmailsResponse> Client::ListFailedEmails(
    const v1::ListFailedEmailsRequest& request, const CallOptions& call) {
  return Call(*operations_, &v1::Operations::Stub::ListFailedEmails, request, call,
              Idempotency::kRead);
}

absl::StatusOr<v1::RetryEmailResponse> Client::RetryEmail(const v1::RetryEmailRequest& request,
                                                          const CallOptions& call) {
  return Call(*operations_, &v1::Operations::Stub::RetryEmail, request, call,
              Idempotency::kWrite);
}

}  // namespace accessdelegation::sdk
