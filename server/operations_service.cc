#include "server/operations_service.h"

#include <sodium.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/call_interceptor.h"
#include "server/rpc_support.h"
#include "server/validation.h"

namespace accessdelegation::server {
namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 200;
constexpr char kPageTokenKeyPurpose[] = "accessdelegation.v1.Operations page token";
// Authenticated together with the position, so that a token of another list never passes.
constexpr char kPageTokenContext[] = "ListFailedEmails";
constexpr size_t kPositionBytes = 8;
constexpr char kBadPageTokenMessage[] =
    "page_token is not valid: pass the next_page_token of the previous response unchanged, "
    "or an empty page_token for the first page";

std::string EncodeBase64Url(const std::string& bytes) {
  std::string text(
      sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(text.data(), text.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  text.resize(text.size() - 1);  // The terminating NUL.
  return text;
}

std::optional<std::string> DecodeBase64Url(const std::string& text) {
  std::string bytes(text.size(), '\0');
  size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(),
                        text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  bytes.resize(length);
  return bytes;
}

std::string Authenticate(const std::string& key, const std::string& position) {
  const std::string input = absl::StrCat(kPageTokenContext, ":", position);
  std::string tag(crypto_auth_BYTES, '\0');
  crypto_auth(reinterpret_cast<unsigned char*>(tag.data()),
              reinterpret_cast<const unsigned char*>(input.data()), input.size(),
              reinterpret_cast<const unsigned char*>(key.data()));
  return tag;
}

void FailedEmailToProto(const storage::FailedEmail& email, v1::FailedEmail* proto) {
  proto->set_id(email.id);
  proto->set_message_id(email.message_id);
  proto->set_recipient(MaskEmailAddress(email.recipient));
  proto->set_subject(email.subject);
  proto->set_attempts(email.attempts);
  proto->set_last_error(email.last_error);
  proto->set_state(email.dead_time.has_value() ? v1::FAILED_EMAIL_STATE_DEAD
                                               : v1::FAILED_EMAIL_STATE_RETRYING);
  ToProto(email.create_time, proto->mutable_create_time());
  if (email.last_attempt_time.has_value()) {
    ToProto(*email.last_attempt_time, proto->mutable_last_attempt_time());
  }
  if (email.dead_time.has_value()) {
    ToProto(*email.dead_time, proto->mutable_dead_time());
  } else {
    ToProto(email.next_attempt_time, proto->mutable_next_attempt_time());
  }
}

}  // namespace

absl::StatusOr<std::string> DerivePageTokenKey(const std::string& secret_key_file) {
  std::ifstream file(secret_key_file, std::ios::binary);
  const std::string secret_key((std::istreambuf_iterator<char>(file)),
                               std::istreambuf_iterator<char>());
  if (!file.is_open() || secret_key.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "secret_key_file: cannot read a 32-byte key from ", secret_key_file,
        " to derive the page-token key"));
  }
  std::string key(crypto_auth_KEYBYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(key.data()), key.size(),
                     reinterpret_cast<const unsigned char*>(kPageTokenKeyPurpose),
                     sizeof(kPageTokenKeyPurpose) - 1,
                     reinterpret_cast<const unsigned char*>(secret_key.data()),
                     secret_key.size());
  return key;
}

std::string MaskEmailAddress(absl::string_view address) {
  const size_t at = address.rfind('@');
  if (at == absl::string_view::npos) return "***";
  return absl::StrCat(address.substr(0, std::min<size_t>(at, 1)), "***", address.substr(at));
}

OperationsService::OperationsService(storage::Store* store, const Authenticator* authenticator,
                                     std::string page_token_key)
    : store_(store), authenticator_(authenticator), page_token_key_(std::move(page_token_key)) {}

std::string OperationsService::IssuePageToken(int64_t after_id) const {
  std::string position(kPositionBytes, '\0');
  for (size_t i = 0; i < kPositionBytes; ++i) {
    position[i] = static_cast<char>((static_cast<uint64_t>(after_id) >> (56 - 8 * i)) & 0xff);
  }
  return EncodeBase64Url(position + Authenticate(page_token_key_, position));
}

absl::StatusOr<int64_t> OperationsService::ParsePageToken(const std::string& token) const {
  const std::optional<std::string> bytes = DecodeBase64Url(token);
  if (!bytes.has_value() || bytes->size() != kPositionBytes + crypto_auth_BYTES) {
    return absl::InvalidArgumentError(kBadPageTokenMessage);
  }
  const std::string position = bytes->substr(0, kPositionBytes);
  const std::string input = absl::StrCat(kPageTokenContext, ":", position);
  if (crypto_auth_verify(reinterpret_cast<const unsigned char*>(bytes->data()) + kPositionBytes,
                         reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                         reinterpret_cast<const unsigned char*>(page_token_key_.data())) != 0) {
    return absl::InvalidArgumentError(kBadPageTokenMessage);
  }
  uint64_t after_id = 0;
  for (const char byte : position) after_id = (after_id << 8) | static_cast<unsigned char>(byte);
  return static_cast<int64_t>(after_id);
}

grpc::Status OperationsService::ListFailedEmails(grpc::ServerContext* context,
                                                 const v1::ListFailedEmailsRequest* request,
                                                 v1::ListFailedEmailsResponse* response) {
  return CompleteRpc(*context, "ListFailedEmails",
                     DoListFailedEmails(*context, *request, *response));
}

absl::Status OperationsService::DoListFailedEmails(const grpc::ServerContext& context,
                                                   const v1::ListFailedEmailsRequest& request,
                                                   v1::ListFailedEmailsResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireService(context);
  if (!caller.ok()) return caller.status();

  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size must not be negative; 0 means 50");
  }
  const int page_size =
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  int64_t after_id = 0;
  if (!request.page_token().empty()) {
    absl::StatusOr<int64_t> parsed = ParsePageToken(request.page_token());
    if (!parsed.ok()) return parsed.status();
    after_id = *parsed;
  }

  // Reading one extra row shows whether another page follows.
  absl::StatusOr<std::vector<storage::FailedEmail>> emails =
      store_->ListFailedEmails(after_id, page_size + 1);
  if (!emails.ok()) return emails.status();
  const bool more = static_cast<int>(emails->size()) > page_size;
  if (more) emails->resize(page_size);
  for (const storage::FailedEmail& email : *emails) FailedEmailToProto(email, response.add_emails());
  if (more) response.set_next_page_token(IssuePageToken(emails->back().id));
  return absl::OkStatus();
}

grpc::Status OperationsService::RetryEmail(grpc::ServerContext* context,
                                           const v1::RetryEmailRequest* request,
                                           v1::RetryEmailResponse* response) {
  return CompleteRpc(*context, "RetryEmail", DoRetryEmail(*context, *request, *response));
}

absl::Status OperationsService::DoRetryEmail(const grpc::ServerContext& context,
                                             const v1::RetryEmailRequest& request,
                                             v1::RetryEmailResponse& response) {
  absl::StatusOr<Caller> caller = authenticator_->RequireService(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status status = ValidateUuid("message_id", request.message_id()); !status.ok()) {
    return status;
  }

  AnnotateCall(context, "message_id", request.message_id());
  absl::StatusOr<storage::FailedEmail> email = store_->RetryEmail(request.message_id());
  if (!email.ok()) {
    absl::Status status = RewordStatus(email.status(), absl::StatusCode::kNotFound,
                                       "message_id: no email has this message id");
    return RewordStatus(status, absl::StatusCode::kFailedPrecondition,
                        "message_id: the email was already delivered");
  }
  FailedEmailToProto(*email, response.mutable_email());
  return absl::OkStatus();
}

}  // namespace accessdelegation::server
