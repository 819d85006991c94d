#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "storage/audit.h"
#include "storage/pg_types.h"
#include "storage/postgres_store.h"
#include "storage/retry_delay.h"
#include "storage/write_support.h"

namespace accessdelegation::storage {
namespace {

// The columns of every invitation read. transaction_time is the transaction's start
// time; methods without a `now` parameter use it to compute the effective state.
#define INVITATION_COLUMNS                                                                \
  "id::text AS id, owner_account_id::text AS owner_account_id, email, email_normalized, " \
  "first_name, last_name, access_level, state, "                                          \
  "invitee_account_id::text AS invitee_account_id, grant_id::text AS grant_id, "          \
  "unix_micros(create_time) AS create_time, unix_micros(update_time) AS update_time, "    \
  "unix_micros(expire_time) AS expire_time, unix_micros(now()) AS transaction_time, "     \
  "version, unix_micros(grant_expire_time) AS grant_expire_time, "                        \
  "(passcode_hash IS NOT NULL) AS passcode_required "

constexpr Statement kSelectInvitationByToken = {
    "select_invitation_by_token",
    "SELECT " INVITATION_COLUMNS "FROM invitations WHERE token_hash = $1"};

constexpr Statement kSelectInvitationById = {
    "select_invitation_by_id", "SELECT " INVITATION_COLUMNS "FROM invitations WHERE id = $1::uuid"};

// $2 is the effective state to keep, or NULL for all; $3 is the time at which PENDING
// rows past their expire_time count as EXPIRED. $4 and $5 are the (create_time, id) of
// the previous page's last row, or NULL for the first page; $6 is the row limit.
constexpr Statement kListInvitations = {"list_invitations", "SELECT " INVITATION_COLUMNS R"sql(
FROM invitations
WHERE owner_account_id = $1::uuid
  AND ($2::text IS NULL
       OR $2::text = CASE WHEN state = 'PENDING' AND expire_time <= $3::timestamptz
                          THEN 'EXPIRED' ELSE state END)
  AND ($4::timestamptz IS NULL OR (create_time, id) < ($4::timestamptz, $5::uuid))
ORDER BY create_time DESC, id DESC
LIMIT $6
)sql"};

// Stores EXPIRED on the owner's expired PENDING invitations for one email, so that they
// leave the live-invitation unique index before a new invitation is inserted.
constexpr Statement kExpireStaleInvitations = {"expire_stale_invitations", R"sql(
UPDATE invitations
SET state = 'EXPIRED', update_time = expire_time, version = version + 1
WHERE owner_account_id = $1::uuid
  AND email_normalized = $2
  AND state = 'PENDING'
  AND expire_time <= now()
)sql"};

// Locks the owner's account row, so that the creates of one owner run one after the other
// and each counts the invitations committed before it. NO KEY UPDATE leaves other
// tables' foreign-key checks on the account unblocked.
constexpr Statement kLockInvitationOwner = {"lock_invitation_owner", R"sql(
SELECT id FROM accounts WHERE id = $1::uuid FOR NO KEY UPDATE
)sql"};

// Counts the invitation emails that the owner sent in the 24 hours before the transaction
// started: each invitation created and each resend, which the append-only audit trail
// records as "invitation.resent". Also returns when the oldest of them leaves that window.
constexpr Statement kCountRecentInvitations = {"count_recent_invitations", R"sql(
SELECT count(*) AS count,
       unix_micros(min(send_time) + interval '1 day') AS window_end,
       unix_micros(now()) AS now
FROM (SELECT create_time AS send_time
      FROM invitations
      WHERE owner_account_id = $1::uuid AND create_time > now() - interval '1 day'
      UNION ALL
      SELECT event_time
      FROM audit_events
      WHERE owner_account_id = $1::uuid AND action = 'invitation.resent'
        AND event_time > now() - interval '1 day') AS sends
)sql"};

// Inserts nothing when the owner already has a live invitation for the email.
constexpr Statement kInsertInvitation = {"insert_invitation", R"sql(
INSERT INTO invitations (owner_account_id, email, email_normalized, first_name, last_name,
                         access_level, state, token_hash, expire_time, grant_expire_time,
                         passcode_hash)
VALUES ($1::uuid, $2, $3, $4, $5, $6, 'PENDING', $7, $8::timestamptz, $9::timestamptz, $10)
ON CONFLICT (owner_account_id, email_normalized) WHERE state IN ('PENDING', 'ACCEPTED')
DO NOTHING
RETURNING id::text AS id
)sql"};

// Changes nothing unless the invitation is still PENDING, unexpired at $3 and reached by the
// token $4, so that of racing accepts exactly one updates the row.
constexpr Statement kAcceptInvitation = {"accept_invitation", R"sql(
UPDATE invitations
SET state = 'ACCEPTED', invitee_account_id = $2::uuid, update_time = $3::timestamptz,
    version = version + 1
WHERE id = $1::uuid AND state = 'PENDING' AND expire_time > $3::timestamptz
  AND token_hash = $4
RETURNING id::text AS id
)sql"};

// Changes nothing unless the invitation is still PENDING and unexpired at $2, and its
// token is still $3.
constexpr Statement kDeclineInvitation = {"decline_invitation", R"sql(
UPDATE invitations
SET state = 'DECLINED', update_time = $2::timestamptz, version = version + 1
WHERE id = $1::uuid AND state = 'PENDING' AND expire_time > $2::timestamptz
  AND token_hash = $3
RETURNING id::text AS id
)sql"};

// Moves an ACCEPTED invitation of owner $2 to state $3 (CONFIRMED or DENIED), at version
// $4 unless that is NULL. Changes nothing otherwise, so that of a racing confirm and deny
// exactly one updates the row.
constexpr Statement kDecideInvitation = {"decide_invitation", R"sql(
UPDATE invitations
SET state = $3, update_time = now(), version = version + 1
WHERE id = $1::uuid AND owner_account_id = $2::uuid AND state = 'ACCEPTED'
  AND ($4::bigint IS NULL OR version = $4::bigint)
RETURNING id::text AS id
)sql"};

constexpr Statement kSetInvitationGrant = {"set_invitation_grant", R"sql(
UPDATE invitations SET grant_id = $2::uuid WHERE id = $1::uuid
)sql"};

// Replaces the token hash in the same statement that checks the state, so the old token
// stops working the moment the new one exists. A new token may sign up again.
constexpr Statement kResendInvitation = {"resend_invitation", R"sql(
UPDATE invitations
SET token_hash = $3, expire_time = $4::timestamptz, signup_used = false, update_time = now(),
    version = version + 1
WHERE id = $1::uuid AND owner_account_id = $2::uuid AND state = 'PENDING'
  AND expire_time > $5::timestamptz
  AND ($6::bigint IS NULL OR version = $6::bigint)
RETURNING id::text AS id
)sql"};

constexpr Statement kCancelInvitation = {"cancel_invitation", R"sql(
UPDATE invitations
SET state = 'CANCELED', update_time = now(), version = version + 1
WHERE id = $1::uuid AND owner_account_id = $2::uuid
  AND (state = 'ACCEPTED' OR (state = 'PENDING' AND expire_time > $3::timestamptz))
  AND ($4::bigint IS NULL OR version = $4::bigint)
RETURNING id::text AS id
)sql"};

// Locks the PENDING, unexpired invitation with token $1 at $2, so that racing passcode
// tries are counted one after the other.
constexpr Statement kLockInvitationForPasscode = {"lock_invitation_for_passcode", R"sql(
SELECT id::text AS id, owner_account_id::text AS owner_account_id, email_normalized,
       passcode_hash, passcode_failures
FROM invitations
WHERE token_hash = $1 AND state = 'PENDING' AND expire_time > $2::timestamptz
FOR UPDATE
)sql"};

constexpr Statement kCountPasscodeFailure = {"count_passcode_failure", R"sql(
UPDATE invitations SET passcode_failures = passcode_failures + 1
WHERE id = $1::uuid
RETURNING passcode_failures
)sql"};

constexpr Statement kCancelInvitationForPasscode = {"cancel_invitation_for_passcode", R"sql(
UPDATE invitations
SET state = 'CANCELED', update_time = $2::timestamptz, version = version + 1
WHERE id = $1::uuid AND state = 'PENDING'
)sql"};

#undef INVITATION_COLUMNS

// InvitationRow is an invitation as read, with the stored columns that the record omits.
struct InvitationRow {
  InvitationRecord record;
  std::string email_normalized;
  bool passcode_required = false;
  absl::Time transaction_time;
};

// Reads the columns of the invitation reads above. `now` decides whether a PENDING
// invitation reads as EXPIRED; nullopt means the transaction's start time.
InvitationRow InvitationFromRow(const pqxx::row& row, std::optional<absl::Time> now) {
  InvitationRow result;
  InvitationRecord& invitation = result.record;
  invitation.id = ReadText(row["id"]);
  invitation.owner_account_id = ReadText(row["owner_account_id"]);
  invitation.email = ReadText(row["email"]);
  invitation.first_name = ReadText(row["first_name"]);
  invitation.last_name = ReadText(row["last_name"]);
  invitation.access_level = ParseAccessLevel(ReadText(row["access_level"]));
  invitation.state = ParseInvitationState(ReadText(row["state"]));
  invitation.invitee_account_id = ReadText(row["invitee_account_id"]);
  invitation.grant_id = ReadText(row["grant_id"]);
  invitation.create_time = ReadTime(row["create_time"]);
  invitation.update_time = ReadTime(row["update_time"]);
  invitation.expire_time = ReadTime(row["expire_time"]);
  invitation.version = row["version"].as<int64_t>();
  if (!row["grant_expire_time"].is_null()) {
    invitation.grant_expire_time = ReadTime(row["grant_expire_time"]);
  }
  result.email_normalized = ReadText(row["email_normalized"]);
  result.passcode_required = row["passcode_required"].as<bool>();
  result.transaction_time = ReadTime(row["transaction_time"]);

  // An expired PENDING invitation reads as it would once stored as EXPIRED.
  const absl::Time effective_now = now.value_or(result.transaction_time);
  if (invitation.state == v1::INVITATION_STATE_PENDING && invitation.expire_time <= effective_now) {
    invitation.state = v1::INVITATION_STATE_EXPIRED;
    invitation.update_time = invitation.expire_time;
  }
  return result;
}

std::optional<InvitationRow> SelectInvitationByToken(pqxx::transaction_base& txn,
                                                     const std::string& token_hash,
                                                     std::optional<absl::Time> now) {
  const pqxx::result result =
      txn.exec_prepared(kSelectInvitationByToken.name, BytesParameter(token_hash));
  if (result.empty()) return std::nullopt;
  return InvitationFromRow(result[0], now);
}

std::optional<InvitationRow> SelectInvitationById(pqxx::transaction_base& txn,
                                                  const std::string& invitation_id,
                                                  std::optional<absl::Time> now) {
  const pqxx::result result = txn.exec_prepared(kSelectInvitationById.name, invitation_id);
  if (result.empty()) return std::nullopt;
  return InvitationFromRow(result[0], now);
}

absl::Status InvitationNotFoundError() { return absl::NotFoundError("invitation not found"); }

absl::Status StaleVersionError() {
  return absl::AbortedError("the record changed since the etag was read");
}

// Returns the AcceptInvitation error that the invitation row alone decides, or OK if the
// account may try to accept it. The first matching case wins, so that a repeated accept by
// the invitee is FAILED_PRECONDITION although the row is no longer PENDING.
absl::Status CheckAcceptable(const InvitationRecord& invitation,
                             const std::string& invitee_account_id) {
  const bool accepted_or_confirmed = invitation.state == v1::INVITATION_STATE_ACCEPTED ||
                                     invitation.state == v1::INVITATION_STATE_CONFIRMED;
  if (accepted_or_confirmed && invitation.invitee_account_id == invitee_account_id) {
    return absl::FailedPreconditionError("this account has already accepted the invitation");
  }
  if (invitation.state != v1::INVITATION_STATE_PENDING) return InvitationNotFoundError();
  if (invitation.owner_account_id == invitee_account_id) {
    return absl::InvalidArgumentError("an owner cannot accept their own invitation");
  }
  return absl::OkStatus();
}

// Composes the email for a change with `compose` and queues it.
absl::Status QueueComposedEmail(pqxx::transaction_base& txn, const EmailComposer& compose,
                                const EmailContext& context) {
  return InsertOutboxEmail(txn, compose(context));
}

// Returns why an owner's conditional update of invitation `id` changed no row: NOT_FOUND
// if it does not exist or belongs to another owner, ABORTED if `expected` is stale, and
// otherwise FAILED_PRECONDITION naming the state, which `allowed` describes.
absl::Status ExplainUnchangedInvitation(pqxx::transaction_base& txn, const std::string& owner_id,
                                        const std::string& id, const ExpectedVersion& expected,
                                        absl::string_view allowed) {
  std::optional<InvitationRow> row = SelectInvitationById(txn, id, std::nullopt);
  if (!row.has_value() || row->record.owner_account_id != owner_id) {
    return InvitationNotFoundError();
  }
  if (expected.has_value() && row->record.version != *expected) return StaleVersionError();
  return absl::FailedPreconditionError(absl::StrCat(
      "the invitation is ", InvitationStateText(row->record.state).value_or("?"), ", not ",
      allowed));
}

// Returns the owner and, when set, the invitee of `invitation`, for its emails.
absl::StatusOr<EmailContext> LoadEmailContext(pqxx::transaction_base& txn,
                                              const InvitationRecord& invitation) {
  std::optional<AccountRecord> owner = SelectAccount(txn, invitation.owner_account_id);
  if (!owner.has_value()) return absl::InternalError("the invitation's owner is missing");
  EmailContext context{invitation, *std::move(owner), std::nullopt};
  if (!invitation.invitee_account_id.empty()) {
    context.invitee = SelectAccount(txn, invitation.invitee_account_id);
    if (!context.invitee.has_value()) {
      return absl::InternalError("the invitation's invitee is missing");
    }
  }
  return context;
}

// Re-reads invitation `id` after a change, audits the change as `action` against
// `before`, and queues the email built by `compose`.
absl::StatusOr<InvitationRecord> FinishInvitationChange(pqxx::transaction_base& txn,
                                                        const Actor& actor, const std::string& id,
                                                        std::optional<absl::Time> now,
                                                        const InvitationRecord* before,
                                                        const std::string& action,
                                                        const EmailComposer& compose) {
  std::optional<InvitationRow> row = SelectInvitationById(txn, id, now);
  if (!row.has_value()) return absl::InternalError("the changed invitation is missing");
  InsertAuditEvent(txn, actor, row->record.owner_account_id, action, "invitation", id,
                   before == nullptr ? "{}" : InvitationJson(*before),
                   InvitationJson(row->record));

  absl::StatusOr<EmailContext> context = LoadEmailContext(txn, row->record);
  if (!context.ok()) return context.status();
  absl::Status queued = QueueComposedEmail(txn, compose, *context);
  if (!queued.ok()) return queued;
  return row->record;
}

// Locks the owner's row and returns RESOURCE_EXHAUSTED, with the wait until the oldest
// counted email leaves the window, when the owner sent `daily_limit` invitation emails
// (new invitations and resends) in the last 24 hours.
absl::Status CheckDailyInvitationLimit(pqxx::transaction_base& txn, const std::string& owner_id,
                                       int daily_limit) {
  txn.exec_prepared(kLockInvitationOwner.name, owner_id);
  const pqxx::result counted = txn.exec_prepared(kCountRecentInvitations.name, owner_id);
  if (counted[0]["count"].as<int64_t>() < daily_limit) return absl::OkStatus();
  const absl::Time now = ReadTime(counted[0]["now"]);
  return ResourceExhaustedWithRetry(
      absl::StrCat("this owner has sent ", daily_limit,
                   " invitations (new or sent again) in the last 24 hours, the daily maximum"),
      ReadTime(counted[0]["window_end"]) - now, now);
}

}  // namespace

void PrepareInvitationStatements(pqxx::connection& connection) {
  PrepareStatements(connection, {kSelectInvitationByToken, kSelectInvitationById, kListInvitations,
                                 kExpireStaleInvitations, kInsertInvitation, kAcceptInvitation,
                                 kDeclineInvitation, kDecideInvitation, kSetInvitationGrant,
                                 kResendInvitation, kCancelInvitation, kLockInvitationOwner,
                                 kCountRecentInvitations, kLockInvitationForPasscode,
                                 kCountPasscodeFailure, kCancelInvitationForPasscode});
}

absl::StatusOr<InvitationRecord> PostgresStore::CreateInvitation(
    const Actor& actor, const NewInvitation& invitation, const EmailComposer& compose,
    const IdempotencyKey& idempotency) {
  if (!IsUuid(invitation.owner_account_id)) return absl::NotFoundError("owner account not found");
  const std::optional<absl::string_view> access_level = AccessLevelText(invitation.access_level);
  if (!access_level.has_value()) {
    return absl::InvalidArgumentError("access_level must be FULL or APPOINTMENTS_ONLY");
  }
  const std::string owner_id = CanonicalUuid(invitation.owner_account_id);
  const std::string email_normalized = NormalizeEmail(invitation.email);
  const std::optional<std::string> grant_expire_time =
      invitation.grant_expire_time.has_value()
          ? std::optional<std::string>(TimestampParameter(*invitation.grant_expire_time))
          : std::nullopt;

  auto write = [&](pqxx::transaction_base& txn) -> absl::StatusOr<InvitationRecord> {
    std::optional<AccountRecord> owner = SelectAccount(txn, owner_id);
    if (!owner.has_value()) return absl::NotFoundError("owner account not found");
    if (invitation.daily_limit > 0) {
      absl::Status within_limit = CheckDailyInvitationLimit(txn, owner_id, invitation.daily_limit);
      if (!within_limit.ok()) return within_limit;
    }
    if (NormalizeEmail(owner->email) == email_normalized) {
      return absl::InvalidArgumentError("an owner cannot invite their own email");
    }

    const std::optional<std::string> invitee_id = SelectAccountIdByEmail(txn, email_normalized);
    if (invitee_id.has_value() && SelectLiveGrant(txn, owner_id, *invitee_id).has_value()) {
      return absl::AlreadyExistsError("the account with this email already has access");
    }

    txn.exec_prepared0(kExpireStaleInvitations.name, owner_id, email_normalized);
    const pqxx::result inserted = txn.exec_prepared(
        kInsertInvitation.name, owner_id, invitation.email, email_normalized, invitation.first_name,
        invitation.last_name, std::string(*access_level), BytesParameter(invitation.token_hash),
        TimestampParameter(invitation.expire_time),
        grant_expire_time.has_value() ? grant_expire_time->c_str() : nullptr,
        invitation.passcode_hash.empty() ? nullptr : invitation.passcode_hash.c_str());
    if (inserted.empty()) {
      return absl::AlreadyExistsError(
          "the owner already has a pending or accepted invitation for this email");
    }
    return FinishInvitationChange(txn, actor, ReadText(inserted[0]["id"]), std::nullopt, nullptr,
                                  "invitation.created", compose);
  };
  return Transact("CreateInvitation", [&](pqxx::work& txn) {
    return RunIdempotent<InvitationRecord>(txn, idempotency, write);
  });
}

absl::StatusOr<InvitationLookup> PostgresStore::LookupInvitation(const std::string& token_hash,
                                                                 absl::Time now) {
  return Transact("LookupInvitation", [&](pqxx::work& txn) -> absl::StatusOr<InvitationLookup> {
    std::optional<InvitationRow> row = SelectInvitationByToken(txn, token_hash, now);
    if (!row.has_value() || row->record.state != v1::INVITATION_STATE_PENDING) {
      return InvitationNotFoundError();
    }

    std::optional<AccountRecord> owner = SelectAccount(txn, row->record.owner_account_id);
    if (!owner.has_value()) return absl::InternalError("the invitation's owner is missing");

    InvitationLookup lookup;
    lookup.invitation = row->record;
    lookup.owner = *std::move(owner);
    lookup.account_exists = SelectAccountIdByEmail(txn, row->email_normalized).has_value();
    lookup.passcode_required = row->passcode_required;
    return lookup;
  });
}

absl::StatusOr<PasscodeCheck> PostgresStore::CheckInvitationPasscode(
    const Actor& actor, const std::string& token_hash, const std::string& account_id,
    absl::Time now, bool has_passcode, const PasscodeVerifier& verify, int max_failures,
    const EmailComposer& compose_canceled) {
  if (!IsUuid(account_id)) return absl::NotFoundError("account not found");
  const std::string caller_id = CanonicalUuid(account_id);

  return Transact("CheckInvitationPasscode", [&](pqxx::work& txn) -> absl::StatusOr<PasscodeCheck> {
    PasscodeCheck check;
    const pqxx::result locked = txn.exec_prepared(
        kLockInvitationForPasscode.name, BytesParameter(token_hash), TimestampParameter(now));
    if (locked.empty()) return check;

    // The owner cannot accept, which AcceptInvitation reports, so the owner's tries count
    // nothing. Any other account must have the invited email before its passcode is read.
    if (ReadText(locked[0]["owner_account_id"]) == caller_id) return check;
    std::optional<AccountRecord> caller = SelectAccount(txn, caller_id);
    if (!caller.has_value()) return absl::NotFoundError("account not found");
    if (NormalizeEmail(caller->email) != ReadText(locked[0]["email_normalized"])) {
      check.outcome = PasscodeOutcome::kWrongAccount;
      return check;
    }

    if (locked[0]["passcode_hash"].is_null()) return check;
    check.invitation_id = ReadText(locked[0]["id"]);
    if (!has_passcode) {
      check.outcome = PasscodeOutcome::kMissing;
      return check;
    }
    const absl::StatusOr<bool> matches = verify(ReadText(locked[0]["passcode_hash"]));
    if (!matches.ok()) return matches.status();
    if (*matches) {
      check.outcome = PasscodeOutcome::kCorrect;
      return check;
    }

    std::optional<InvitationRow> before = SelectInvitationById(txn, check.invitation_id, now);
    if (!before.has_value()) return absl::InternalError("the locked invitation is missing");
    const pqxx::result counted = txn.exec_prepared(kCountPasscodeFailure.name, check.invitation_id);
    const int failures = counted[0]["passcode_failures"].as<int>();
    check.tries_left = std::max(max_failures - failures, 0);
    if (check.tries_left > 0) {
      check.outcome = PasscodeOutcome::kWrong;
      return check;
    }

    txn.exec_prepared0(kCancelInvitationForPasscode.name, check.invitation_id,
                       TimestampParameter(now));
    absl::StatusOr<InvitationRecord> canceled =
        FinishInvitationChange(txn, actor, check.invitation_id, now, &before->record,
                               "invitation.passcode_locked", compose_canceled);
    if (!canceled.ok()) return canceled.status();
    check.outcome = PasscodeOutcome::kCanceled;
    return check;
  });
}

absl::StatusOr<InvitationRecord> PostgresStore::AcceptInvitation(
    const Actor& actor, const std::string& token_hash, const std::string& invitee_account_id,
    absl::Time now, const EmailComposer& compose, const IdempotencyKey& idempotency) {
  if (!IsUuid(invitee_account_id)) return absl::NotFoundError("account not found");
  const std::string invitee_id = CanonicalUuid(invitee_account_id);

  auto write = [&](pqxx::transaction_base& txn) -> absl::StatusOr<InvitationRecord> {
    std::optional<InvitationRow> row = SelectInvitationByToken(txn, token_hash, now);
    if (!row.has_value()) return InvitationNotFoundError();
    absl::Status acceptable = CheckAcceptable(row->record, invitee_id);
    if (!acceptable.ok()) return acceptable;

    std::optional<AccountRecord> invitee = SelectAccount(txn, invitee_id);
    if (!invitee.has_value()) return absl::NotFoundError("account not found");
    if (NormalizeEmail(invitee->email) != row->email_normalized) {
      return absl::PermissionDeniedError("the invitation was sent to a different email");
    }
    if (SelectLiveGrant(txn, row->record.owner_account_id, invitee_id).has_value()) {
      return absl::AlreadyExistsError("this account already has access to the owner's record");
    }

    // The token is matched again because a ResendInvitation that commits after the read
    // above replaces it, and then the old link must no longer accept.
    const pqxx::result updated =
        txn.exec_prepared(kAcceptInvitation.name, row->record.id, invitee_id,
                          TimestampParameter(now), BytesParameter(token_hash));
    if (updated.empty()) {
      // Another call changed the row after the read above, so the fresh row decides the
      // error. For a racing accept by this same account that is FAILED_PRECONDITION.
      row = SelectInvitationByToken(txn, token_hash, now);
      if (!row.has_value()) return InvitationNotFoundError();
      acceptable = CheckAcceptable(row->record, invitee_id);
      if (!acceptable.ok()) return acceptable;
      return absl::AbortedError("the invitation changed during the call; retry");
    }
    return FinishInvitationChange(txn, actor, row->record.id, now, &row->record,
                                  "invitation.accepted", compose);
  };
  return Transact("AcceptInvitation", [&](pqxx::work& txn) {
    return RunIdempotent<InvitationRecord>(txn, idempotency, write);
  });
}

absl::StatusOr<InvitationRecord> PostgresStore::DeclineInvitation(
    const Actor& actor, const std::string& token_hash, absl::Time now,
    const EmailComposer& compose, const IdempotencyKey& idempotency) {
  auto write = [&](pqxx::transaction_base& txn) -> absl::StatusOr<InvitationRecord> {
    std::optional<InvitationRow> row = SelectInvitationByToken(txn, token_hash, now);
    if (!row.has_value() || row->record.state != v1::INVITATION_STATE_PENDING) {
      return InvitationNotFoundError();
    }
    const pqxx::result updated =
        txn.exec_prepared(kDeclineInvitation.name, row->record.id, TimestampParameter(now),
                          BytesParameter(token_hash));
    if (updated.empty()) return InvitationNotFoundError();
    return FinishInvitationChange(txn, actor, row->record.id, now, &row->record,
                                  "invitation.declined", compose);
  };
  return Transact("DeclineInvitation", [&](pqxx::work& txn) {
    return RunIdempotent<InvitationRecord>(txn, idempotency, write);
  });
}

namespace {

// Moves an ACCEPTED invitation of `owner_id` to `state` (CONFIRMED or DENIED), audits it
// and returns it re-read. NOT_FOUND if it does not exist or belongs to another owner;
// ABORTED if `expected` is stale; FAILED_PRECONDITION if it is not ACCEPTED.
absl::StatusOr<InvitationRecord> DecideInvitation(pqxx::transaction_base& txn,
                                                  const Actor& actor, const std::string& owner_id,
                                                  const std::string& invitation_id,
                                                  const ExpectedVersion& expected,
                                                  InvitationState state) {
  std::optional<InvitationRow> before = SelectInvitationById(txn, invitation_id, std::nullopt);
  std::string version_text;
  const pqxx::result updated = txn.exec_prepared(
      kDecideInvitation.name, invitation_id, owner_id,
      std::string(InvitationStateText(state).value_or("")),
      VersionParameter(expected, &version_text));
  if (updated.empty()) {
    return ExplainUnchangedInvitation(txn, owner_id, invitation_id, expected, "ACCEPTED");
  }

  std::optional<InvitationRow> row = SelectInvitationById(txn, invitation_id, std::nullopt);
  if (!row.has_value() || !before.has_value()) {
    return absl::InternalError("the decided invitation is missing");
  }
  const std::string action = state == v1::INVITATION_STATE_CONFIRMED ? "invitation.confirmed"
                                                                      : "invitation.denied";
  InsertAuditEvent(txn, actor, owner_id, action, "invitation", invitation_id,
                   InvitationJson(before->record), InvitationJson(row->record));
  return row->record;
}

}  // namespace

absl::StatusOr<Confirmation> PostgresStore::ConfirmInvitation(
    const Actor& actor, const std::string& owner_account_id, const std::string& invitation_id,
    ExpectedVersion expected, const EmailComposer& compose, const IdempotencyKey& idempotency) {
  if (!IsUuid(owner_account_id) || !IsUuid(invitation_id)) return InvitationNotFoundError();
  const std::string owner_id = CanonicalUuid(owner_account_id);
  const std::string id = CanonicalUuid(invitation_id);

  auto write = [&](pqxx::transaction_base& txn) -> absl::StatusOr<Confirmation> {
    absl::StatusOr<InvitationRecord> invitation = DecideInvitation(
        txn, actor, owner_id, id, expected, v1::INVITATION_STATE_CONFIRMED);
    if (!invitation.ok()) return invitation.status();
    // Returning an error rolls the state change above back.
    if (invitation->grant_expire_time.has_value() &&
        *invitation->grant_expire_time <= absl::Now()) {
      return absl::FailedPreconditionError(kGrantEndPassedMessage);
    }

    std::optional<GrantRecord> grant = InsertGrant(
        txn, actor, owner_id, invitation->invitee_account_id,
        std::string(AccessLevelText(invitation->access_level).value_or("")), id,
        invitation->grant_expire_time);
    if (!grant.has_value()) {
      return absl::AlreadyExistsError("the invitee already has access to the owner's record");
    }
    txn.exec_prepared0(kSetInvitationGrant.name, id, grant->id);
    invitation->grant_id = grant->id;

    absl::StatusOr<EmailContext> context = LoadEmailContext(txn, *invitation);
    if (!context.ok()) return context.status();
    absl::Status queued = QueueComposedEmail(txn, compose, *context);
    if (!queued.ok()) return queued;
    return Confirmation{*std::move(invitation), *std::move(grant)};
  };
  return Transact("ConfirmInvitation", [&](pqxx::work& txn) {
    return RunIdempotent<Confirmation>(txn, idempotency, write);
  });
}

absl::StatusOr<InvitationRecord> PostgresStore::DenyInvitation(
    const Actor& actor, const std::string& owner_account_id, const std::string& invitation_id,
    ExpectedVersion expected, const EmailComposer& compose, const IdempotencyKey& idempotency) {
  if (!IsUuid(owner_account_id) || !IsUuid(invitation_id)) return InvitationNotFoundError();
  const std::string owner_id = CanonicalUuid(owner_account_id);
  const std::string id = CanonicalUuid(invitation_id);

  auto write = [&](pqxx::transaction_base& txn) -> absl::StatusOr<InvitationRecord> {
    absl::StatusOr<InvitationRecord> invitation =
        DecideInvitation(txn, actor, owner_id, id, expected, v1::INVITATION_STATE_DENIED);
    if (!invitation.ok()) return invitation.status();

    absl::StatusOr<EmailContext> context = LoadEmailContext(txn, *invitation);
    if (!context.ok()) return context.status();
    absl::Status queued = QueueComposedEmail(txn, compose, *context);
    if (!queued.ok()) return queued;
    return invitation;
  };
  return Transact("DenyInvitation", [&](pqxx::work& txn) {
    return RunIdempotent<InvitationRecord>(txn, idempotency, write);
  });
}

absl::StatusOr<InvitationRecord> PostgresStore::ResendInvitation(
    const Actor& actor, const std::string& owner_account_id, const std::string& invitation_id,
    ExpectedVersion expected, const std::string& token_hash, absl::Time expire_time,
    absl::Time now, int daily_limit, const EmailComposer& compose,
    const IdempotencyKey& idempotency) {
  if (!IsUuid(owner_account_id) || !IsUuid(invitation_id)) return InvitationNotFoundError();
  const std::string owner_id = CanonicalUuid(owner_account_id);
  const std::string id = CanonicalUuid(invitation_id);

  auto write = [&](pqxx::transaction_base& txn) -> absl::StatusOr<InvitationRecord> {
    std::optional<InvitationRow> before = SelectInvitationById(txn, id, now);
    // Only a resend that can succeed is counted against the limit, so other failures keep
    // their own errors.
    if (daily_limit > 0 && before.has_value() && before->record.owner_account_id == owner_id &&
        before->record.state == v1::INVITATION_STATE_PENDING) {
      absl::Status within_limit = CheckDailyInvitationLimit(txn, owner_id, daily_limit);
      if (!within_limit.ok()) return within_limit;
    }
    std::string version_text;
    const pqxx::result updated = txn.exec_prepared(
        kResendInvitation.name, id, owner_id, BytesParameter(token_hash),
        TimestampParameter(expire_time), TimestampParameter(now),
        VersionParameter(expected, &version_text));
    if (updated.empty() || !before.has_value()) {
      return ExplainUnchangedInvitation(txn, owner_id, id, expected, "PENDING");
    }
    return FinishInvitationChange(txn, actor, id, now, &before->record, "invitation.resent",
                                  compose);
  };
  return Transact("ResendInvitation", [&](pqxx::work& txn) {
    return RunIdempotent<InvitationRecord>(txn, idempotency, write);
  });
}

absl::StatusOr<InvitationRecord> PostgresStore::CancelInvitation(
    const Actor& actor, const std::string& owner_account_id, const std::string& invitation_id,
    ExpectedVersion expected, absl::Time now, const EmailComposer& compose,
    const IdempotencyKey& idempotency) {
  if (!IsUuid(owner_account_id) || !IsUuid(invitation_id)) return InvitationNotFoundError();
  const std::string owner_id = CanonicalUuid(owner_account_id);
  const std::string id = CanonicalUuid(invitation_id);

  auto write = [&](pqxx::transaction_base& txn) -> absl::StatusOr<InvitationRecord> {
    std::optional<InvitationRow> before = SelectInvitationById(txn, id, now);
    std::string version_text;
    const pqxx::result updated =
        txn.exec_prepared(kCancelInvitation.name, id, owner_id, TimestampParameter(now),
                          VersionParameter(expected, &version_text));
    if (updated.empty() || !before.has_value()) {
      return ExplainUnchangedInvitation(txn, owner_id, id, expected, "PENDING or ACCEPTED");
    }
    return FinishInvitationChange(txn, actor, id, now, &before->record, "invitation.canceled",
                                  compose);
  };
  return Transact("CancelInvitation", [&](pqxx::work& txn) {
    return RunIdempotent<InvitationRecord>(txn, idempotency, write);
  });
}

absl::StatusOr<Page<InvitationRecord>> PostgresStore::ListInvitations(
    const std::string& owner_account_id, InvitationState state, absl::Time now,
    const PageRequest& page) {
  if (!IsUuid(owner_account_id)) return Page<InvitationRecord>();
  if (page.limit < 1) return absl::InvalidArgumentError("the page limit must be at least 1");
  // NULL as the filter parameter keeps every state.
  std::string state_text;
  const char* state_filter = nullptr;
  if (state != v1::INVITATION_STATE_UNSPECIFIED) {
    const std::optional<absl::string_view> text = InvitationStateText(state);
    if (!text.has_value()) return absl::InvalidArgumentError("state is not a known value");
    state_text = std::string(*text);
    state_filter = state_text.c_str();
  }
  std::string after_time;
  std::string after_id;
  if (page.after.has_value()) {
    if (!IsUuid(page.after->id)) return absl::InvalidArgumentError("the page position is invalid");
    after_time = TimestampParameter(page.after->create_time);
    after_id = page.after->id;
  }

  using Invitations = Page<InvitationRecord>;
  return Transact("ListInvitations", [&](pqxx::work& txn) -> absl::StatusOr<Invitations> {
    // One row past the limit tells whether another page follows.
    const pqxx::result result = txn.exec_prepared(
        kListInvitations.name, owner_account_id, state_filter, TimestampParameter(now),
        page.after.has_value() ? after_time.c_str() : nullptr,
        page.after.has_value() ? after_id.c_str() : nullptr, page.limit + 1);
    Invitations invitations;
    for (const pqxx::row& row : result) {
      if (static_cast<int>(invitations.items.size()) == page.limit) {
        const InvitationRecord& last = invitations.items.back();
        invitations.next = PagePosition{last.create_time, last.id};
        break;
      }
      invitations.items.push_back(InvitationFromRow(row, now).record);
    }
    return invitations;
  });
}

}  // namespace accessdelegation::storage
