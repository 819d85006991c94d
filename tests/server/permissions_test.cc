#include "server/permissions.h"

#include <gtest/gtest.h>

namespace accessdelegation::server {
namespace {

TEST(LevelGrantsTest, FullGrantsEveryPermission) {
  for (int value = v1::Permission_MIN + 1; value <= v1::Permission_MAX; ++value) {
    EXPECT_TRUE(LevelGrants(v1::ACCESS_LEVEL_FULL, static_cast<v1::Permission>(value)))
        << v1::Permission_Name(value);
  }
}

TEST(LevelGrantsTest, AppointmentsOnlyGrantsTheAppointmentPermissions) {
  const v1::AccessLevel level = v1::ACCESS_LEVEL_APPOINTMENTS_ONLY;

  EXPECT_TRUE(LevelGrants(level, v1::PERMISSION_VIEW_APPOINTMENTS));
  EXPECT_TRUE(LevelGrants(level, v1::PERMISSION_SCHEDULE_APPOINTMENTS));
  EXPECT_FALSE(LevelGrants(level, v1::PERMISSION_VIEW_HEALTH_RECORD));
  EXPECT_FALSE(LevelGrants(level, v1::PERMISSION_MESSAGE_CARE_TEAM));
  EXPECT_FALSE(LevelGrants(level, v1::PERMISSION_VIEW_BILLING));
}

TEST(LevelGrantsTest, UnsetOrUnknownValuesGrantNothing) {
  EXPECT_FALSE(LevelGrants(v1::ACCESS_LEVEL_UNSPECIFIED, v1::PERMISSION_VIEW_APPOINTMENTS));
  EXPECT_FALSE(LevelGrants(static_cast<v1::AccessLevel>(99), v1::PERMISSION_VIEW_APPOINTMENTS));
  EXPECT_FALSE(LevelGrants(v1::ACCESS_LEVEL_FULL, v1::PERMISSION_UNSPECIFIED));
  EXPECT_FALSE(LevelGrants(v1::ACCESS_LEVEL_FULL, static_cast<v1::Permission>(99)));
}

}  // namespace
}  // namespace accessdelegation::server
