// Fuzzes ValidatePhoneNumber, and through it libphonenumber's parser, with arbitrary
// bytes read with the default regions US and GB. Properties:
// - no crash and no sanitizer report;
// - a rejection is INVALID_ARGUMENT naming the field;
// - an accepted number is E.164: '+' and at most 15 digits;
// - an accepted number validates again to itself from either region.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "server/validation.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void CheckPhoneNumber(const std::string& input, const std::string& region) {
  using accessdelegation::server::ValidatePhoneNumber;

  absl::StatusOr<std::string> number = ValidatePhoneNumber("phone_number", input, region);
  if (!number.ok()) {
    accessdelegation::fuzz::CheckFieldError(number.status(), "phone_number");
    return;
  }

  FUZZ_CHECK(number->size() >= 2);
  FUZZ_CHECK(number->size() <= 16);
  FUZZ_CHECK(number->front() == '+');
  for (size_t i = 1; i < number->size(); ++i) {
    FUZZ_CHECK(absl::ascii_isdigit(static_cast<unsigned char>((*number)[i])));
  }
  for (const char* other_region : {"US", "GB"}) {
    absl::StatusOr<std::string> again = ValidatePhoneNumber("phone_number", *number, other_region);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(*again == *number);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  CheckPhoneNumber(input, "US");
  CheckPhoneNumber(input, "GB");
  return 0;
}
