#ifndef ACCESSDELEGATION_SERVER_PAGE_TOKENS_H_
#define ACCESSDELEGATION_SERVER_PAGE_TOKENS_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/secrets.h"
#include "storage/store.h"

namespace accessdelegation::server {

inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 200;

// PageTokens issues and checks the page tokens of the list RPCs. A token carries the
// position after which the next page starts and the filter of the list it belongs to,
// authenticated with HMAC-SHA512-256 (libsodium's crypto_auth) under a key derived from
// the server's secret key, and is base64url text. A token cannot be forged, altered or
// used with another filter. Thread-safe.
class PageTokens {
 public:
  explicit PageTokens(const SecretBox& secret_box);

  // Returns the token for the page after `position` of the list named by `filter`, such
  // as "ListGrants/<owner id>".
  std::string Issue(const std::string& filter, const storage::PagePosition& position) const;

  // Returns the position in `token`. INVALID_ARGUMENT naming `field` when the token is
  // malformed, altered, issued under another key, or issued for another filter.
  absl::StatusOr<storage::PagePosition> Parse(const std::string& field,
                                              const std::string& filter,
                                              const std::string& token) const;

 private:
  std::string key_;
};

// Returns the page request for `page_size` and `page_token`: the size defaults to
// kDefaultPageSize and is capped at kMaxPageSize; an empty token starts at the beginning.
// INVALID_ARGUMENT for a negative page_size or a bad page_token.
absl::StatusOr<storage::PageRequest> ReadPageRequest(const PageTokens& tokens,
                                                     const std::string& filter, int page_size,
                                                     const std::string& page_token);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_PAGE_TOKENS_H_
