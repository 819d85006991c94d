#ifndef ACCESSDELEGATION_SERVER_PERMISSIONS_H_
#define ACCESSDELEGATION_SERVER_PERMISSIONS_H_

#include "accessdelegation/v1/resources.pb.h"

namespace accessdelegation::server {

// Returns whether a delegate at `level` holds `permission`. This is the one place that
// maps access levels to permissions: FULL holds every permission, APPOINTMENTS_ONLY
// holds viewing and scheduling appointments, and unknown values hold nothing.
bool LevelGrants(v1::AccessLevel level, v1::Permission permission);

// Returns a short human name of `level` for emails, such as "Full access".
const char* AccessLevelDisplayName(v1::AccessLevel level);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_PERMISSIONS_H_
