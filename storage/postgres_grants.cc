#include "absl/strings/str_cat.h"
#include "storage/audit.h"
#include "storage/pg_types.h"
#include "storage/postgres_store.h"
#include "storage/write_support.h"

namespace accessdelegation::storage {
namespace {

// The columns of every grant read: the grant joined with its delegate (d) and its owner
// (o). in_force is false once the grant is ended or past its expire_time. revoke_time and
// end_reason record when and why an ended grant ended.
#define GRANT_COLUMNS_FROM                                                                       \
  "SELECT g.id::text AS id, g.owner_account_id::text AS owner_account_id, "                    \
  "g.delegate_account_id::text AS delegate_account_id, d.email AS delegate_email, "           \
  "d.first_name AS delegate_first_name, d.last_name AS delegate_last_name, "                  \
  "g.access_level, g.invitation_id::text AS invitation_id, "                                   \
  "unix_micros(g.create_time) AS create_time, unix_micros(g.update_time) AS update_time, "    \
  "g.version, unix_micros(g.expire_time) AS expire_time, "                                     \
  "o.first_name AS owner_first_name, o.last_name AS owner_last_name, "                         \
  "(g.revoke_time IS NULL AND (g.expire_time IS NULL OR g.expire_time > now())) AS in_force, " \
  "unix_micros(g.revoke_time) AS revoke_time, g.end_reason "                                   \
  "FROM grants g JOIN accounts d ON d.id = g.delegate_account_id "                             \
  "JOIN accounts o ON o.id = g.owner_account_id "

constexpr Statement kSelectGrantById = {"select_grant_by_id",
                                        GRANT_COLUMNS_FROM "WHERE g.id = $1::uuid"};

// Reads through the partial unique index grants_live_owner_delegate_idx. A grant past
// its expire_time is no longer in force, whether or not the sweep has marked it yet.
constexpr Statement kSelectLiveGrant = {"select_live_grant", GRANT_COLUMNS_FROM R"sql(
WHERE g.owner_account_id = $1::uuid
  AND g.delegate_account_id = $2::uuid
  AND g.revoke_time IS NULL
  AND (g.expire_time IS NULL OR g.expire_time > now())
)sql"};

// Keeps the grants in state $6 at time $2: ACTIVE, REVOKED, LEFT or EXPIRED. A grant past
// its expire_time is EXPIRED whether or not the sweep has marked it yet. $3 and $4 are
// the (create_time, id) of the previous page's last row, or NULL; $5 is the row limit.
#define GRANT_STATE_AND_PAGE_FILTER                                                           \
  "AND CASE $6::text "                                                                       \
  "  WHEN 'ACTIVE' THEN g.revoke_time IS NULL "                                              \
  "    AND (g.expire_time IS NULL OR g.expire_time > $2::timestamptz) "                      \
  "  WHEN 'EXPIRED' THEN g.end_reason = 'EXPIRED' "                                          \
  "    OR (g.revoke_time IS NULL AND g.expire_time <= $2::timestamptz) "                     \
  "  ELSE g.end_reason = $6::text "                                                          \
  "END "                                                                                     \
  "AND ($3::timestamptz IS NULL OR (g.create_time, g.id) > ($3::timestamptz, $4::uuid)) "    \
  "ORDER BY g.create_time, g.id "                                                            \
  "LIMIT $5"

// Reads the owner's grants through grants_owner_create_time_idx, in page order.
constexpr Statement kListOwnerGrants = {
    "list_owner_grants",
    GRANT_COLUMNS_FROM "WHERE g.owner_account_id = $1::uuid " GRANT_STATE_AND_PAGE_FILTER};

// Reads the delegate's grants through grants_delegate_create_time_idx, in page order.
constexpr Statement kListDelegatedGrants = {
    "list_delegated_grants",
    GRANT_COLUMNS_FROM "WHERE g.delegate_account_id = $1::uuid " GRANT_STATE_AND_PAGE_FILTER};

#undef GRANT_STATE_AND_PAGE_FILTER

#undef GRANT_COLUMNS_FROM

// Marks the pair's grant that is past its expire_time as expired, so that it leaves the
// live-grant unique index. The sweep sends its emails later.
constexpr Statement kExpireDueGrantOfPair = {"expire_due_grant_of_pair", R"sql(
UPDATE grants
SET revoke_time = expire_time, end_reason = 'EXPIRED', update_time = now(),
    version = version + 1
WHERE owner_account_id = $1::uuid AND delegate_account_id = $2::uuid
  AND revoke_time IS NULL AND expire_time <= now()
RETURNING id::text AS id
)sql"};

// Inserts nothing when the delegate already has a live grant from the owner.
constexpr Statement kInsertGrant = {"insert_grant", R"sql(
INSERT INTO grants (owner_account_id, delegate_account_id, access_level, invitation_id,
                    expire_time)
VALUES ($1::uuid, $2::uuid, $3, $4::uuid, $5::timestamptz)
ON CONFLICT (owner_account_id, delegate_account_id) WHERE revoke_time IS NULL DO NOTHING
RETURNING id::text AS id
)sql"};

// Sets the level $3 and, when $5 is true, the expire_time $6 (NULL for none), at version
// $4 unless that is NULL. update_time and version move only when something changes. A new
// expire_time may need a new warning, so it clears expiry_warning_time.
constexpr Statement kUpdateGrant = {"update_grant", R"sql(
UPDATE grants
SET access_level = $3,
    expire_time = CASE WHEN $5::boolean THEN $6::timestamptz ELSE expire_time END,
    expiry_warning_time = CASE WHEN $5::boolean THEN NULL ELSE expiry_warning_time END,
    update_time = CASE
      WHEN access_level = $3 AND NOT ($5::boolean AND expire_time IS DISTINCT FROM $6::timestamptz)
      THEN update_time ELSE now() END,
    version = CASE
      WHEN access_level = $3 AND NOT ($5::boolean AND expire_time IS DISTINCT FROM $6::timestamptz)
      THEN version ELSE version + 1 END
WHERE id = $1::uuid AND owner_account_id = $2::uuid AND revoke_time IS NULL
  AND (expire_time IS NULL OR expire_time > now())
  AND ($4::bigint IS NULL OR version = $4::bigint)
RETURNING id::text AS id
)sql"};

// Ends a grant in force of owner $2 for reason $4 (REVOKED), at version $3 unless NULL.
constexpr Statement kRevokeGrant = {"revoke_grant", R"sql(
UPDATE grants
SET revoke_time = now(), update_time = now(), end_reason = 'REVOKED', version = version + 1
WHERE id = $1::uuid AND owner_account_id = $2::uuid AND revoke_time IS NULL
  AND (expire_time IS NULL OR expire_time > now())
  AND ($3::bigint IS NULL OR version = $3::bigint)
RETURNING id::text AS id
)sql"};

// As kRevokeGrant, for the delegate $2 giving up their own grant.
constexpr Statement kLeaveGrant = {"leave_grant", R"sql(
UPDATE grants
SET revoke_time = now(), update_time = now(), end_reason = 'LEFT', version = version + 1
WHERE id = $1::uuid AND delegate_account_id = $2::uuid AND revoke_time IS NULL
  AND (expire_time IS NULL OR expire_time > now())
  AND ($3::bigint IS NULL OR version = $3::bigint)
RETURNING id::text AS id
)sql"};

// Marks up to $2 grants past their expire_time at $1 as expired, skipping rows that
// another sweep holds.
constexpr Statement kMarkExpiredGrants = {"mark_expired_grants", R"sql(
WITH due AS (
  SELECT id FROM grants
  WHERE revoke_time IS NULL AND expire_time <= $1::timestamptz
  ORDER BY expire_time
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
UPDATE grants g
SET revoke_time = g.expire_time, end_reason = 'EXPIRED', update_time = now(),
    version = g.version + 1
FROM due
WHERE g.id = due.id
RETURNING g.id::text AS id
)sql"};

// Claims up to $1 expired grants whose "expired" emails are unsent.
constexpr Statement kClaimExpiryNotices = {"claim_expiry_notices", R"sql(
WITH due AS (
  SELECT id FROM grants
  WHERE end_reason = 'EXPIRED' AND expiry_notice_time IS NULL
  ORDER BY id
  LIMIT $1
  FOR UPDATE SKIP LOCKED
)
UPDATE grants g SET expiry_notice_time = now()
FROM due
WHERE g.id = due.id
RETURNING g.id::text AS id
)sql"};

// Claims up to $3 grants in force that end within $2 microseconds after $1 and have had
// no warning.
constexpr Statement kClaimExpiryWarnings = {"claim_expiry_warnings", R"sql(
WITH due AS (
  SELECT id FROM grants
  WHERE revoke_time IS NULL AND expiry_warning_time IS NULL
    AND expire_time > $1::timestamptz
    AND expire_time <= $1::timestamptz + $2::bigint * interval '1 microsecond'
  ORDER BY expire_time
  LIMIT $3
  FOR UPDATE SKIP LOCKED
)
UPDATE grants g SET expiry_warning_time = now()
FROM due
WHERE g.id = due.id
RETURNING g.id::text AS id
)sql"};

struct GrantRow {
  GrantRecord record;
  bool in_force = false;
};

GrantRow GrantFromRow(const pqxx::row& row) {
  GrantRow result;
  GrantRecord& grant = result.record;
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
  grant.version = row["version"].as<int64_t>();
  if (!row["expire_time"].is_null()) grant.expire_time = ReadTime(row["expire_time"]);
  grant.owner_first_name = ReadText(row["owner_first_name"]);
  grant.owner_last_name = ReadText(row["owner_last_name"]);
  result.in_force = row["in_force"].as<bool>();
  if (result.in_force) {
    grant.state = v1::GRANT_STATE_ACTIVE;
  } else if (row["revoke_time"].is_null()) {
    // Past its expire_time, not yet marked by the sweep.
    grant.state = v1::GRANT_STATE_EXPIRED;
    grant.end_time = grant.expire_time;
  } else {
    grant.state = ParseGrantEndReason(ReadText(row["end_reason"]));
    grant.end_time = ReadTime(row["revoke_time"]);
  }
  return result;
}

std::optional<GrantRow> SelectGrantById(pqxx::transaction_base& txn,
                                        const std::string& grant_id) {
  const pqxx::result result = txn.exec_prepared(kSelectGrantById.name, grant_id);
  if (result.empty()) return std::nullopt;
  return GrantFromRow(result[0]);
}

absl::Status GrantNotFoundError() { return absl::NotFoundError("grant not found"); }

// Returns why a conditional update of grant `id` changed no row: NOT_FOUND if it does not
// exist, is not in force, or `holder_matches` rejects it; otherwise ABORTED, since only
// the version can have failed.
template <typename HolderMatches>
absl::Status ExplainUnchangedGrant(pqxx::transaction_base& txn, const std::string& id,
                                   HolderMatches holder_matches) {
  std::optional<GrantRow> row = SelectGrantById(txn, id);
  if (!row.has_value() || !row->in_force || !holder_matches(row->record)) {
    return GrantNotFoundError();
  }
  return absl::AbortedError("the record changed since the etag was read");
}

// Records a grant change in the audit trail and the change stream.
void RecordGrantEvent(pqxx::transaction_base& txn, const Actor& actor, const GrantRecord* before,
                      const GrantRecord& after, const std::string& action,
                      const std::string& change) {
  InsertAuditEvent(txn, actor, after.owner_account_id, action, "grant", after.id,
                   before == nullptr ? "{}" : GrantJson(*before), GrantJson(after));
  RecordGrantChange(txn, after.id, after.owner_account_id, after.delegate_account_id, change,
                    std::string(AccessLevelText(after.access_level).value_or("")));
}

// Queues the emails that `compose` builds for `grant`.
absl::Status QueueGrantEmails(pqxx::transaction_base& txn, const GrantEmailComposer& compose,
                              const GrantRecord& grant) {
  std::optional<AccountRecord> owner = SelectAccount(txn, grant.owner_account_id);
  std::optional<AccountRecord> delegate = SelectAccount(txn, grant.delegate_account_id);
  if (!owner.has_value() || !delegate.has_value()) {
    return absl::InternalError("an account of the grant is missing");
  }
  for (const OutboxEmail& email : compose({grant, *std::move(owner), *std::move(delegate)})) {
    absl::Status queued = InsertOutboxEmail(txn, email);
    if (!queued.ok()) return queued;
  }
  return absl::OkStatus();
}

// Audits and streams the expiry of each grant id in `result`, and returns how many.
int RecordExpiredGrants(pqxx::transaction_base& txn, const Actor& actor,
                        const pqxx::result& result) {
  int expired = 0;
  for (const pqxx::row& row : result) {
    std::optional<GrantRow> grant = SelectGrantById(txn, ReadText(row["id"]));
    if (!grant.has_value()) continue;
    RecordGrantEvent(txn, actor, nullptr, grant->record, "grant.expired", "EXPIRED");
    ++expired;
  }
  return expired;
}

// Reads a page of grants from `result`, which holds up to page.limit + 1 rows.
// Reads the rows of a list filtered to `state`. Each item takes the filter's state,
// because the row's own in_force is computed at the transaction's start, a moment after
// the list's `now`.
Page<GrantRecord> GrantPageFromResult(const pqxx::result& result, GrantState state,
                                      const PageRequest& page) {
  Page<GrantRecord> grants;
  for (const pqxx::row& row : result) {
    if (static_cast<int>(grants.items.size()) == page.limit) {
      const GrantRecord& last = grants.items.back();
      grants.next = PagePosition{last.create_time, last.id};
      break;
    }
    GrantRecord grant = GrantFromRow(row).record;
    grant.state = state;
    if (state == v1::GRANT_STATE_ACTIVE) grant.end_time.reset();
    if (state == v1::GRANT_STATE_EXPIRED && !grant.end_time.has_value()) {
      grant.end_time = grant.expire_time;
    }
    grants.items.push_back(std::move(grant));
  }
  return grants;
}

// Checks the arguments that ListGrants and ListDelegatedAccess share, and returns the
// stored text of `state` for the list statements' $6.
absl::StatusOr<std::string> CheckGrantListArguments(GrantState state, const PageRequest& page) {
  std::optional<absl::string_view> state_text = GrantStateText(state);
  if (!state_text.has_value()) {
    return absl::InvalidArgumentError(
        "the grant state filter is missing or unknown; pass ACTIVE, REVOKED, LEFT or EXPIRED");
  }
  if (page.limit < 1) return absl::InvalidArgumentError("the page limit must be at least 1");
  if (page.after.has_value() && !IsUuid(page.after->id)) {
    return absl::InvalidArgumentError("the page position is invalid");
  }
  return std::string(*state_text);
}

}  // namespace

void PrepareGrantStatements(pqxx::connection& connection) {
  PrepareStatements(connection,
                    {kSelectGrantById, kSelectLiveGrant, kListOwnerGrants, kListDelegatedGrants,
                     kExpireDueGrantOfPair, kInsertGrant, kUpdateGrant, kRevokeGrant, kLeaveGrant,
                     kMarkExpiredGrants, kClaimExpiryNotices, kClaimExpiryWarnings});
}

std::optional<GrantRecord> SelectLiveGrant(pqxx::transaction_base& txn,
                                           const std::string& owner_account_id,
                                           const std::string& delegate_account_id) {
  const pqxx::result result =
      txn.exec_prepared(kSelectLiveGrant.name, owner_account_id, delegate_account_id);
  if (result.empty()) return std::nullopt;
  return GrantFromRow(result[0]).record;
}

std::optional<GrantRecord> InsertGrant(pqxx::transaction_base& txn, const Actor& actor,
                                       const std::string& owner_account_id,
                                       const std::string& delegate_account_id,
                                       const std::string& access_level_text,
                                       const std::string& invitation_id,
                                       std::optional<absl::Time> expire_time) {
  RecordExpiredGrants(
      txn, actor,
      txn.exec_prepared(kExpireDueGrantOfPair.name, owner_account_id, delegate_account_id));

  const std::string expire_text = expire_time.has_value() ? TimestampParameter(*expire_time) : "";
  const pqxx::result inserted = txn.exec_prepared(
      kInsertGrant.name, owner_account_id, delegate_account_id, access_level_text, invitation_id,
      expire_time.has_value() ? expire_text.c_str() : nullptr);
  if (inserted.empty()) return std::nullopt;
  std::optional<GrantRow> grant = SelectGrantById(txn, ReadText(inserted[0]["id"]));
  if (!grant.has_value()) return std::nullopt;
  RecordGrantEvent(txn, actor, nullptr, grant->record, "grant.created", "CREATED");
  return grant->record;
}

absl::StatusOr<Page<GrantRecord>> PostgresStore::ListGrants(const std::string& owner_account_id,
                                                            GrantState state, absl::Time now,
                                                            const PageRequest& page) {
  absl::StatusOr<std::string> state_text = CheckGrantListArguments(state, page);
  if (!state_text.ok()) return state_text.status();
  if (!IsUuid(owner_account_id)) return Page<GrantRecord>();
  const std::string after_time = page.after ? TimestampParameter(page.after->create_time) : "";

  return Transact("ListGrants", [&](pqxx::work& txn) -> absl::StatusOr<Page<GrantRecord>> {
    const pqxx::result result = txn.exec_prepared(
        kListOwnerGrants.name, owner_account_id, TimestampParameter(now),
        page.after ? after_time.c_str() : nullptr, page.after ? page.after->id.c_str() : nullptr,
        page.limit + 1, *state_text);
    return GrantPageFromResult(result, state, page);
  });
}

absl::StatusOr<Page<GrantRecord>> PostgresStore::ListDelegatedAccess(
    const std::string& delegate_account_id, GrantState state, absl::Time now,
    const PageRequest& page) {
  absl::StatusOr<std::string> state_text = CheckGrantListArguments(state, page);
  if (!state_text.ok()) return state_text.status();
  if (!IsUuid(delegate_account_id)) return Page<GrantRecord>();
  const std::string after_time = page.after ? TimestampParameter(page.after->create_time) : "";

  return Transact("ListDelegatedAccess",
                  [&](pqxx::work& txn) -> absl::StatusOr<Page<GrantRecord>> {
                    const pqxx::result result = txn.exec_prepared(
                        kListDelegatedGrants.name, delegate_account_id, TimestampParameter(now),
                        page.after ? after_time.c_str() : nullptr,
                        page.after ? page.after->id.c_str() : nullptr, page.limit + 1,
                        *state_text);
                    return GrantPageFromResult(result, state, page);
                  });
}

absl::StatusOr<GrantRecord> PostgresStore::UpdateGrant(const Actor& actor,
                                                       const std::string& owner_account_id,
                                                       const std::string& grant_id,
                                                       ExpectedVersion expected,
                                                       const GrantUpdate& update,
                                                       const GrantEmailComposer& compose,
                                                       const IdempotencyKey& idempotency) {
  const std::optional<absl::string_view> level_text = AccessLevelText(update.access_level);
  if (!level_text.has_value()) {
    return absl::InvalidArgumentError("access_level must be FULL or APPOINTMENTS_ONLY");
  }
  if (!IsUuid(owner_account_id) || !IsUuid(grant_id)) return GrantNotFoundError();
  const std::string owner_id = CanonicalUuid(owner_account_id);
  const std::string id = CanonicalUuid(grant_id);
  const bool has_expire_time = update.change_expire_time && update.expire_time.has_value();
  const std::string expire_text = has_expire_time ? TimestampParameter(*update.expire_time) : "";

  auto write = [&](pqxx::transaction_base& txn) -> absl::StatusOr<GrantRecord> {
    std::optional<GrantRow> before = SelectGrantById(txn, id);
    std::string version_text;
    const pqxx::result updated = txn.exec_prepared(
        kUpdateGrant.name, id, owner_id, std::string(*level_text),
        VersionParameter(expected, &version_text), update.change_expire_time,
        has_expire_time ? expire_text.c_str() : nullptr);
    if (updated.empty() || !before.has_value()) {
      return ExplainUnchangedGrant(txn, id, [&](const GrantRecord& grant) {
        return grant.owner_account_id == owner_id;
      });
    }

    std::optional<GrantRow> after = SelectGrantById(txn, id);
    if (!after.has_value()) return absl::InternalError("the updated grant is missing");
    if (after->record.version == before->record.version) return after->record;
    const std::string change =
        after->record.access_level != before->record.access_level ? "LEVEL_CHANGED" : "";
    InsertAuditEvent(txn, actor, owner_id, "grant.updated", "grant", id,
                     GrantJson(before->record), GrantJson(after->record));
    if (!change.empty()) {
      RecordGrantChange(txn, id, owner_id, after->record.delegate_account_id, change,
                        std::string(*level_text));
    }
    absl::Status queued = QueueGrantEmails(txn, compose, after->record);
    if (!queued.ok()) return queued;
    return after->record;
  };
  return Transact("UpdateGrant", [&](pqxx::work& txn) {
    return RunIdempotent<GrantRecord>(txn, idempotency, write);
  });
}

namespace {

// Ends grant `id` with `statement` (kRevokeGrant or kLeaveGrant), whose $2 is `holder_id`,
// then audits, streams and emails the change.
absl::StatusOr<GrantRecord> EndGrant(pqxx::transaction_base& txn, const Actor& actor,
                                     const Statement& statement, const std::string& id,
                                     const std::string& holder_id, const ExpectedVersion& expected,
                                     const std::string& action, const GrantEmailComposer& compose) {
  std::optional<GrantRow> before = SelectGrantById(txn, id);
  std::string version_text;
  const pqxx::result ended =
      txn.exec_prepared(statement.name, id, holder_id, VersionParameter(expected, &version_text));
  const bool by_owner = &statement == &kRevokeGrant;
  if (ended.empty() || !before.has_value()) {
    return ExplainUnchangedGrant(txn, id, [&](const GrantRecord& grant) {
      return by_owner ? grant.owner_account_id == holder_id
                      : grant.delegate_account_id == holder_id;
    });
  }

  std::optional<GrantRow> after = SelectGrantById(txn, id);
  if (!after.has_value()) return absl::InternalError("the ended grant is missing");
  RecordGrantEvent(txn, actor, &before->record, after->record, action, "REVOKED");
  absl::Status queued = QueueGrantEmails(txn, compose, after->record);
  if (!queued.ok()) return queued;
  return after->record;
}

}  // namespace

absl::StatusOr<GrantRecord> PostgresStore::RevokeGrant(const Actor& actor,
                                                       const std::string& owner_account_id,
                                                       const std::string& grant_id,
                                                       ExpectedVersion expected,
                                                       const GrantEmailComposer& compose,
                                                       const IdempotencyKey& idempotency) {
  if (!IsUuid(owner_account_id) || !IsUuid(grant_id)) return GrantNotFoundError();
  const std::string owner_id = CanonicalUuid(owner_account_id);
  const std::string id = CanonicalUuid(grant_id);

  return Transact("RevokeGrant", [&](pqxx::work& txn) {
    return RunIdempotent<GrantRecord>(txn, idempotency, [&](pqxx::transaction_base& txn) {
      return EndGrant(txn, actor, kRevokeGrant, id, owner_id, expected, "grant.revoked", compose);
    });
  });
}

absl::StatusOr<GrantRecord> PostgresStore::LeaveGrant(const Actor& actor,
                                                      const std::string& delegate_account_id,
                                                      const std::string& grant_id,
                                                      ExpectedVersion expected,
                                                      const GrantEmailComposer& compose,
                                                      const IdempotencyKey& idempotency) {
  if (!IsUuid(delegate_account_id) || !IsUuid(grant_id)) return GrantNotFoundError();
  const std::string delegate_id = CanonicalUuid(delegate_account_id);
  const std::string id = CanonicalUuid(grant_id);

  return Transact("LeaveGrant", [&](pqxx::work& txn) {
    return RunIdempotent<GrantRecord>(txn, idempotency, [&](pqxx::transaction_base& txn) {
      return EndGrant(txn, actor, kLeaveGrant, id, delegate_id, expected, "grant.left", compose);
    });
  });
}

absl::StatusOr<std::optional<GrantRecord>> PostgresStore::FindGrant(
    const std::string& owner_account_id, const std::string& delegate_account_id) {
  if (!IsUuid(owner_account_id) || !IsUuid(delegate_account_id)) {
    return std::optional<GrantRecord>();
  }

  using MaybeGrant = std::optional<GrantRecord>;
  return ReadOnce("FindGrant", [&](pqxx::nontransaction& txn) -> absl::StatusOr<MaybeGrant> {
    return SelectLiveGrant(txn, owner_account_id, delegate_account_id);
  });
}

absl::StatusOr<SweepResult> PostgresStore::SweepExpiredGrants(const Actor& actor,
                                                              const SweepOptions& options) {
  if (options.batch_size < 1) return absl::InvalidArgumentError("batch_size must be at least 1");

  // Each step is its own transaction, so that one failing email does not hold back the
  // others' marks.
  SweepResult sweep;
  absl::StatusOr<int> expired = Transact("SweepExpiredGrants", [&](pqxx::work& txn) {
    return absl::StatusOr<int>(RecordExpiredGrants(
        txn, actor,
        txn.exec_prepared(kMarkExpiredGrants.name, TimestampParameter(options.now),
                          options.batch_size)));
  });
  if (!expired.ok()) return expired.status();
  sweep.expired = *expired;

  absl::StatusOr<int> notified = Transact("SweepExpiredGrants", [&](pqxx::work& txn) {
    int count = 0;
    for (const pqxx::row& row : txn.exec_prepared(kClaimExpiryNotices.name, options.batch_size)) {
      std::optional<GrantRow> grant = SelectGrantById(txn, ReadText(row["id"]));
      if (!grant.has_value()) continue;
      absl::Status queued = QueueGrantEmails(txn, options.compose_expired, grant->record);
      if (!queued.ok()) return absl::StatusOr<int>(queued);
      ++count;
    }
    return absl::StatusOr<int>(count);
  });
  if (!notified.ok()) return notified.status();
  sweep.notified = *notified;

  absl::StatusOr<int> warned = Transact("SweepExpiredGrants", [&](pqxx::work& txn) {
    int count = 0;
    for (const pqxx::row& row :
         txn.exec_prepared(kClaimExpiryWarnings.name, TimestampParameter(options.now),
                           MicrosecondsParameter(options.warning_window), options.batch_size)) {
      std::optional<GrantRow> grant = SelectGrantById(txn, ReadText(row["id"]));
      if (!grant.has_value()) continue;
      absl::Status queued = QueueGrantEmails(txn, options.compose_expiring, grant->record);
      if (!queued.ok()) return absl::StatusOr<int>(queued);
      ++count;
    }
    return absl::StatusOr<int>(count);
  });
  if (!warned.ok()) return warned.status();
  sweep.warned = *warned;
  return sweep;
}

}  // namespace accessdelegation::storage
