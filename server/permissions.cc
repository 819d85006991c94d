#include "server/permissions.h"

namespace accessdelegation::server {

bool LevelGrants(v1::AccessLevel level, v1::Permission permission) {
  switch (level) {
    case v1::ACCESS_LEVEL_FULL:
      return v1::Permission_IsValid(permission) && permission != v1::PERMISSION_UNSPECIFIED;
    case v1::ACCESS_LEVEL_APPOINTMENTS_ONLY:
      return permission == v1::PERMISSION_VIEW_APPOINTMENTS ||
             permission == v1::PERMISSION_SCHEDULE_APPOINTMENTS;
    default:
      return false;
  }
}

const char* AccessLevelDisplayName(v1::AccessLevel level) {
  switch (level) {
    case v1::ACCESS_LEVEL_FULL:
      return "Full access";
    case v1::ACCESS_LEVEL_APPOINTMENTS_ONLY:
      return "Appointments only";
    default:
      return "No access";
  }
}

}  // namespace accessdelegation::server
