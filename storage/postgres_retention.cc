#include "storage/pg_types.h"
#include "storage/postgres_store.h"

namespace accessdelegation::storage {
namespace {

// Each statement deletes at most $n rows, chosen by ctid in a subquery. The outer WHERE
// repeats the conditions, so that a row another transaction changed while this one waited
// for its lock is checked again on its new version (it has a new ctid and stays).

// $1 is the oldest create_time kept, $2 the batch size.
constexpr Statement kPurgeRequestIds = {"purge_request_ids", R"sql(
DELETE FROM idempotency_keys
WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM idempotency_keys WHERE create_time < $1::timestamptz LIMIT $2))
  AND create_time < $1::timestamptz
)sql"};

// $1 is the oldest last_failure_time that still counts, $2 now, $3 the batch size.
constexpr Statement kPurgeSignInThrottles = {"purge_sign_in_throttles", R"sql(
DELETE FROM sign_in_throttles
WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM sign_in_throttles
        WHERE last_failure_time < $1::timestamptz
          AND (blocked_until IS NULL OR blocked_until <= $2::timestamptz)
        LIMIT $3))
  AND last_failure_time < $1::timestamptz
  AND (blocked_until IS NULL OR blocked_until <= $2::timestamptz)
)sql"};

// LEAST skips a NULL end_time, so it is the session's end, whether by sign-out or by expiry.
// $1 is the oldest end kept, $2 the batch size.
constexpr Statement kPurgeSessions = {"purge_sessions", R"sql(
DELETE FROM sessions
WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM sessions WHERE LEAST(expire_time, end_time) < $1::timestamptz LIMIT $2))
  AND LEAST(expire_time, end_time) < $1::timestamptz
)sql"};

}  // namespace

void PrepareRetentionStatements(pqxx::connection& connection) {
  PrepareStatements(connection, {kPurgeRequestIds, kPurgeSignInThrottles, kPurgeSessions});
}

absl::StatusOr<PurgeResult> PostgresStore::PurgeStaleRecords(const PurgeOptions& options) {
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError("batch_size must be at least 1");
  }
  return Transact("PurgeStaleRecords", [&](pqxx::work& txn) -> absl::StatusOr<PurgeResult> {
    PurgeResult result;
    result.request_ids = static_cast<int>(
        txn.exec_prepared(kPurgeRequestIds.name,
                          TimestampParameter(options.now - options.request_id_retention),
                          options.batch_size)
            .affected_rows());
    result.sign_in_throttles = static_cast<int>(
        txn.exec_prepared(kPurgeSignInThrottles.name,
                          TimestampParameter(options.now - options.sign_in_failure_lifetime),
                          TimestampParameter(options.now), options.batch_size)
            .affected_rows());
    result.sessions = static_cast<int>(
        txn.exec_prepared(kPurgeSessions.name,
                          TimestampParameter(options.now - options.ended_session_retention),
                          options.batch_size)
            .affected_rows());
    return result;
  });
}

}  // namespace accessdelegation::storage
