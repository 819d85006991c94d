#ifndef ACCESSDELEGATION_STORAGE_PG_ERRORS_H_
#define ACCESSDELEGATION_STORAGE_PG_ERRORS_H_

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace accessdelegation::storage {

// Returns the status for the exception currently being handled; call it only inside a
// catch block. `operation` names the Store method or step, for the message.
//
//   pqxx::unique_violation                            ALREADY_EXISTS
//   pqxx::serialization_failure, deadlock_detected    ABORTED
//   pqxx::broken_connection                           UNAVAILABLE
//   anything else                                     INTERNAL
//
// Messages carry the operation and the SQLSTATE but not the server's error text, because
// PostgreSQL puts row values into it (for example the DETAIL of a unique violation). Only
// a broken connection adds the first line of the libpq message, which names the host and
// the reason.
absl::Status StatusFromCurrentException(absl::string_view operation);

// Returns the first line of a libpq connection error, which names the host and the
// reason but no password.
absl::string_view FirstLine(absl::string_view text);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_PG_ERRORS_H_
