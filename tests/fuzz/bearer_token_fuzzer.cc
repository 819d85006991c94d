// Fuzzes the parsing of credentials (server/auth.h): the `authorization` header value and
// the service token file. The input is split at its first NUL byte into the header and
// the file. Properties:
// - no crash and no sanitizer report;
// - a parsed bearer token is non-empty printable ASCII without spaces, at most
//   kMaxBearerTokenLength bytes, and parses again from "Bearer <token>";
// - a token file either loads or fails with INVALID_ARGUMENT naming a line;
// - a token file never yields more tokens than it has lines.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "server/auth.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using accessdelegation::server::kMaxBearerTokenLength;
  using accessdelegation::server::ParseBearerToken;
  using accessdelegation::server::ServiceTokens;

  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string header = input.substr(0, split);
  const std::string file = split == std::string::npos ? "" : input.substr(split + 1);

  const std::optional<std::string> token = ParseBearerToken(header);
  if (token.has_value()) {
    FUZZ_CHECK(!token->empty());
    FUZZ_CHECK(token->size() <= kMaxBearerTokenLength);
    for (char c : *token) FUZZ_CHECK(absl::ascii_isgraph(static_cast<unsigned char>(c)));
    FUZZ_CHECK(absl::StrContains(header, *token));
    const std::optional<std::string> again = ParseBearerToken("Bearer " + *token);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(*again == *token);
  }

  absl::StatusOr<ServiceTokens> tokens = ServiceTokens::Parse("tokens.txt", file);
  if (!tokens.ok()) {
    FUZZ_CHECK(tokens.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(absl::StrContains(tokens.status().message(), " line "));
    return 0;
  }
  FUZZ_CHECK(tokens->size() <= static_cast<size_t>(std::count(file.begin(), file.end(), '\n')) + 1);
  return 0;
}
