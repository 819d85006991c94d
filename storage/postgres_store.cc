#include "storage/postgres_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/migrate.h"

namespace accessdelegation::storage {
namespace {

void PrepareAllStatements(pqxx::connection& connection) {
  PrepareAccountStatements(connection);
  PrepareInvitationStatements(connection);
  PrepareGrantStatements(connection);
  PrepareOutboxStatements(connection);
}

constexpr Statement kPing = {"ping", "SELECT 1"};

}  // namespace

void PrepareStatements(pqxx::connection& connection, std::initializer_list<Statement> statements) {
  for (const Statement& statement : statements) connection.prepare(statement.name, statement.sql);
}

PostgresStore::PostgresStore(const std::string& database_url, int pool_size)
    : pool_(database_url, pool_size, [](pqxx::connection& connection) {
        PrepareAllStatements(connection);
        PrepareStatements(connection, {kPing});
      }) {}

absl::Status PostgresStore::CheckSchema() {
  return Transact("checking the schema", [](pqxx::work& txn) -> absl::Status {
    const std::vector<int> missing = MissingMigrations(txn);
    if (missing.empty()) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("the database schema lacks migrations ",
                                                      absl::StrJoin(missing, ", "),
                                                      "; apply them with ApplyMigrations"));
  });
}

absl::Status PostgresStore::Ping() {
  return Transact("Ping", [](pqxx::work& txn) -> absl::Status {
    txn.exec_prepared1(kPing.name);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& database_url,
                                                         int pool_size) {
  if (pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool_size must be at least 1, got ", pool_size));
  }
  auto store = std::make_unique<PostgresStore>(database_url, pool_size);
  absl::Status schema = store->CheckSchema();
  if (!schema.ok()) return schema;
  return store;
}

}  // namespace accessdelegation::storage
