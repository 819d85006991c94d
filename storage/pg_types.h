#ifndef ACCESSDELEGATION_STORAGE_PG_TYPES_H_
#define ACCESSDELEGATION_STORAGE_PG_TYPES_H_

#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace accessdelegation::storage {

// Returns whether `text` is a UUID in the 8-4-4-4-12 hexadecimal form, in either letter
// case. Ids are checked with this before they reach SQL, so that a malformed id is an
// ordinary "not found" and never a cast error.
bool IsUuid(absl::string_view text);

// Returns `uuid` in lower case, the form PostgreSQL prints, so ids compare as strings.
std::string CanonicalUuid(absl::string_view uuid);

// Returns the form by which the store compares emails: ASCII letters lower-cased, every
// other byte unchanged.
std::string NormalizeEmail(absl::string_view email);

// Formats `time` as a timestamptz literal in UTC with microsecond precision; any finer
// part is truncated toward the past. The infinite times map to 'infinity' and
// '-infinity'. SQL reads the parameter as `$n::timestamptz`.
std::string TimestampParameter(absl::Time time);

// Formats `duration` as a whole number of microseconds, truncated toward zero. SQL reads
// it as `$n::bigint * interval '1 microsecond'`.
std::string MicrosecondsParameter(absl::Duration duration);

// Reads a column produced by unix_micros(...), whole microseconds since the Unix epoch.
absl::Time ReadTime(const pqxx::field& field);

// Wraps raw bytes so that libpqxx sends them as a binary bytea parameter.
pqxx::binarystring BytesParameter(const std::string& bytes);

// Reads a bytea column as raw bytes.
std::string ReadBytes(const pqxx::field& field);

// Reads a text or uuid::text column; NULL reads as "".
std::string ReadText(const pqxx::field& field);

// The text stored for each access level: "FULL" or "APPOINTMENTS_ONLY". nullopt for
// ACCESS_LEVEL_UNSPECIFIED and values outside the enum.
std::optional<absl::string_view> AccessLevelText(AccessLevel level);

// Parses stored access-level text; ACCESS_LEVEL_UNSPECIFIED for unknown text.
AccessLevel ParseAccessLevel(absl::string_view text);

// The text stored for each invitation state: the enum value name without its
// "INVITATION_STATE_" prefix. nullopt for INVITATION_STATE_UNSPECIFIED and values outside
// the enum.
std::optional<absl::string_view> InvitationStateText(InvitationState state);

// Parses stored invitation-state text; INVITATION_STATE_UNSPECIFIED for unknown text.
InvitationState ParseInvitationState(absl::string_view text);

// Returns the SQL name of a grant state: the enum value name without "GRANT_STATE_".
// The names of the ended states are also the values of grants.end_reason. nullopt for
// GRANT_STATE_UNSPECIFIED and values outside the enum.
std::optional<absl::string_view> GrantStateText(GrantState state);

// Parses a stored grants.end_reason into the ended state it names;
// GRANT_STATE_UNSPECIFIED for unknown text.
GrantState ParseGrantEndReason(absl::string_view text);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_PG_TYPES_H_
