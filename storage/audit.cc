#include "storage/audit.h"

#include <pqxx/pqxx>

#include "absl/strings/str_format.h"
#include "storage/pg_types.h"
#include "storage/postgres_store.h"

namespace accessdelegation::storage {
namespace {

// The advisory lock key that orders grant-change writers: the bytes of "grantchg".
constexpr int64_t kGrantChangesLockKey = 0x6772616e74636867;

constexpr Statement kInsertAuditEvent = {"insert_audit_event", R"sql(
INSERT INTO audit_events (actor_kind, actor_id, owner_account_id, action, target_type,
                          target_id, before, after, request_id, peer)
VALUES ($1, $2, $3::uuid, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10)
)sql"};

constexpr Statement kLockGrantChanges = {"lock_grant_changes", R"sql(
SELECT pg_advisory_xact_lock($1::bigint)
)sql"};

constexpr Statement kInsertGrantChange = {"insert_grant_change", R"sql(
INSERT INTO grant_changes (grant_id, owner_account_id, delegate_account_id, change,
                           access_level)
VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5)
)sql"};

// Appends `text` to `json` as a JSON string literal.
void AppendJsonString(const std::string& text, std::string& json) {
  json += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      json += '\\';
      json += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      json += absl::StrFormat("\\u%04x", static_cast<int>(c));
    } else {
      json += c;
    }
  }
  json += '"';
}

}  // namespace

void PrepareAuditStatements(pqxx::connection& connection) {
  PrepareStatements(connection, {kInsertAuditEvent, kLockGrantChanges, kInsertGrantChange});
}

std::string JsonObject(std::initializer_list<std::pair<std::string, std::string>> members) {
  std::string json = "{";
  for (const auto& [name, value] : members) {
    if (json.size() > 1) json += ',';
    AppendJsonString(name, json);
    json += ':';
    AppendJsonString(value, json);
  }
  json += '}';
  return json;
}

void InsertAuditEvent(pqxx::transaction_base& txn, const Actor& actor,
                      const std::string& owner_account_id, const std::string& action,
                      const std::string& target_type, const std::string& target_id,
                      const std::string& before_json, const std::string& after_json) {
  const char* owner = IsUuid(owner_account_id) ? owner_account_id.c_str() : nullptr;
  txn.exec_prepared0(kInsertAuditEvent.name, actor.kind, actor.id, owner, action, target_type,
                     target_id, before_json.empty() ? "{}" : before_json,
                     after_json.empty() ? "{}" : after_json,
                     actor.request_id.empty() ? "-" : actor.request_id, actor.peer);
}

void RecordGrantChange(pqxx::transaction_base& txn, const std::string& grant_id,
                       const std::string& owner_account_id, const std::string& delegate_account_id,
                       const std::string& change, const std::string& access_level) {
  txn.exec_prepared(kLockGrantChanges.name, kGrantChangesLockKey);
  txn.exec_prepared0(kInsertGrantChange.name, grant_id, owner_account_id, delegate_account_id,
                     change, access_level);
}

}  // namespace accessdelegation::storage
