#include "server/validation.h"

#include <phonenumbers/phonenumberutil.h>
#include <unicode/uchar.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace accessdelegation::server {
namespace {

using ::i18n::phonenumbers::PhoneNumber;
using ::i18n::phonenumbers::PhoneNumberUtil;

// Maximum digits of an E.164 number, country code included.
constexpr size_t kMaxE164Digits = 15;

// Decodes UTF-8 into code points; nullopt when the bytes are not valid UTF-8.
std::optional<std::vector<uint32_t>> DecodeUtf8(absl::string_view text) {
  std::vector<uint32_t> code_points;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    int length = 0;
    uint32_t code_point = 0;
    if (lead < 0x80) {
      length = 1;
      code_point = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code_point = lead & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + length > text.size()) return std::nullopt;
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return std::nullopt;
    }
    code_points.push_back(code_point);
    i += length;
  }
  return code_points;
}

// Returns whether `c` may not appear in a name because it is a control character or
// renders as nothing or reorders text, which could make one name look like another. The
// set: C0 and C1 controls, the soft hyphen, the combining grapheme joiner, blank fillers
// (Hangul, Khmer, Mongolian, Braille), zero-width characters, bidirectional marks,
// embeddings, overrides and isolates, and line and paragraph separators. Also variation
// selectors, tag characters, interlinear annotation marks, private-use code points and
// noncharacters.
bool IsForbiddenInName(uint32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) return true;
  if (c == 0xAD || c == 0x34F || c == 0x61C || c == 0x115F || c == 0x1160) return true;
  if (c == 0x17B4 || c == 0x17B5 || (c >= 0x180B && c <= 0x180F)) return true;
  if ((c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E)) return true;
  if ((c >= 0x2060 && c <= 0x206F) || c == 0x2800 || c == 0x3164 || c == 0xFFA0) return true;
  if ((c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB)) return true;
  if ((c >= 0x1D173 && c <= 0x1D17A) || (c >= 0xE0000 && c <= 0xE0FFF)) return true;
  if ((c >= 0xE000 && c <= 0xF8FF) || c >= 0xF0000) return true;
  return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

// Returns how many bytes UTF-8 takes for the valid code point `c`.
size_t Utf8Length(uint32_t c) {
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c < 0x10000) return 3;
  return 4;
}

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", problem));
}

bool IsAtext(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+/=?^_`{|}~-").find(c) != absl::string_view::npos;
}

bool IsValidLocalPart(absl::string_view local) {
  if (local.empty() || local.size() > 64) return false;
  if (local.front() == '.' || local.back() == '.') return false;
  for (size_t i = 0; i < local.size(); ++i) {
    if (local[i] == '.') {
      if (local[i + 1] == '.') return false;
    } else if (!IsAtext(local[i])) {
      return false;
    }
  }
  return true;
}

bool IsValidDomain(absl::string_view domain) {
  const std::vector<absl::string_view> labels = absl::StrSplit(domain, '.');
  if (labels.size() < 2) return false;
  for (absl::string_view label : labels) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  for (char c : labels.back()) {
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c))) return false;
  }
  return labels.back().size() >= 2;
}

}  // namespace

absl::StatusOr<std::string> ValidateName(absl::string_view field, absl::string_view value) {
  const std::optional<std::vector<uint32_t>> code_points = DecodeUtf8(value);
  if (!code_points) return Invalid(field, "is not valid UTF-8");

  // Trims every Unicode White_Space character (the Zs spaces such as U+00A0 and U+3000,
  // tabs, line breaks), counting the bytes each takes, so that the result stays a
  // substring of `value`.
  size_t begin = 0;
  size_t end = code_points->size();
  size_t begin_byte = 0;
  size_t end_byte = value.size();
  while (begin < end && u_isUWhiteSpace(static_cast<UChar32>((*code_points)[begin]))) {
    begin_byte += Utf8Length((*code_points)[begin]);
    ++begin;
  }
  while (end > begin && u_isUWhiteSpace(static_cast<UChar32>((*code_points)[end - 1]))) {
    end_byte -= Utf8Length((*code_points)[end - 1]);
    --end;
  }
  if (begin == end) return Invalid(field, "is required; send the person's name");

  if (end - begin > kMaxNameCharacters) {
    return Invalid(field, absl::StrCat("is longer than ", kMaxNameCharacters,
                                       " characters; shorten it"));
  }
  bool has_letter_or_digit = false;
  for (size_t i = begin; i < end; ++i) {
    const uint32_t c = (*code_points)[i];
    if (IsForbiddenInName(c)) {
      return Invalid(field, "contains a control or invisible character; send printable text");
    }
    // u_isalnum is true for general categories L (letters) and Nd (decimal digits).
    if (u_isalnum(static_cast<UChar32>(c))) has_letter_or_digit = true;
  }
  if (!has_letter_or_digit) {
    return Invalid(field,
                   "has no letter or digit; send the person's name, not only spaces, "
                   "punctuation or accents");
  }
  return std::string(value.substr(begin_byte, end_byte - begin_byte));
}

absl::StatusOr<std::string> ValidateEmail(absl::string_view field, absl::string_view value) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(value);
  if (trimmed.empty()) return Invalid(field, "is required; send an address like name@example.org");
  if (trimmed.size() > kMaxEmailLength) {
    return Invalid(field, absl::StrCat("is longer than ", kMaxEmailLength,
                                       " characters, the limit for an email address; send "
                                       "a shorter address"));
  }
  for (char c : trimmed) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return Invalid(field, "must contain only ASCII characters, like name@example.org");
    }
  }
  const size_t at = trimmed.rfind('@');
  if (at == absl::string_view::npos || !IsValidLocalPart(trimmed.substr(0, at)) ||
      !IsValidDomain(trimmed.substr(at + 1))) {
    return Invalid(field, "is not a valid email address; send an address like name@example.org");
  }
  return std::string(trimmed);
}

std::string NormalizeEmail(absl::string_view email) {
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(email));
}

absl::StatusOr<std::string> ValidatePhoneNumber(absl::string_view field, absl::string_view value,
                                                const std::string& default_region) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(value);
  if (trimmed.empty()) {
    return Invalid(field, "is required; send a number in E.164 form like +14155550123");
  }
  if (trimmed.size() > 64) return Invalid(field, "is longer than 64 characters");

  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (util.Parse(std::string(trimmed), default_region, &number) != PhoneNumberUtil::NO_PARSING_ERROR ||
      !util.IsValidNumber(number)) {
    return Invalid(field,
                   "is not a valid phone number; send it in E.164 form like +14155550123");
  }
  std::string e164;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  // libphonenumber accepts some longer numbers, such as a German one read with the UK's
  // "00" prefix after the '+', that E.164 does not allow.
  if (e164.size() > 1 + kMaxE164Digits) {
    return Invalid(field, absl::StrCat("has more than the ", kMaxE164Digits,
                                       " digits E.164 allows; check the number and send it in "
                                       "E.164 form like +14155550123"));
  }
  return e164;
}

absl::Status ValidateNewPassword(absl::string_view field, absl::string_view value) {
  if (value.size() > kMaxPasswordBytes) {
    return Invalid(field, absl::StrCat("is longer than ", kMaxPasswordBytes, " bytes"));
  }
  const std::optional<std::vector<uint32_t>> code_points = DecodeUtf8(value);
  if (!code_points) return Invalid(field, "is not valid UTF-8");
  if (code_points->size() < kMinPasswordCharacters) {
    return Invalid(field, absl::StrCat("is too short; use at least ", kMinPasswordCharacters,
                                       " characters"));
  }
  if (code_points->size() > kMaxPasswordCharacters) {
    return Invalid(field, absl::StrCat("is too long; use at most ", kMaxPasswordCharacters,
                                       " characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePasscode(absl::string_view field, absl::string_view value) {
  const std::string format = absl::StrCat("must be ", kMinPasscodeLength, " to ",
                                           kMaxPasscodeLength, " ASCII letters and digits");
  if (value.size() < kMinPasscodeLength || value.size() > kMaxPasscodeLength) {
    return Invalid(field, absl::StrCat(format, "; it is ", value.size(), " characters long"));
  }
  for (char c : value) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      return Invalid(field, absl::StrCat(format, "; it contains another character"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAccessLevel(absl::string_view field, v1::AccessLevel value) {
  if (value == v1::ACCESS_LEVEL_UNSPECIFIED) {
    return Invalid(field, "is required; send ACCESS_LEVEL_FULL or ACCESS_LEVEL_APPOINTMENTS_ONLY");
  }
  if (!v1::AccessLevel_IsValid(value)) {
    return Invalid(field, absl::StrCat("has unknown value ", static_cast<int>(value),
                                       "; send ACCESS_LEVEL_FULL or "
                                       "ACCESS_LEVEL_APPOINTMENTS_ONLY"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePermission(absl::string_view field, v1::Permission value) {
  constexpr char kKnownPermissions[] =
      "send PERMISSION_VIEW_APPOINTMENTS, PERMISSION_SCHEDULE_APPOINTMENTS, "
      "PERMISSION_VIEW_HEALTH_RECORD, PERMISSION_MESSAGE_CARE_TEAM or PERMISSION_VIEW_BILLING";
  if (value == v1::PERMISSION_UNSPECIFIED) {
    return Invalid(field, absl::StrCat("is required; ", kKnownPermissions));
  }
  if (!v1::Permission_IsValid(value)) {
    return Invalid(field, absl::StrCat("has unknown value ", static_cast<int>(value), "; ",
                                       kKnownPermissions));
  }
  return absl::OkStatus();
}

absl::Status ValidateStateFilter(absl::string_view field, v1::InvitationState value) {
  if (!v1::InvitationState_IsValid(value)) {
    return Invalid(field, absl::StrCat("has unknown value ", static_cast<int>(value),
                                       "; send an InvitationState or leave it unset"));
  }
  return absl::OkStatus();
}

absl::Status ValidateStateFilter(absl::string_view field, v1::GrantState value) {
  if (!v1::GrantState_IsValid(value)) {
    return Invalid(field, absl::StrCat("has unknown value ", static_cast<int>(value),
                                       "; send a GrantState or leave it unset"));
  }
  return absl::OkStatus();
}

absl::Status ValidateUuid(absl::string_view field, absl::string_view value) {
  if (value.empty()) {
    return Invalid(field, "is required; send a UUID like 123e4567-e89b-42d3-a456-426614174000");
  }
  bool valid = value.size() == 36;
  for (size_t i = 0; valid && i < value.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    valid = dash_position ? value[i] == '-'
                          : absl::ascii_isxdigit(static_cast<unsigned char>(value[i]));
  }
  if (!valid) {
    return Invalid(field, "must be a UUID like 123e4567-e89b-42d3-a456-426614174000");
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> ValidateTimestamp(absl::string_view field,
                                             const google::protobuf::Timestamp& value) {
  if (value.seconds() < kMinTimestampSeconds || value.seconds() > kMaxTimestampSeconds) {
    return Invalid(field, "is outside the years 0001 to 9999; send a time in that range");
  }
  if (value.nanos() < 0 || value.nanos() > 999999999) {
    return Invalid(field, absl::StrCat("has nanos ", value.nanos(),
                                       "; nanos must be between 0 and 999999999"));
  }
  return absl::FromUnixSeconds(value.seconds()) + absl::Nanoseconds(value.nanos());
}

absl::Status ValidateOptionalText(absl::string_view field, absl::string_view value,
                                  size_t max_bytes) {
  if (value.size() > max_bytes) {
    return Invalid(field, absl::StrCat("is longer than ", max_bytes, " bytes; shorten it"));
  }
  if (!DecodeUtf8(value)) return Invalid(field, "is not valid UTF-8");
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      return Invalid(field, "contains a control character; send printable text");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTokenField(absl::string_view field, absl::string_view value) {
  if (value.empty()) return Invalid(field, "is required; send the token from the link");
  if (value.size() > 512) {
    return Invalid(field,
                   "is longer than 512 characters, so it is not a token from a link; send "
                   "the token exactly as the link gives it");
  }
  return absl::OkStatus();
}

}  // namespace accessdelegation::server
