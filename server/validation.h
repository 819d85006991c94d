#ifndef ACCESSDELEGATION_SERVER_VALIDATION_H_
#define ACCESSDELEGATION_SERVER_VALIDATION_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/resources.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace accessdelegation::server {

// Each function checks one request field. On failure it returns INVALID_ARGUMENT with a
// message that starts with the field name and says what a valid value looks like.

inline constexpr size_t kMaxNameCharacters = 100;
inline constexpr size_t kMaxEmailLength = 254;
inline constexpr size_t kMinPasswordCharacters = 12;
inline constexpr size_t kMaxPasswordCharacters = 128;
// Bounds the bytes hashed for a sign-in attempt: 128 characters of 4-byte UTF-8.
inline constexpr size_t kMaxPasswordBytes = 4 * kMaxPasswordCharacters;

inline constexpr size_t kMinPasscodeLength = 6;
inline constexpr size_t kMaxPasscodeLength = 32;

// Returns the name with surrounding Unicode white space (the Unicode White_Space property,
// which includes U+00A0 and U+3000) removed. A name is valid UTF-8 of 1 to
// kMaxNameCharacters characters after trimming, with no control, format or line-separator
// characters. It needs at least one letter or decimal digit, so a name of only spaces,
// punctuation or combining marks is rejected.
absl::StatusOr<std::string> ValidateName(absl::string_view field, absl::string_view value);

// Returns the email with surrounding spaces removed. An email is a plain ASCII address,
// local@domain, of at most kMaxEmailLength characters, whose domain has a dot.
absl::StatusOr<std::string> ValidateEmail(absl::string_view field, absl::string_view value);

// Returns the form under which emails compare: surrounding ASCII white space removed, as
// ValidateEmail does, and ASCII lower case.
std::string NormalizeEmail(absl::string_view email);

// Returns the phone number in E.164 form. Numbers without a country code are read as
// numbers of `default_region` (ISO 3166-1 alpha-2).
absl::StatusOr<std::string> ValidatePhoneNumber(absl::string_view field, absl::string_view value,
                                                const std::string& default_region);

// Checks a new password: valid UTF-8 of kMinPasswordCharacters to kMaxPasswordCharacters
// characters.
absl::Status ValidateNewPassword(absl::string_view field, absl::string_view value);

// Checks an invitation passcode: kMinPasscodeLength to kMaxPasscodeLength ASCII letters
// and digits, which are easy to say on the phone.
absl::Status ValidatePasscode(absl::string_view field, absl::string_view value);

// Checks that `value` is a set, known access level.
absl::Status ValidateAccessLevel(absl::string_view field, v1::AccessLevel value);

// Checks that `value` is a set, known permission.
absl::Status ValidatePermission(absl::string_view field, v1::Permission value);

// Checks that `value` is a known invitation state; UNSPECIFIED is allowed.
absl::Status ValidateStateFilter(absl::string_view field, v1::InvitationState value);

// Checks that `value` is a known grant state; UNSPECIFIED is allowed.
absl::Status ValidateStateFilter(absl::string_view field, v1::GrantState value);

// Checks that `value` is a UUID in canonical text form (any letter case).
absl::Status ValidateUuid(absl::string_view field, absl::string_view value);

// The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z,
// in seconds since the Unix epoch.
inline constexpr int64_t kMinTimestampSeconds = -62135596800;
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Returns the time in `value`, which must lie in the range of google.protobuf.Timestamp
// (years 0001 to 9999) with nanos from 0 to 999999999.
absl::StatusOr<absl::Time> ValidateTimestamp(absl::string_view field,
                                             const google::protobuf::Timestamp& value);

// Checks an optional free-text field: at most `max_bytes` bytes of valid UTF-8 with no
// control characters. The empty string is valid.
absl::Status ValidateOptionalText(absl::string_view field, absl::string_view value,
                                  size_t max_bytes);

// Checks that a token field is set and not absurdly long.
absl::Status ValidateTokenField(absl::string_view field, absl::string_view value);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_VALIDATION_H_
