// Fuzzes the checks of the migration list (storage/migration_files.h). The input is a
// sequence of files, each "<file name>\n<sql>", separated by NUL bytes. Properties:
// - no crash and no sanitizer report;
// - a file name parses to a version from 1 to 999999 and a name of letters, digits and _,
//   or fails with INVALID_ARGUMENT;
// - a list that CheckMigrations accepts is non-empty and strictly ascending;
// - the embedded migrations pass CheckMigrations.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "storage/embedded_migrations.h"
#include "storage/migration_files.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using accessdelegation::storage::CheckMigrations;
  using accessdelegation::storage::Migration;
  using accessdelegation::storage::MigrationFileName;
  using accessdelegation::storage::ParseMigrationFileName;

  static const bool embedded_valid =
      CheckMigrations(accessdelegation::storage::EmbeddedMigrations()).ok();
  FUZZ_CHECK(embedded_valid);

  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> files =
      absl::StrSplit(input, absl::ByChar('\0'), absl::SkipEmpty());
  std::vector<MigrationFileName> names;
  std::vector<std::string> sql;
  for (const std::string& file : files) {
    const size_t line_end = file.find('\n');
    const std::string file_name = file.substr(0, line_end);
    absl::StatusOr<MigrationFileName> parsed = ParseMigrationFileName(file_name);
    if (!parsed.ok()) {
      FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
      continue;
    }
    FUZZ_CHECK(parsed->version >= 1);
    FUZZ_CHECK(parsed->version <= 999999);
    FUZZ_CHECK(!parsed->name.empty());
    for (char c : parsed->name) {
      FUZZ_CHECK(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_');
    }
    names.push_back(*std::move(parsed));
    sql.push_back(line_end == std::string::npos ? "" : file.substr(line_end + 1));
  }

  std::vector<Migration> migrations;
  for (size_t i = 0; i < names.size(); ++i) {
    migrations.push_back(Migration{names[i].version, names[i].name, sql[i]});
  }
  const absl::Status status = CheckMigrations(migrations);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(!migrations.empty());
  for (size_t i = 1; i < migrations.size(); ++i) {
    FUZZ_CHECK(migrations[i - 1].version < migrations[i].version);
  }
  return 0;
}
