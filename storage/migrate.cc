#include "storage/migrate.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "storage/connection_pool.h"
#include "storage/embedded_migrations.h"
#include "storage/migration_files.h"
#include "storage/pg_errors.h"
#include "storage/store.h"

namespace accessdelegation::storage {
namespace {

// Key of the session-level advisory lock that serializes ApplyMigrations across servers.
// Any fixed value works as long as nothing else in the database uses it.
constexpr int64_t kMigrationLockKey = 0x4163636573734465;  // "AccessDe" in ASCII.

constexpr char kLockMigrations[] = "lock_migrations";
constexpr char kLockMigrationsSql[] = "SELECT pg_advisory_lock($1::bigint)";

constexpr char kUnlockMigrations[] = "unlock_migrations";
constexpr char kUnlockMigrationsSql[] = "SELECT pg_advisory_unlock($1::bigint)";

constexpr char kRecordMigration[] = "record_migration";
constexpr char kRecordMigrationSql[] =
    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";

void PrepareMigrationStatements(pqxx::connection& connection) {
  connection.prepare(kLockMigrations, kLockMigrationsSql);
  connection.prepare(kUnlockMigrations, kUnlockMigrationsSql);
  connection.prepare(kRecordMigration, kRecordMigrationSql);
}

std::string MigrationLabel(const Migration& migration) {
  return absl::StrCat("migration ", migration.version, "_", migration.name);
}

// Applies one migration and records it, in one transaction.
void ApplyMigration(pqxx::connection& connection, const Migration& migration) {
  pqxx::work txn(connection);
  txn.exec(std::string(migration.sql), MigrationLabel(migration));
  txn.exec_prepared(kRecordMigration, migration.version, std::string(migration.name));
  txn.commit();
}

}  // namespace

std::vector<int> MissingMigrations(pqxx::transaction_base& txn) {
  // Statements here run unprepared because the caller's connection may be a pooled one
  // that never registers the migration statements.
  std::set<int> applied;
  const bool table_exists =
      txn.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].as<bool>();
  if (table_exists) {
    for (const pqxx::row& row : txn.exec("SELECT version FROM schema_migrations")) {
      applied.insert(row[0].as<int>());
    }
  }

  std::vector<int> missing;
  for (const Migration& migration : EmbeddedMigrations()) {
    if (applied.count(migration.version) == 0) missing.push_back(migration.version);
  }
  return missing;
}

absl::StatusOr<std::vector<int>> ApplyMigrations(const std::string& database_url) {
  if (absl::Status status = CheckMigrations(EmbeddedMigrations()); !status.ok()) {
    return absl::InternalError(
        absl::StrCat("the embedded migrations are inconsistent: ", status.message()));
  }

  std::unique_ptr<pqxx::connection> connection;
  try {
    connection = std::make_unique<pqxx::connection>(WithConnectionDefaults(database_url));
  } catch (const pqxx::broken_connection& error) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to the database: ", FirstLine(error.what())));
  } catch (...) {
    return StatusFromCurrentException("ApplyMigrations");
  }

  std::string step = "ApplyMigrations: taking the migration lock";
  try {
    PrepareMigrationStatements(*connection);
    {
      pqxx::nontransaction lock_txn(*connection);
      lock_txn.exec_prepared(kLockMigrations, kMigrationLockKey);
    }

    std::vector<int> missing;
    {
      step = "ApplyMigrations: reading schema_migrations";
      pqxx::work txn(*connection);
      missing = MissingMigrations(txn);
      txn.commit();
    }

    std::vector<int> applied;
    for (const Migration& migration : EmbeddedMigrations()) {
      if (std::find(missing.begin(), missing.end(), migration.version) == missing.end()) {
        continue;
      }
      step = absl::StrCat("ApplyMigrations: applying ", MigrationLabel(migration));
      ApplyMigration(*connection, migration);
      applied.push_back(migration.version);
    }

    step = "ApplyMigrations: releasing the migration lock";
    pqxx::nontransaction unlock_txn(*connection);
    unlock_txn.exec_prepared(kUnlockMigrations, kMigrationLockKey);
    return applied;
  } catch (...) {
    // Closing the connection releases the advisory lock if it is still held.
    return StatusFromCurrentException(step);
  }
}

}  // namespace accessdelegation::storage
