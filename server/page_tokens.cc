#include "server/page_tokens.h"

#include <sodium.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace accessdelegation::server {
namespace {

constexpr char kKeyPurpose[] = "accessdelegation page tokens v1";
// Tokens longer than this are rejected before decoding.
constexpr size_t kMaxTokenLength = 1024;

std::string Mac(const std::string& key, const std::string& message) {
  std::string mac(crypto_auth_BYTES, '\0');
  crypto_auth(reinterpret_cast<unsigned char*>(mac.data()),
              reinterpret_cast<const unsigned char*>(message.data()), message.size(),
              reinterpret_cast<const unsigned char*>(key.data()));
  return mac;
}

absl::Status BadTokenError(const std::string& field) {
  return absl::InvalidArgumentError(absl::StrCat(
      field, " is not valid: pass the next_page_token of the previous page unchanged, with "
             "the same filter, or leave it empty for the first page"));
}

}  // namespace

PageTokens::PageTokens(const SecretBox& secret_box)
    : key_(secret_box.DeriveKey(kKeyPurpose)) {}

std::string PageTokens::Issue(const std::string& filter,
                              const storage::PagePosition& position) const {
  // The message is "<micros>\n<id>\n<filter>"; only the first two travel in the token,
  // and the filter comes from the request that presents it.
  const std::string payload =
      absl::StrCat(absl::ToUnixMicros(position.create_time), "\n", position.id);
  const std::string mac = Mac(key_, absl::StrCat(payload, "\n", filter));
  return absl::WebSafeBase64Escape(absl::StrCat(mac, payload));
}

absl::StatusOr<storage::PagePosition> PageTokens::Parse(const std::string& field,
                                                        const std::string& filter,
                                                        const std::string& token) const {
  std::string decoded;
  if (token.size() > kMaxTokenLength || !absl::WebSafeBase64Unescape(token, &decoded) ||
      decoded.size() <= crypto_auth_BYTES) {
    return BadTokenError(field);
  }
  // Base64 lets a few texts decode to the same bytes; only the text Issue wrote is valid.
  if (absl::WebSafeBase64Escape(decoded) != token) return BadTokenError(field);
  const std::string mac = decoded.substr(0, crypto_auth_BYTES);
  const std::string payload = decoded.substr(crypto_auth_BYTES);
  const std::string message = absl::StrCat(payload, "\n", filter);
  if (crypto_auth_verify(reinterpret_cast<const unsigned char*>(mac.data()),
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         reinterpret_cast<const unsigned char*>(key_.data())) != 0) {
    return BadTokenError(field);
  }

  const std::vector<std::string> parts = absl::StrSplit(payload, '\n');
  int64_t micros = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &micros)) return BadTokenError(field);
  return storage::PagePosition{absl::FromUnixMicros(micros), parts[1]};
}

absl::StatusOr<storage::PageRequest> ReadPageRequest(const PageTokens& tokens,
                                                     const std::string& filter, int page_size,
                                                     const std::string& page_token) {
  if (page_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must not be negative; got ", page_size, ". Use 0 for the ",
                     "default of ", kDefaultPageSize, " or at most ", kMaxPageSize));
  }
  storage::PageRequest request;
  request.limit = page_size == 0 ? kDefaultPageSize : std::min(page_size, kMaxPageSize);
  if (!page_token.empty()) {
    absl::StatusOr<storage::PagePosition> position =
        tokens.Parse("page_token", filter, page_token);
    if (!position.ok()) return position.status();
    request.after = *std::move(position);
  }
  return request;
}

}  // namespace accessdelegation::server
