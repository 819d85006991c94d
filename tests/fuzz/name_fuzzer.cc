// Fuzzes ValidateName with arbitrary bytes. Properties:
// - no crash and no sanitizer report;
// - a rejection is INVALID_ARGUMENT naming the field;
// - an accepted name is non-empty, without surrounding ASCII spaces or control bytes, and
//   at most 4 bytes per allowed character;
// - an accepted name validates again to itself.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "server/validation.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using accessdelegation::server::kMaxNameCharacters;
  using accessdelegation::server::ValidateName;

  const std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> name = ValidateName("first_name", input);
  if (!name.ok()) {
    accessdelegation::fuzz::CheckFieldError(name.status(), "first_name");
    return 0;
  }

  FUZZ_CHECK(!name->empty());
  FUZZ_CHECK(name->size() <= 4 * kMaxNameCharacters);
  FUZZ_CHECK(absl::StripAsciiWhitespace(*name) == *name);
  for (char c : *name) {
    const auto byte = static_cast<unsigned char>(c);
    FUZZ_CHECK(byte >= 0x20 && byte != 0x7F);
  }

  absl::StatusOr<std::string> again = ValidateName("first_name", *name);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *name);
  return 0;
}
