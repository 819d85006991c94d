// Fuzzes ValidateEmail and NormalizeEmail with arbitrary bytes. Properties:
// - no crash and no sanitizer report;
// - a rejection is INVALID_ARGUMENT naming the field;
// - an accepted address is plain ASCII of at most kMaxEmailLength characters with an '@';
// - an accepted address validates again to itself, and so does its normalized form.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "server/validation.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using accessdelegation::server::kMaxEmailLength;
  using accessdelegation::server::NormalizeEmail;
  using accessdelegation::server::ValidateEmail;

  const std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> email = ValidateEmail("email", input);
  if (!email.ok()) {
    accessdelegation::fuzz::CheckFieldError(email.status(), "email");
    return 0;
  }

  FUZZ_CHECK(!email->empty());
  FUZZ_CHECK(email->size() <= kMaxEmailLength);
  FUZZ_CHECK(accessdelegation::fuzz::IsAscii(*email));
  FUZZ_CHECK(email->find('@') != std::string::npos);
  FUZZ_CHECK(absl::StripAsciiWhitespace(*email) == *email);

  absl::StatusOr<std::string> again = ValidateEmail("email", *email);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *email);

  const std::string normalized = NormalizeEmail(*email);
  FUZZ_CHECK(normalized.size() == email->size());
  FUZZ_CHECK(ValidateEmail("email", normalized).ok());
  FUZZ_CHECK(NormalizeEmail(normalized) == normalized);
  return 0;
}
