#include "storage/pg_types.h"

#include <gtest/gtest.h>

#include "absl/time/time.h"

namespace accessdelegation::storage {
namespace {

TEST(PgTypesTest, IsUuidAcceptsBothLetterCases) {
  EXPECT_TRUE(IsUuid("6f1c1d43-8b1e-4a61-9d7e-0a4b1f8f2c11"));
  EXPECT_TRUE(IsUuid("6F1C1D43-8B1E-4A61-9D7E-0A4B1F8F2C11"));
}

TEST(PgTypesTest, IsUuidRejectsOtherForms) {
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("{6f1c1d43-8b1e-4a61-9d7e-0a4b1f8f2c11}"));
  EXPECT_FALSE(IsUuid("6f1c1d438b1e4a619d7e0a4b1f8f2c11"));
  EXPECT_FALSE(IsUuid("6f1c1d43-8b1e-4a61-9d7e-0a4b1f8f2c1z"));
  EXPECT_FALSE(IsUuid("6f1c1d43-8b1e-4a61-9d7e0-a4b1f8f2c11"));
}

TEST(PgTypesTest, NormalizeEmailLowersAsciiOnly) {
  EXPECT_EQ(NormalizeEmail("Alice@Example.COM"), "alice@example.com");
  EXPECT_EQ(NormalizeEmail("\xC3\x89milie@example.com"), "\xC3\x89milie@example.com");
}

TEST(PgTypesTest, TimestampParameterKeepsMicroseconds) {
  EXPECT_EQ(TimestampParameter(absl::FromUnixMicros(1704164645123456)),
            "2024-01-02 03:04:05.123456+00");
  EXPECT_EQ(TimestampParameter(absl::FromUnixNanos(1704164645123456789)),
            "2024-01-02 03:04:05.123456+00");
  EXPECT_EQ(TimestampParameter(absl::FromUnixMicros(-1)), "1969-12-31 23:59:59.999999+00");
  EXPECT_EQ(TimestampParameter(absl::InfiniteFuture()), "infinity");
}

TEST(PgTypesTest, EnumTextRoundTrips) {
  for (AccessLevel level : {v1::ACCESS_LEVEL_FULL, v1::ACCESS_LEVEL_APPOINTMENTS_ONLY}) {
    ASSERT_TRUE(AccessLevelText(level).has_value());
    EXPECT_EQ(ParseAccessLevel(*AccessLevelText(level)), level);
  }
  for (int value = v1::INVITATION_STATE_PENDING; value <= v1::INVITATION_STATE_EXPIRED; ++value) {
    const auto state = static_cast<InvitationState>(value);
    ASSERT_TRUE(InvitationStateText(state).has_value()) << value;
    EXPECT_EQ(ParseInvitationState(*InvitationStateText(state)), state);
  }
  EXPECT_FALSE(AccessLevelText(v1::ACCESS_LEVEL_UNSPECIFIED).has_value());
  EXPECT_FALSE(InvitationStateText(v1::INVITATION_STATE_UNSPECIFIED).has_value());
  EXPECT_EQ(ParseAccessLevel("NONE"), v1::ACCESS_LEVEL_UNSPECIFIED);
}

}  // namespace
}  // namespace accessdelegation::storage
