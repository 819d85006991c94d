#ifndef ACCESSDELEGATION_STORAGE_EMBEDDED_MIGRATIONS_H_
#define ACCESSDELEGATION_STORAGE_EMBEDDED_MIGRATIONS_H_

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace accessdelegation::storage {

// Migration is one storage/migrations/NNNN_name.sql file, compiled into the binary.
struct Migration {
  int version;             // NNNN from the file name.
  absl::string_view name;  // The name part of the file name.
  absl::string_view sql;   // The file's contents: one or more statements.
};

// Returns every migration in ascending version order. The build generates the definition
// with storage/embed_migrations.cmake.
absl::Span<const Migration> EmbeddedMigrations();

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_EMBEDDED_MIGRATIONS_H_
