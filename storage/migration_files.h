#ifndef ACCESSDELEGATION_STORAGE_MIGRATION_FILES_H_
#define ACCESSDELEGATION_STORAGE_MIGRATION_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "storage/embedded_migrations.h"

namespace accessdelegation::storage {

// MigrationFileName is the version and name that a migration file name NNNN_name.sql
// carries.
struct MigrationFileName {
  int version = 0;
  std::string name;
};

// Returns the parts of a migration file name: one or more digits (leading zeros allowed),
// an underscore, a name of ASCII letters, digits and underscores, and ".sql". The version
// must be from 1 to 999999. INVALID_ARGUMENT names the file and the expected form.
// storage/embed_migrations.cmake applies the same rule when it embeds the files.
absl::StatusOr<MigrationFileName> ParseMigrationFileName(absl::string_view file_name);

// Checks a list of migrations before any is applied: at least one, versions from 1 to
// 999999 in strictly ascending order, names that ParseMigrationFileName accepts, and SQL
// that is not blank and contains no NUL byte. INVALID_ARGUMENT names the first bad entry.
absl::Status CheckMigrations(absl::Span<const Migration> migrations);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_MIGRATION_FILES_H_
