#ifndef ACCESSDELEGATION_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define ACCESSDELEGATION_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace accessdelegation::fuzz {

// Stops the fuzzer with a message when a property of the code under test does not hold.
// libFuzzer treats the abort as a crash and saves the input that caused it.
#define FUZZ_CHECK(condition)                                                               \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

// Checks the contract of every validator: INVALID_ARGUMENT with a message that starts
// with the name of the field it checked.
inline void CheckFieldError(const absl::Status& status, absl::string_view field) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  FUZZ_CHECK(absl::StartsWith(status.message(), field));
}

// Returns whether every byte of `text` is ASCII.
inline bool IsAscii(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Returns a new private directory under $TMPDIR (or /tmp); the process ends if it cannot
// be created. The fuzzers keep key files there.
std::string MakeTemporaryDirectory();

// Writes `content` to `path`, replacing it; the process ends on failure.
void WriteFileOrDie(const std::string& path, absl::string_view content);

}  // namespace accessdelegation::fuzz

#endif  // ACCESSDELEGATION_TESTS_FUZZ_FUZZ_SUPPORT_H_
