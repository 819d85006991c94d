#include "absl/strings/str_cat.h"
#include "storage/pg_types.h"
#include "storage/postgres_store.h"

namespace accessdelegation::storage {
namespace {

// The three invitation reads return the same columns. transaction_time is the
// transaction's start time; methods without a `now` parameter use it to compute the
// effective state.
constexpr Statement kSelectInvitationByToken = {"select_invitation_by_token", R"sql(
SELECT id::text AS id, owner_account_id::text AS owner_account_id, email, email_normalized,
       first_name, last_name, access_level, state,
       invitee_account_id::text AS invitee_account_id, grant_id::text AS grant_id,
       unix_micros(create_time) AS create_time, unix_micros(update_time) AS update_time,
       unix_micros(expire_time) AS expire_time, unix_micros(now()) AS transaction_time
FROM invitations
WHERE token_hash = $1
)sql"};

constexpr Statement kSelectInvitationById = {"select_invitation_by_id", R"sql(
SELECT id::text AS id, owner_account_id::text AS owner_account_id, email, email_normalized,
       first_name, last_name, access_level, state,
       invitee_account_id::text AS invitee_account_id, grant_id::text AS grant_id,
       unix_micros(create_time) AS create_time, unix_micros(update_time) AS update_time,
       unix_micros(expire_time) AS expire_time, unix_micros(now()) AS transaction_time
FROM invitations
WHERE id = $1::uuid
)sql"};

// $2 is the effective state to keep, or NULL for all; $3 is the time at which PENDING
// rows past their expire_time count as EXPIRED.
constexpr Statement kListInvitations = {"list_invitations", R"sql(
SELECT id::text AS id, owner_account_id::text AS owner_account_id, email, email_normalized,
       first_name, last_name, access_level, state,
       invitee_account_id::text AS invitee_account_id, grant_id::text AS grant_id,
       unix_micros(create_time) AS create_time, unix_micros(update_time) AS update_time,
       unix_micros(expire_time) AS expire_time, unix_micros(now()) AS transaction_time
FROM invitations
WHERE owner_account_id = $1::uuid
  AND ($2::text IS NULL
       OR $2::text = CASE WHEN state = 'PENDING' AND expire_time <= $3::timestamptz
                          THEN 'EXPIRED' ELSE state END)
ORDER BY create_time DESC, id DESC
)sql"};

// Stores EXPIRED on the owner's expired PENDING invitations for one email, so that they
// leave the live-invitation unique index before a new invitation is inserted.
constexpr Statement kExpireStaleInvitations = {"expire_stale_invitations", R"sql(
UPDATE invitations
SET state = 'EXPIRED', update_time = expire_time
WHERE owner_account_id = $1::uuid
  AND email_normalized = $2
  AND state = 'PENDING'
  AND expire_time <= now()
)sql"};

// Inserts nothing when the owner already has a live invitation for the email.
constexpr Statement kInsertInvitation = {"insert_invitation", R"sql(
INSERT INTO invitations (owner_account_id, email, email_normalized, first_name, last_name,
                         access_level, state, token_hash, expire_time)
VALUES ($1::uuid, $2, $3, $4, $5, $6, 'PENDING', $7, $8::timestamptz)
ON CONFLICT (owner_account_id, email_normalized) WHERE state IN ('PENDING', 'ACCEPTED')
DO NOTHING
RETURNING id::text AS id
)sql"};

// Changes nothing unless the invitation is still PENDING and unexpired at $3, so that of
// racing accepts exactly one updates the row.
constexpr Statement kAcceptInvitation = {"accept_invitation", R"sql(
UPDATE invitations
SET state = 'ACCEPTED', invitee_account_id = $2::uuid, update_time = $3::timestamptz
WHERE id = $1::uuid AND state = 'PENDING' AND expire_time > $3::timestamptz
RETURNING id::text AS id
)sql"};

// Moves an ACCEPTED invitation of owner $2 to state $3 (CONFIRMED or DENIED). Changes
// nothing otherwise, so that of a racing confirm and deny exactly one updates the row.
constexpr Statement kDecideInvitation = {"decide_invitation", R"sql(
UPDATE invitations
SET state = $3, update_time = now()
WHERE id = $1::uuid AND owner_account_id = $2::uuid AND state = 'ACCEPTED'
RETURNING id::text AS id
)sql"};

constexpr Statement kSetInvitationGrant = {"set_invitation_grant", R"sql(
UPDATE invitations SET grant_id = $2::uuid WHERE id = $1::uuid
)sql"};

// InvitationRow is an invitation as read, with the stored columns that the record omits.
struct InvitationRow {
  InvitationRecord record;
  std::string email_normalized;
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
  result.email_normalized = ReadText(row["email_normalized"]);
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

}  // namespace

void PrepareInvitationStatements(pqxx::connection& connection) {
  PrepareStatements(connection, {kSelectInvitationByToken, kSelectInvitationById, kListInvitations,
                                 kExpireStaleInvitations, kInsertInvitation, kAcceptInvitation,
                                 kDecideInvitation, kSetInvitationGrant});
}

absl::StatusOr<InvitationRecord> PostgresStore::CreateInvitation(const NewInvitation& invitation,
                                                                 const EmailComposer& compose) {
  if (!IsUuid(invitation.owner_account_id)) return absl::NotFoundError("owner account not found");
  const std::optional<absl::string_view> access_level = AccessLevelText(invitation.access_level);
  if (!access_level.has_value()) {
    return absl::InvalidArgumentError("access_level must be FULL or APPOINTMENTS_ONLY");
  }
  const std::string owner_id = CanonicalUuid(invitation.owner_account_id);
  const std::string email_normalized = NormalizeEmail(invitation.email);

  return Transact("CreateInvitation", [&](pqxx::work& txn) -> absl::StatusOr<InvitationRecord> {
    std::optional<AccountRecord> owner = SelectAccount(txn, owner_id);
    if (!owner.has_value()) return absl::NotFoundError("owner account not found");
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
        TimestampParameter(invitation.expire_time));
    if (inserted.empty()) {
      return absl::AlreadyExistsError(
          "the owner already has a pending or accepted invitation for this email");
    }

    std::optional<InvitationRow> row =
        SelectInvitationById(txn, ReadText(inserted[0]["id"]), std::nullopt);
    if (!row.has_value()) return absl::InternalError("the inserted invitation is missing");
    absl::Status queued = QueueComposedEmail(txn, compose, {row->record, *owner, std::nullopt});
    if (!queued.ok()) return queued;
    return row->record;
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
    return lookup;
  });
}

absl::StatusOr<InvitationRecord> PostgresStore::AcceptInvitation(
    const std::string& token_hash, const std::string& invitee_account_id, absl::Time now,
    const EmailComposer& compose) {
  if (!IsUuid(invitee_account_id)) return absl::NotFoundError("account not found");
  const std::string invitee_id = CanonicalUuid(invitee_account_id);

  return Transact("AcceptInvitation", [&](pqxx::work& txn) -> absl::StatusOr<InvitationRecord> {
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

    const pqxx::result updated = txn.exec_prepared(kAcceptInvitation.name, row->record.id,
                                                   invitee_id, TimestampParameter(now));
    if (updated.empty()) {
      // Another call changed the row after the read above, so the fresh row decides the
      // error. For a racing accept by this same account that is FAILED_PRECONDITION.
      row = SelectInvitationByToken(txn, token_hash, now);
      if (!row.has_value()) return InvitationNotFoundError();
      acceptable = CheckAcceptable(row->record, invitee_id);
      if (!acceptable.ok()) return acceptable;
      return absl::AbortedError("the invitation changed during the call; retry");
    }

    row = SelectInvitationById(txn, row->record.id, now);
    if (!row.has_value()) return absl::InternalError("the accepted invitation is missing");
    std::optional<AccountRecord> owner = SelectAccount(txn, row->record.owner_account_id);
    if (!owner.has_value()) return absl::InternalError("the invitation's owner is missing");
    absl::Status queued = QueueComposedEmail(txn, compose, {row->record, *owner, *invitee});
    if (!queued.ok()) return queued;
    return row->record;
  });
}

namespace {

// Moves an ACCEPTED invitation of `owner_id` to `state` (CONFIRMED or DENIED) and returns
// it re-read. NOT_FOUND if it does not exist or belongs to another owner;
// FAILED_PRECONDITION if it is not ACCEPTED.
absl::StatusOr<InvitationRecord> DecideInvitation(pqxx::transaction_base& txn,
                                                  const std::string& owner_id,
                                                  const std::string& invitation_id,
                                                  InvitationState state) {
  const pqxx::result updated =
      txn.exec_prepared(kDecideInvitation.name, invitation_id, owner_id,
                        std::string(InvitationStateText(state).value_or("")));
  std::optional<InvitationRow> row = SelectInvitationById(txn, invitation_id, std::nullopt);
  if (!row.has_value() || row->record.owner_account_id != owner_id) {
    return InvitationNotFoundError();
  }
  if (updated.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the invitation is ", InvitationStateText(row->record.state).value_or("?"),
                     ", not ACCEPTED"));
  }
  return row->record;
}

// Builds the email context of a decided invitation: its owner and its invitee.
absl::StatusOr<EmailContext> DecisionEmailContext(pqxx::transaction_base& txn,
                                                  const InvitationRecord& invitation) {
  std::optional<AccountRecord> owner = SelectAccount(txn, invitation.owner_account_id);
  std::optional<AccountRecord> invitee = SelectAccount(txn, invitation.invitee_account_id);
  if (!owner.has_value() || !invitee.has_value()) {
    return absl::InternalError("an account of the invitation is missing");
  }
  return EmailContext{invitation, *std::move(owner), std::move(invitee)};
}

}  // namespace

absl::StatusOr<Confirmation> PostgresStore::ConfirmInvitation(const std::string& owner_account_id,
                                                              const std::string& invitation_id,
                                                              const EmailComposer& compose) {
  if (!IsUuid(owner_account_id) || !IsUuid(invitation_id)) return InvitationNotFoundError();
  const std::string owner_id = CanonicalUuid(owner_account_id);
  const std::string id = CanonicalUuid(invitation_id);

  return Transact("ConfirmInvitation", [&](pqxx::work& txn) -> absl::StatusOr<Confirmation> {
    absl::StatusOr<InvitationRecord> invitation =
        DecideInvitation(txn, owner_id, id, v1::INVITATION_STATE_CONFIRMED);
    if (!invitation.ok()) return invitation.status();

    std::optional<GrantRecord> grant =
        InsertGrant(txn, owner_id, invitation->invitee_account_id,
                    std::string(AccessLevelText(invitation->access_level).value_or("")), id);
    if (!grant.has_value()) {
      return absl::AlreadyExistsError("the invitee already has access to the owner's record");
    }
    txn.exec_prepared0(kSetInvitationGrant.name, id, grant->id);
    invitation->grant_id = grant->id;

    absl::StatusOr<EmailContext> context = DecisionEmailContext(txn, *invitation);
    if (!context.ok()) return context.status();
    absl::Status queued = QueueComposedEmail(txn, compose, *context);
    if (!queued.ok()) return queued;
    return Confirmation{*std::move(invitation), *std::move(grant)};
  });
}

absl::StatusOr<InvitationRecord> PostgresStore::DenyInvitation(const std::string& owner_account_id,
                                                               const std::string& invitation_id,
                                                               const EmailComposer& compose) {
  if (!IsUuid(owner_account_id) || !IsUuid(invitation_id)) return InvitationNotFoundError();
  const std::string owner_id = CanonicalUuid(owner_account_id);
  const std::string id = CanonicalUuid(invitation_id);

  return Transact("DenyInvitation", [&](pqxx::work& txn) -> absl::StatusOr<InvitationRecord> {
    absl::StatusOr<InvitationRecord> invitation =
        DecideInvitation(txn, owner_id, id, v1::INVITATION_STATE_DENIED);
    if (!invitation.ok()) return invitation.status();

    absl::StatusOr<EmailContext> context = DecisionEmailContext(txn, *invitation);
    if (!context.ok()) return context.status();
    absl::Status queued = QueueComposedEmail(txn, compose, *context);
    if (!queued.ok()) return queued;
    return invitation;
  });
}

absl::StatusOr<std::vector<InvitationRecord>> PostgresStore::ListInvitations(
    const std::string& owner_account_id, InvitationState state, absl::Time now) {
  if (!IsUuid(owner_account_id)) return std::vector<InvitationRecord>();
  // NULL as the filter parameter keeps every state.
  std::string state_text;
  const char* state_filter = nullptr;
  if (state != v1::INVITATION_STATE_UNSPECIFIED) {
    const std::optional<absl::string_view> text = InvitationStateText(state);
    if (!text.has_value()) return absl::InvalidArgumentError("state is not a known value");
    state_text = std::string(*text);
    state_filter = state_text.c_str();
  }

  using Invitations = std::vector<InvitationRecord>;
  return Transact("ListInvitations", [&](pqxx::work& txn) -> absl::StatusOr<Invitations> {
    // NOTE: No paging. The list grows with every invitation the owner sends, which is
    // expected to stay small.
    const pqxx::result result = txn.exec_prepared(kListInvitations.name, owner_account_id,
                                                  state_filter, TimestampParameter(now));
    Invitations invitations;
    invitations.reserve(result.size());
    for (const pqxx::row& row : result) invitations.push_back(InvitationFromRow(row, now).record);
    return invitations;
  });
}

}  // namespace accessdelegation::storage
