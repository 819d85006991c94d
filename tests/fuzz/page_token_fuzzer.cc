// Fuzzes the page tokens of the list RPCs (server/page_tokens.h). Each input is read as a
// page_size, a list filter, a token and a position. Properties:
// - no crash and no sanitizer report;
// - ReadPageRequest rejects a negative size and a bad token with INVALID_ARGUMENT, and
//   otherwise returns a limit from 1 to kMaxPageSize;
// - a token parses only when it is exactly the text that Issue writes for that filter and
//   position;
// - a token issued for a position parses back to it, and fails with one byte changed or
//   under another filter.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "server/page_tokens.h"
#include "server/secrets.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using accessdelegation::server::kMaxPageSize;
using accessdelegation::server::PageTokens;
using accessdelegation::storage::PagePosition;

// Fixed, so that saved inputs replay the same way.
constexpr char kFuzzKey[] = "0123456789abcdef0123456789abcdef";

const PageTokens& Tokens() {
  static const PageTokens* const tokens = [] {
    const std::string path = accessdelegation::fuzz::MakeTemporaryDirectory() + "/secret.key";
    accessdelegation::fuzz::WriteFileOrDie(path, kFuzzKey);
    absl::StatusOr<accessdelegation::server::SecretBox> box =
        accessdelegation::server::SecretBox::LoadOrCreate(path);
    FUZZ_CHECK(box.ok());
    static const auto* const secret_box = new accessdelegation::server::SecretBox(*box);
    return new PageTokens(*secret_box);
  }();
  return *tokens;
}

void CheckPresentedToken(const std::string& filter, const std::string& token, int page_size) {
  absl::StatusOr<accessdelegation::storage::PageRequest> request =
      accessdelegation::server::ReadPageRequest(Tokens(), filter, page_size, token);
  if (!request.ok()) {
    FUZZ_CHECK(request.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(page_size < 0 || !token.empty());
    return;
  }
  FUZZ_CHECK(page_size >= 0);
  FUZZ_CHECK(request->limit >= 1);
  FUZZ_CHECK(request->limit <= kMaxPageSize);
  FUZZ_CHECK(token.empty() == !request->after.has_value());
  if (request->after.has_value()) {
    FUZZ_CHECK(Tokens().Issue(filter, *request->after) == token);
  }
}

void CheckIssuedToken(const std::string& filter, const PagePosition& position,
                      size_t changed_byte) {
  const std::string token = Tokens().Issue(filter, position);
  absl::StatusOr<PagePosition> parsed = Tokens().Parse("page_token", filter, token);
  if (position.id.find('\n') != std::string::npos) {
    // Real ids are UUIDs; an id with a line break cannot be carried and must not parse.
    FUZZ_CHECK(!parsed.ok());
    return;
  }
  if (token.size() > 1024) {
    FUZZ_CHECK(!parsed.ok());
    return;
  }
  FUZZ_CHECK(parsed.ok());
  FUZZ_CHECK(parsed->create_time == position.create_time);
  FUZZ_CHECK(parsed->id == position.id);

  FUZZ_CHECK(!Tokens().Parse("page_token", filter + "x", token).ok());
  std::string altered = token;
  altered[changed_byte % altered.size()] ^= 0x01;
  FUZZ_CHECK(!Tokens().Parse("page_token", filter, altered).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  const int page_size = provider.ConsumeIntegral<int>();
  const std::string filter = provider.ConsumeRandomLengthString(128);
  const std::string token = provider.ConsumeRandomLengthString(2048);
  PagePosition position;
  position.create_time = absl::FromUnixMicros(
      provider.ConsumeIntegralInRange<int64_t>(-62135596800LL * 1000000, 253402300799LL * 1000000));
  const size_t changed_byte = provider.ConsumeIntegral<size_t>();
  position.id = provider.ConsumeRemainingBytesAsString();

  CheckPresentedToken(filter, token, page_size);
  CheckIssuedToken(filter, position, changed_byte);
  return 0;
}
