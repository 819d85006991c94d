#include "storage/postgres_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "storage/audit.h"
#include "storage/migrate.h"
#include "storage/write_support.h"

namespace accessdelegation::storage {
namespace {

void PrepareAllStatements(pqxx::connection& connection) {
  PrepareAccountStatements(connection);
  PrepareRetentionStatements(connection);
  PrepareInvitationStatements(connection);
  PrepareGrantStatements(connection);
  PrepareOutboxStatements(connection);
  PrepareWriteSupportStatements(connection);
  PrepareAuditStatements(connection);
  PrepareHistoryStatements(connection);
}

constexpr Statement kPing = {"ping", "SELECT 1"};

// On a standby, pg_last_wal_replay_lsn() is NULL until replay starts; 0 then.
constexpr Statement kCurrentWalPosition = {"current_wal_position", R"sql(
SELECT coalesce((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                      ELSE pg_current_wal_insert_lsn() END) - '0/0'::pg_lsn, 0)::bigint
)sql"};

// Counts for monitoring. Each count reads an index or a small table; invitations by
// state is a full scan, which is fine at the sizes a monitoring interval sees.
constexpr Statement kReadStats = {"read_stats", R"sql(
SELECT 'outbox_backlog' AS name, count(*) AS value FROM outbox WHERE delivered_time IS NULL
UNION ALL
SELECT 'outbox_failing', count(*) FROM outbox WHERE delivered_time IS NULL AND attempts > 0
UNION ALL
SELECT 'outbox_dead', count(*) FROM outbox WHERE delivered_time IS NULL AND dead_time IS NOT NULL
UNION ALL
SELECT 'live_grants', count(*) FROM grants WHERE revoke_time IS NULL
UNION ALL
SELECT 'invitations:' || state, count(*) FROM invitations GROUP BY state
)sql"};

}  // namespace

void PrepareStatements(pqxx::connection& connection, std::initializer_list<Statement> statements) {
  for (const Statement& statement : statements) connection.prepare(statement.name, statement.sql);
}

PostgresStore::PostgresStore(const std::string& database_url, int pool_size,
                             absl::Duration acquire_timeout)
    : pool_(
          database_url, pool_size,
          [](pqxx::connection& connection) {
            PrepareAllStatements(connection);
            PrepareStatements(connection, {kPing, kReadStats, kCurrentWalPosition});
          },
          acquire_timeout) {}

absl::Status PostgresStore::CheckSchema() {
  return Transact("checking the schema", [](pqxx::work& txn) -> absl::Status {
    const std::vector<int> missing = MissingMigrations(txn);
    if (missing.empty()) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("the database schema lacks migrations ",
                                                      absl::StrJoin(missing, ", "),
                                                      "; apply them with ApplyMigrations"));
  });
}

absl::StatusOr<uint64_t> PostgresStore::CurrentWalPosition() {
  return ReadOnce("CurrentWalPosition",
                  [](pqxx::nontransaction& txn) -> absl::StatusOr<uint64_t> {
                    return txn.exec_prepared1(kCurrentWalPosition.name)[0].as<int64_t>();
                  });
}

absl::Status PostgresStore::Ping() {
  return Transact("Ping", [](pqxx::work& txn) -> absl::Status {
    txn.exec_prepared1(kPing.name);
    return absl::OkStatus();
  });
}

absl::StatusOr<StoreStats> PostgresStore::ReadStats() {
  absl::StatusOr<StoreStats> stats =
      Transact("ReadStats", [](pqxx::work& txn) -> absl::StatusOr<StoreStats> {
        StoreStats stats;
        for (const pqxx::row& row : txn.exec_prepared(kReadStats.name)) {
          const std::string name = row["name"].as<std::string>();
          const int64_t value = row["value"].as<int64_t>();
          if (name == "outbox_backlog") {
            stats.outbox_backlog = value;
          } else if (name == "outbox_failing") {
            stats.outbox_failing = value;
          } else if (name == "outbox_dead") {
            stats.outbox_dead = value;
          } else if (name == "live_grants") {
            stats.live_grants = value;
          } else if (absl::StartsWith(name, "invitations:")) {
            stats.invitations_by_state.emplace_back(name.substr(sizeof("invitations:") - 1),
                                                    value);
          }
        }
        return stats;
      });
  if (!stats.ok()) return stats;
  const ConnectionPool::Usage usage = pool_.GetUsage();
  stats->pool_size = usage.max_size;
  stats->pool_in_use = usage.leased;
  stats->pool_waits = usage.waits;
  stats->pool_wait_time = usage.wait_time;
  return stats;
}

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& database_url,
                                                         int pool_size,
                                                         absl::Duration acquire_timeout) {
  if (pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool_size must be at least 1, got ", pool_size));
  }
  if (acquire_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("acquire_timeout must be positive, got ",
                                                   absl::FormatDuration(acquire_timeout)));
  }
  auto store = std::make_unique<PostgresStore>(database_url, pool_size, acquire_timeout);
  absl::Status schema = store->CheckSchema();
  if (!schema.ok()) return schema;
  return store;
}

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& database_url,
                                                         int pool_size) {
  return OpenPostgresStore(database_url, pool_size, ConnectionPool::kDefaultAcquireTimeout);
}

}  // namespace accessdelegation::storage
