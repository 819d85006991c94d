#include "storage/pg_types.h"
#include "storage/postgres_store.h"

namespace accessdelegation::storage {
namespace {

// The three grant reads return the same columns: the grant joined with its delegate.
constexpr Statement kSelectGrantById = {"select_grant_by_id", R"sql(
SELECT g.id::text AS id, g.owner_account_id::text AS owner_account_id,
       g.delegate_account_id::text AS delegate_account_id, a.email AS delegate_email,
       a.first_name AS delegate_first_name, a.last_name AS delegate_last_name,
       g.access_level, g.invitation_id::text AS invitation_id,
       unix_micros(g.create_time) AS create_time, unix_micros(g.update_time) AS update_time
FROM grants g
JOIN accounts a ON a.id = g.delegate_account_id
WHERE g.id = $1::uuid
)sql"};

// Reads through the partial unique index grants_live_owner_delegate_idx.
constexpr Statement kSelectLiveGrant = {"select_live_grant", R"sql(
SELECT g.id::text AS id, g.owner_account_id::text AS owner_account_id,
       g.delegate_account_id::text AS delegate_account_id, a.email AS delegate_email,
       a.first_name AS delegate_first_name, a.last_name AS delegate_last_name,
       g.access_level, g.invitation_id::text AS invitation_id,
       unix_micros(g.create_time) AS create_time, unix_micros(g.update_time) AS update_time
FROM grants g
JOIN accounts a ON a.id = g.delegate_account_id
WHERE g.owner_account_id = $1::uuid
  AND g.delegate_account_id = $2::uuid
  AND g.revoke_time IS NULL
)sql"};

constexpr Statement kListLiveGrants = {"list_live_grants", R"sql(
SELECT g.id::text AS id, g.owner_account_id::text AS owner_account_id,
       g.delegate_account_id::text AS delegate_account_id, a.email AS delegate_email,
       a.first_name AS delegate_first_name, a.last_name AS delegate_last_name,
       g.access_level, g.invitation_id::text AS invitation_id,
       unix_micros(g.create_time) AS create_time, unix_micros(g.update_time) AS update_time
FROM grants g
JOIN accounts a ON a.id = g.delegate_account_id
WHERE g.owner_account_id = $1::uuid AND g.revoke_time IS NULL
ORDER BY g.create_time, g.id
)sql"};

// Inserts nothing when the delegate already has a live grant from the owner.
constexpr Statement kInsertGrant = {"insert_grant", R"sql(
INSERT INTO grants (owner_account_id, delegate_account_id, access_level, invitation_id)
VALUES ($1::uuid, $2::uuid, $3, $4::uuid)
ON CONFLICT (owner_account_id, delegate_account_id) WHERE revoke_time IS NULL DO NOTHING
RETURNING id::text AS id
)sql"};

// update_time moves only when the level changes.
constexpr Statement kUpdateGrantLevel = {"update_grant_level", R"sql(
UPDATE grants
SET access_level = $3,
    update_time = CASE WHEN access_level = $3 THEN update_time ELSE now() END
WHERE id = $1::uuid AND owner_account_id = $2::uuid AND revoke_time IS NULL
RETURNING id::text AS id
)sql"};

constexpr Statement kRevokeGrant = {"revoke_grant", R"sql(
UPDATE grants
SET revoke_time = now(), update_time = now()
WHERE id = $1::uuid AND owner_account_id = $2::uuid AND revoke_time IS NULL
)sql"};

GrantRecord GrantFromRow(const pqxx::row& row) {
  GrantRecord grant;
  grant.id = ReadText(row["id"]);
  grant.owner_account_id = ReadText(row["owner_account_id"]);
  grant.delegate_account_id = ReadText(row["delegate_account_id"]);
  grant.delegate_email = ReadText(row["delegate_email"]);
  grant.delegate_first_name = ReadText(row["delegate_first_name"]);
  grant.delegate_last_name = ReadText(row["delegate_last_name"]);
  grant.access_level = ParseAccessLevel(ReadText(row["access_level"]));
  grant.invitation_id = ReadText(row["invitation_id"]);
  grant.create_time = ReadTime(row["create_time"]);
  grant.update_time = ReadTime(row["update_time"]);
  return grant;
}

std::optional<GrantRecord> SelectGrantById(pqxx::transaction_base& txn,
                                           const std::string& grant_id) {
  const pqxx::result result = txn.exec_prepared(kSelectGrantById.name, grant_id);
  if (result.empty()) return std::nullopt;
  return GrantFromRow(result[0]);
}

absl::Status GrantNotFoundError() { return absl::NotFoundError("grant not found"); }

}  // namespace

void PrepareGrantStatements(pqxx::connection& connection) {
  PrepareStatements(connection, {kSelectGrantById, kSelectLiveGrant, kListLiveGrants, kInsertGrant,
                                 kUpdateGrantLevel, kRevokeGrant});
}

std::optional<GrantRecord> SelectLiveGrant(pqxx::transaction_base& txn,
                                           const std::string& owner_account_id,
                                           const std::string& delegate_account_id) {
  const pqxx::result result =
      txn.exec_prepared(kSelectLiveGrant.name, owner_account_id, delegate_account_id);
  if (result.empty()) return std::nullopt;
  return GrantFromRow(result[0]);
}

std::optional<GrantRecord> InsertGrant(pqxx::transaction_base& txn,
                                       const std::string& owner_account_id,
                                       const std::string& delegate_account_id,
                                       const std::string& access_level_text,
                                       const std::string& invitation_id) {
  const pqxx::result inserted = txn.exec_prepared(
      kInsertGrant.name, owner_account_id, delegate_account_id, access_level_text, invitation_id);
  if (inserted.empty()) return std::nullopt;
  return SelectGrantById(txn, ReadText(inserted[0]["id"]));
}

absl::StatusOr<std::vector<GrantRecord>> PostgresStore::ListGrants(
    const std::string& owner_account_id) {
  if (!IsUuid(owner_account_id)) return std::vector<GrantRecord>();

  using Grants = std::vector<GrantRecord>;
  return Transact("ListGrants", [&](pqxx::work& txn) -> absl::StatusOr<Grants> {
    // No paging: the list holds only live grants, one per delegate of the owner.
    const pqxx::result result = txn.exec_prepared(kListLiveGrants.name, owner_account_id);
    Grants grants;
    grants.reserve(result.size());
    for (const pqxx::row& row : result) grants.push_back(GrantFromRow(row));
    return grants;
  });
}

absl::StatusOr<GrantRecord> PostgresStore::UpdateGrant(const std::string& owner_account_id,
                                                       const std::string& grant_id,
                                                       AccessLevel access_level) {
  const std::optional<absl::string_view> level_text = AccessLevelText(access_level);
  if (!level_text.has_value()) {
    return absl::InvalidArgumentError("access_level must be FULL or APPOINTMENTS_ONLY");
  }
  if (!IsUuid(owner_account_id) || !IsUuid(grant_id)) return GrantNotFoundError();

  return Transact("UpdateGrant", [&](pqxx::work& txn) -> absl::StatusOr<GrantRecord> {
    const pqxx::result updated = txn.exec_prepared(kUpdateGrantLevel.name, grant_id,
                                                   owner_account_id, std::string(*level_text));
    if (updated.empty()) return GrantNotFoundError();
    std::optional<GrantRecord> grant = SelectGrantById(txn, ReadText(updated[0]["id"]));
    if (!grant.has_value()) return absl::InternalError("the updated grant is missing");
    return *std::move(grant);
  });
}

absl::Status PostgresStore::RevokeGrant(const std::string& owner_account_id,
                                        const std::string& grant_id) {
  if (!IsUuid(owner_account_id) || !IsUuid(grant_id)) return GrantNotFoundError();

  return Transact("RevokeGrant", [&](pqxx::work& txn) -> absl::Status {
    const pqxx::result revoked = txn.exec_prepared(kRevokeGrant.name, grant_id, owner_account_id);
    if (revoked.affected_rows() == 0) return GrantNotFoundError();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<GrantRecord>> PostgresStore::FindGrant(
    const std::string& owner_account_id, const std::string& delegate_account_id) {
  if (!IsUuid(owner_account_id) || !IsUuid(delegate_account_id)) {
    return std::optional<GrantRecord>();
  }

  using MaybeGrant = std::optional<GrantRecord>;
  return Transact("FindGrant", [&](pqxx::work& txn) -> absl::StatusOr<MaybeGrant> {
    return SelectLiveGrant(txn, owner_account_id, delegate_account_id);
  });
}

}  // namespace accessdelegation::storage
