#include "server/validation.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace accessdelegation::server {
namespace {

struct BadInput {
  std::string value;
  std::string expected_words;
};

TEST(ValidateNameTest, TrimsSpaces) {
  absl::StatusOr<std::string> name = ValidateName("first_name", "  Ana María ");

  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(*name, "Ana María");
}

TEST(ValidateNameTest, RejectsBadNamesNamingTheField) {
  const BadInput cases[] = {
      {"", "is required"},
      {"   ", "is required"},
      {std::string(101, 'a'), "longer than 100"},
      {"Ann\x01", "control or invisible"},
      {"An\xE2\x80\x8Bn", "control or invisible"},  // U+200B zero-width space.
      {"Ann\xFF", "not valid UTF-8"},
      {"A\xC0\xAF", "not valid UTF-8"},  // Overlong encoding of '/'.
  };
  for (const BadInput& input : cases) {
    absl::StatusOr<std::string> name = ValidateName("first_name", input.value);

    ASSERT_EQ(name.status().code(), absl::StatusCode::kInvalidArgument) << input.value;
    EXPECT_EQ(name.status().message().rfind("first_name ", 0), 0u) << name.status();
    EXPECT_NE(name.status().message().find(input.expected_words), absl::string_view::npos)
        << name.status();
  }
}

TEST(ValidateNameTest, RejectsUnicodeBlankNames) {
  const BadInput cases[] = {
      {"\xC2\xA0\xC2\xA0", "is required"},              // U+00A0 no-break space.
      {"\xE3\x80\x80", "is required"},                  // U+3000 ideographic space.
      {"\xE2\x80\x83\xE2\x80\xAF", "is required"},      // U+2003 em space, U+202F.
      {"\xE1\x9A\x80", "is required"},                  // U+1680 Ogham space mark.
      {" \t\xC2\xA0\xE3\x80\x80 ", "is required"},      // ASCII and Unicode spaces.
      {"\xCC\x81\xCC\x81", "no letter or digit"},         // Two U+0301 combining acutes.
      {"\xC2\xA0\xCC\x81\xC2\xA0", "no letter or digit"},  // A mark between spaces.
      {"-", "no letter or digit"},
      {". '", "no letter or digit"},
      {"\xE3\x80\x82\xE3\x80\x80\xE3\x80\x82", "no letter or digit"},  // U+3002 stops.
  };
  for (const BadInput& input : cases) {
    absl::StatusOr<std::string> name = ValidateName("last_name", input.value);

    ASSERT_EQ(name.status().code(), absl::StatusCode::kInvalidArgument) << input.value;
    EXPECT_EQ(name.status().message().rfind("last_name ", 0), 0u) << name.status();
    EXPECT_NE(name.status().message().find(input.expected_words), absl::string_view::npos)
        << name.status();
    EXPECT_NE(name.status().message().find("send"), absl::string_view::npos) << name.status();
  }
}

TEST(ValidateNameTest, TrimsUnicodeSpaces) {
  absl::StatusOr<std::string> name =
      ValidateName("first_name", "\xE3\x80\x80\xC2\xA0Mary\xC2\xA0" "Ann\xE2\x80\x83\t");

  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(*name, "Mary\xC2\xA0" "Ann");
}

TEST(ValidateNameTest, AcceptsLetterWithCombiningMarksOrDigits) {
  for (const char* value : {"E\xCC\x81mile", "\xE0\xA4\xA8\xE0\xA4\xBF", "Louis 14", "7"}) {
    EXPECT_TRUE(ValidateName("first_name", value).ok()) << value;
  }
}

TEST(ValidateNameTest, AcceptsOneHundredMultibyteCharacters) {
  std::string name;
  for (int i = 0; i < 100; ++i) name += "é";

  EXPECT_TRUE(ValidateName("last_name", name).ok());
}

TEST(ValidateEmailTest, AcceptsPlainAddresses) {
  for (const char* email :
       {"p.person@example.org", "P.Person@Example.ORG", "a+tag@sub.example.co.uk", "x@a-b.io"}) {
    EXPECT_TRUE(ValidateEmail("email", email).ok()) << email;
  }
}

TEST(ValidateEmailTest, RejectsMalformedAddresses) {
  const std::string long_email = std::string(250, 'a') + "@example.org";
  for (const std::string& email : std::vector<std::string>{"", "not-an-email", "a@b", "a@@example.org", ".a@example.org", "a..b@example.org",
        "a@-example.org", "a@example.o", "j\xC3\xB6" "e@example.org", "a b@example.org",
        "a@example.org\r\nBcc: x@example.org", long_email}) {
    absl::StatusOr<std::string> result = ValidateEmail("email", email);

    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << email;
    EXPECT_EQ(result.status().message().rfind("email ", 0), 0u) << result.status();
  }
}

TEST(ValidateEmailTest, NonAsciiMessageSaysAscii) {
  absl::StatusOr<std::string> result = ValidateEmail("email", "j\xC3\xB6" "e@example.org");

  EXPECT_NE(result.status().message().find("ASCII"), absl::string_view::npos);
}

TEST(NormalizeEmailTest, LowersCase) {
  EXPECT_EQ(NormalizeEmail("P.Person@Example.ORG"), "p.person@example.org");
}

TEST(NormalizeEmailTest, TrimsSpacesAsValidateEmailDoes) {
  EXPECT_EQ(NormalizeEmail("  Mixed.Case@Example.com \t"), "mixed.case@example.com");
}

TEST(ValidatePhoneNumberTest, NormalizesToE164) {
  absl::StatusOr<std::string> international =
      ValidatePhoneNumber("phone_number", "+1 (415) 555-0123", "US");
  absl::StatusOr<std::string> national = ValidatePhoneNumber("phone_number", "415 555 0123", "US");
  absl::StatusOr<std::string> british = ValidatePhoneNumber("phone_number", "+44 20 7946 0958", "US");

  ASSERT_TRUE(international.ok()) << international.status();
  EXPECT_EQ(*international, "+14155550123");
  ASSERT_TRUE(national.ok()) << national.status();
  EXPECT_EQ(*national, "+14155550123");
  ASSERT_TRUE(british.ok()) << british.status();
  EXPECT_EQ(*british, "+442079460958");
}

// libphonenumber reads "+00 49..." with the UK's region as a German number of 16 digits,
// and calls it valid; E.164 allows 15.
TEST(ValidatePhoneNumberTest, RejectsMoreDigitsThanE164) {
  absl::StatusOr<std::string> number =
      ValidatePhoneNumber("phone_number", "+004929867900492986", "GB");

  EXPECT_EQ(number.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(number.status().message(), "phone_number")) << number.status();
}

TEST(ValidatePhoneNumberTest, RejectsInvalidNumbers) {
  for (const char* phone : {"", "12", "not a number", "+1 000 000 0000"}) {
    absl::StatusOr<std::string> result = ValidatePhoneNumber("phone_number", phone, "US");

    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << phone;
    EXPECT_EQ(result.status().message().rfind("phone_number ", 0), 0u) << result.status();
  }
}

TEST(ValidateNewPasswordTest, EnforcesLength) {
  EXPECT_TRUE(ValidateNewPassword("password", "twelve chars").ok());
  EXPECT_EQ(ValidateNewPassword("password", "eleven char").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateNewPassword("password", std::string(128, 'a')).ok());
  EXPECT_EQ(ValidateNewPassword("password", std::string(129, 'a')).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateNewPassword("password", std::string(513, 'a')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidateEnumTest, RejectsUnsetAndUnknownValues) {
  EXPECT_TRUE(ValidateAccessLevel("access_level", v1::ACCESS_LEVEL_FULL).ok());
  EXPECT_EQ(ValidateAccessLevel("access_level", v1::ACCESS_LEVEL_UNSPECIFIED).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAccessLevel("access_level", static_cast<v1::AccessLevel>(99)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidatePermission("permission", v1::PERMISSION_UNSPECIFIED).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidatePermission("permission", static_cast<v1::Permission>(99)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateStateFilter("state", v1::INVITATION_STATE_UNSPECIFIED).ok());
  EXPECT_EQ(ValidateStateFilter("state", static_cast<v1::InvitationState>(99)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidateUuidTest, AcceptsCanonicalFormOnly) {
  EXPECT_TRUE(ValidateUuid("grant_id", "123e4567-e89b-42d3-a456-426614174000").ok());
  EXPECT_TRUE(ValidateUuid("grant_id", "123E4567-E89B-42D3-A456-426614174000").ok());
  for (const char* id : {"", "123", "123e4567e89b42d3a456426614174000",
                         "123e4567-e89b-42d3-a456-42661417400g", "' OR 1=1 --"}) {
    absl::Status status = ValidateUuid("grant_id", id);

    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(status.message().rfind("grant_id ", 0), 0u) << status;
  }
}

TEST(ValidateNameTest, RejectsEveryInvisibleOrReorderingCharacter) {
  // Each is placed inside an otherwise valid name, so that trimming cannot remove it.
  const char* const characters[] = {
      "\x7F",              // DEL.
      "\xC2\x85",          // U+0085 next line (C1 control).
      "\xC2\xAD",          // U+00AD soft hyphen.
      "\xCD\x8F",          // U+034F combining grapheme joiner.
      "\xD8\x9C",          // U+061C Arabic letter mark.
      "\xE1\x85\x9F",      // U+115F Hangul choseong filler.
      "\xE1\xA0\x8E",      // U+180E Mongolian vowel separator.
      "\xE2\x80\x8D",      // U+200D zero-width joiner.
      "\xE2\x80\x8F",      // U+200F right-to-left mark.
      "\xE2\x80\xA8",      // U+2028 line separator.
      "\xE2\x80\xAE",      // U+202E right-to-left override.
      "\xE2\x81\xA0",      // U+2060 word joiner.
      "\xE2\x81\xA7",      // U+2067 right-to-left isolate.
      "\xE2\xA0\x80",      // U+2800 Braille pattern blank.
      "\xE3\x85\xA4",      // U+3164 Hangul filler.
      "\xEE\x80\x80",      // U+E000 private use.
      "\xEF\xB8\x8F",      // U+FE0F variation selector 16.
      "\xEF\xBB\xBF",      // U+FEFF byte order mark.
      "\xEF\xBE\xA0",      // U+FFA0 halfwidth Hangul filler.
      "\xEF\xBF\xBE",      // U+FFFE noncharacter.
      "\xF3\xA0\x80\x81",  // U+E0001 language tag.
  };
  for (const char* character : characters) {
    const std::string value = std::string("An") + character + "na";

    absl::StatusOr<std::string> name = ValidateName("last_name", value);

    ASSERT_EQ(name.status().code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_NE(name.status().message().find("control or invisible"), absl::string_view::npos)
        << name.status();
  }
}

TEST(ValidateNameTest, AcceptsScriptsAndCombiningAccents) {
  for (const char* value : {"Zoë Brontë", "José", "李小龙", "Ólafur Ragnar", "Nguyễn",
                            "O'Brien-Smith", "محمد", "Ἀριστοτέλης"}) {
    EXPECT_TRUE(ValidateName("first_name", value).ok()) << value;
  }
}

TEST(ValidateEmailTest, RejectsLookAlikeLetters) {
  // Cyrillic а (U+0430) and Greek ο (U+03BF) look like the Latin letters they replace.
  for (const char* email : {"\xD0\xB0na@example.org", "ana@examp\xCE\xBF" "le.org"}) {
    absl::StatusOr<std::string> result = ValidateEmail("email", email);

    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << email;
    EXPECT_NE(result.status().message().find("ASCII"), absl::string_view::npos) << email;
  }
}

TEST(ValidateTimestampTest, AcceptsTheProtobufRange) {
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(kMaxTimestampSeconds);
  timestamp.set_nanos(999999999);

  absl::StatusOr<absl::Time> time = ValidateTimestamp("expire_time", timestamp);

  ASSERT_TRUE(time.ok()) << time.status();
  EXPECT_EQ(absl::ToUnixSeconds(*time), kMaxTimestampSeconds);
}

TEST(ValidateTimestampTest, RejectsOutOfRangeSecondsAndNanos) {
  struct Case {
    int64_t seconds;
    int32_t nanos;
    std::string expected_words;
  };
  const Case cases[] = {
      {kMaxTimestampSeconds + 1, 0, "years 0001 to 9999"},
      {kMinTimestampSeconds - 1, 0, "years 0001 to 9999"},
      {INT64_MAX, 0, "years 0001 to 9999"},
      {0, -1, "nanos"},
      {0, 1000000000, "nanos"},
  };
  for (const Case& input : cases) {
    google::protobuf::Timestamp timestamp;
    timestamp.set_seconds(input.seconds);
    timestamp.set_nanos(input.nanos);

    absl::StatusOr<absl::Time> time = ValidateTimestamp("expire_time", timestamp);

    ASSERT_EQ(time.status().code(), absl::StatusCode::kInvalidArgument) << input.seconds;
    EXPECT_EQ(time.status().message().rfind("expire_time ", 0), 0u) << time.status();
    EXPECT_NE(time.status().message().find(input.expected_words), absl::string_view::npos)
        << time.status();
  }
}

TEST(ValidateOptionalTextTest, AcceptsEmptyAndPrintableUtf8) {
  EXPECT_TRUE(ValidateOptionalText("actor_id", "", 8).ok());
  EXPECT_TRUE(ValidateOptionalText("actor_id", "mtls:Zoë", 16).ok());
}

TEST(ValidateOptionalTextTest, RejectsLongInvalidAndControlText) {
  const BadInput cases[] = {
      {"123456789", "longer than 8 bytes"},
      {"ab\xFF", "not valid UTF-8"},
      {"ab\ncd", "control character"},
      {std::string("ab\0cd", 5), "control character"},
  };
  for (const BadInput& input : cases) {
    absl::Status status = ValidateOptionalText("actor_id", input.value, 8);

    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << input.value;
    EXPECT_EQ(status.message().rfind("actor_id ", 0), 0u) << status;
    EXPECT_NE(status.message().find(input.expected_words), absl::string_view::npos) << status;
  }
}

}  // namespace
}  // namespace accessdelegation::server
