#include "storage/pg_types.h"
#include "storage/postgres_store.h"

namespace accessdelegation::storage {
namespace {

// A NULL parameter turns its filter off.
// NOTE: after five runs PostgreSQL may switch to a generic plan, which cannot drop the
// filters that are off. The owner and actor indexes still serve the common filters.
constexpr Statement kSelectAuditEvents = {"select_audit_events", R"sql(
SELECT id, unix_micros(event_time) AS event_time, actor_kind, actor_id,
       owner_account_id::text AS owner_account_id, action, target_type, target_id,
       before::text AS before_json, after::text AS after_json, request_id, peer
FROM audit_events
WHERE ($1::uuid IS NULL OR owner_account_id = $1::uuid)
  AND ($2::text IS NULL OR actor_id = $2::text)
  AND ($3::timestamptz IS NULL OR event_time >= $3::timestamptz)
  AND ($4::timestamptz IS NULL OR event_time < $4::timestamptz)
  AND ($5::bigint IS NULL OR id < $5::bigint)
ORDER BY id DESC
LIMIT $6
)sql"};

constexpr Statement kSelectGrantChanges = {"select_grant_changes", R"sql(
SELECT id, unix_micros(change_time) AS change_time, grant_id::text AS grant_id,
       owner_account_id::text AS owner_account_id,
       delegate_account_id::text AS delegate_account_id, change, access_level
FROM grant_changes
WHERE id > $1::bigint
ORDER BY id
LIMIT $2
)sql"};

constexpr Statement kSelectLatestGrantChangeId = {"select_latest_grant_change_id", R"sql(
SELECT coalesce(max(id), 0) AS id FROM grant_changes
)sql"};

AuditEventRecord AuditEventFromRow(const pqxx::row& row) {
  AuditEventRecord event;
  event.id = row["id"].as<int64_t>();
  event.event_time = ReadTime(row["event_time"]);
  event.actor_kind = ReadText(row["actor_kind"]);
  event.actor_id = ReadText(row["actor_id"]);
  event.owner_account_id = ReadText(row["owner_account_id"]);
  event.action = ReadText(row["action"]);
  event.target_type = ReadText(row["target_type"]);
  event.target_id = ReadText(row["target_id"]);
  event.before_json = ReadText(row["before_json"]);
  event.after_json = ReadText(row["after_json"]);
  event.request_id = ReadText(row["request_id"]);
  event.peer = ReadText(row["peer"]);
  return event;
}

GrantChangeRecord GrantChangeFromRow(const pqxx::row& row) {
  GrantChangeRecord change;
  change.id = row["id"].as<int64_t>();
  change.change_time = ReadTime(row["change_time"]);
  change.grant_id = ReadText(row["grant_id"]);
  change.owner_account_id = ReadText(row["owner_account_id"]);
  change.delegate_account_id = ReadText(row["delegate_account_id"]);
  change.change = ReadText(row["change"]);
  change.access_level = ParseAccessLevel(ReadText(row["access_level"]));
  return change;
}

// Returns the text of an optional parameter, or nullptr, which libpqxx sends as NULL.
const char* OptionalParameter(const std::optional<std::string>& text) {
  return text.has_value() ? text->c_str() : nullptr;
}

}  // namespace

void PrepareHistoryStatements(pqxx::connection& connection) {
  PrepareStatements(connection,
                    {kSelectAuditEvents, kSelectGrantChanges, kSelectLatestGrantChangeId});
}

absl::StatusOr<std::vector<AuditEventRecord>> PostgresStore::ListAuditEvents(
    const AuditEventQuery& query) {
  if (!query.owner_account_id.empty() && !IsUuid(query.owner_account_id)) {
    return std::vector<AuditEventRecord>();
  }
  std::optional<std::string> owner, actor, start_time, end_time, before_id;
  if (!query.owner_account_id.empty()) owner = query.owner_account_id;
  if (!query.actor_id.empty()) actor = query.actor_id;
  if (query.start_time.has_value()) start_time = TimestampParameter(*query.start_time);
  if (query.end_time.has_value()) end_time = TimestampParameter(*query.end_time);
  if (query.before_id.has_value()) before_id = std::to_string(*query.before_id);

  return Transact("ListAuditEvents",
                  [&](pqxx::work& txn) -> absl::StatusOr<std::vector<AuditEventRecord>> {
                    const pqxx::result result = txn.exec_prepared(
                        kSelectAuditEvents.name, OptionalParameter(owner), OptionalParameter(actor),
                        OptionalParameter(start_time), OptionalParameter(end_time),
                        OptionalParameter(before_id), query.limit);
                    std::vector<AuditEventRecord> events;
                    events.reserve(result.size());
                    for (const pqxx::row& row : result) events.push_back(AuditEventFromRow(row));
                    return events;
                  });
}

absl::StatusOr<std::vector<GrantChangeRecord>> PostgresStore::ListGrantChanges(int64_t after_id,
                                                                               int limit) {
  return Transact(
      "ListGrantChanges", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<GrantChangeRecord>> {
        const pqxx::result result = txn.exec_prepared(kSelectGrantChanges.name, after_id, limit);
        std::vector<GrantChangeRecord> changes;
        changes.reserve(result.size());
        for (const pqxx::row& row : result) changes.push_back(GrantChangeFromRow(row));
        return changes;
      });
}

absl::StatusOr<int64_t> PostgresStore::LatestGrantChangeId() {
  return Transact("LatestGrantChangeId", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    return txn.exec_prepared1(kSelectLatestGrantChangeId.name)["id"].as<int64_t>();
  });
}

}  // namespace accessdelegation::storage
