#include "storage/migration_files.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace accessdelegation::storage {
namespace {

constexpr int kMaxMigrationVersion = 999999;

bool IsValidMigrationName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

absl::Status BadFileName(absl::string_view file_name) {
  return absl::InvalidArgumentError(absl::StrCat(
      "migration file name \"", absl::CHexEscape(file_name),
      "\" is invalid: expected NNNN_name.sql with a version from 1 to ", kMaxMigrationVersion,
      " and a name made of letters, digits and _"));
}

}  // namespace

absl::StatusOr<MigrationFileName> ParseMigrationFileName(absl::string_view file_name) {
  absl::string_view rest = file_name;
  if (!absl::ConsumeSuffix(&rest, ".sql")) return BadFileName(file_name);
  const size_t underscore = rest.find('_');
  if (underscore == absl::string_view::npos || underscore == 0) return BadFileName(file_name);
  const absl::string_view digits = rest.substr(0, underscore);
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return BadFileName(file_name);
  }
  int version = 0;
  if (!absl::SimpleAtoi(digits, &version) || version < 1 ||
      version > kMaxMigrationVersion) {
    return BadFileName(file_name);
  }
  MigrationFileName parsed;
  parsed.version = version;
  parsed.name = std::string(rest.substr(underscore + 1));
  if (!IsValidMigrationName(parsed.name)) return BadFileName(file_name);
  return parsed;
}

absl::Status CheckMigrations(absl::Span<const Migration> migrations) {
  if (migrations.empty()) {
    return absl::InvalidArgumentError(
        "no migrations are embedded; rebuild with the files of storage/migrations");
  }
  int previous_version = 0;
  for (const Migration& migration : migrations) {
    const std::string label = absl::StrCat("migration ", migration.version, "_",
                                           absl::CHexEscape(migration.name));
    if (migration.version < 1 || migration.version > kMaxMigrationVersion) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, " has a version outside 1 to ", kMaxMigrationVersion, "; renumber the file"));
    }
    if (migration.version <= previous_version) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, " does not follow version ", previous_version,
          " in ascending order; give every migration file its own, higher number"));
    }
    if (!IsValidMigrationName(migration.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, " has an invalid name; use letters, digits and _ only"));
    }
    if (absl::StripAsciiWhitespace(migration.sql).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(label, " has no SQL; add its statements"));
    }
    if (absl::StrContains(migration.sql, absl::string_view("\0", 1))) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, " contains a NUL byte, which PostgreSQL rejects; remove it"));
    }
    previous_version = migration.version;
  }
  return absl::OkStatus();
}

}  // namespace accessdelegation::storage
