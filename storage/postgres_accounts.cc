#include <algorithm>

#include "absl/strings/str_cat.h"
#include "storage/audit.h"
#include "storage/pg_types.h"
#include "storage/postgres_store.h"
#include "storage/retry_delay.h"

namespace accessdelegation::storage {
namespace {

constexpr Statement kInsertAccount = {"insert_account", R"sql(
INSERT INTO accounts (email, email_normalized, password_hash, first_name, last_name,
                      phone_e164)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (email_normalized) DO NOTHING
RETURNING id::text AS id, email, first_name, last_name, phone_e164,
          unix_micros(create_time) AS create_time
)sql"};

constexpr Statement kSelectAccount = {"select_account", R"sql(
SELECT id::text AS id, email, first_name, last_name, phone_e164,
       unix_micros(create_time) AS create_time
FROM accounts
WHERE id = $1::uuid AND delete_time IS NULL
)sql"};

constexpr Statement kSelectAccountIdByEmail = {"select_account_id_by_email", R"sql(
SELECT id::text AS id FROM accounts WHERE email_normalized = $1
)sql"};

// Deleted accounts have a tombstone email_normalized, so no typed email finds them.
constexpr Statement kSelectCredentials = {"select_credentials", R"sql(
SELECT id::text AS id, password_hash FROM accounts WHERE email_normalized = $1
)sql"};

constexpr Statement kSelectCredentialsById = {"select_credentials_by_id", R"sql(
SELECT id::text AS id, password_hash
FROM accounts
WHERE id = $1::uuid AND delete_time IS NULL
)sql"};

// Locks the invitation so that two sign-ups with one token run one after the other and
// the second finds signup_used set.
constexpr Statement kLockInvitationForSignUp = {"lock_invitation_for_sign_up", R"sql(
SELECT id::text AS id, email
FROM invitations
WHERE token_hash = $1
  AND state = 'PENDING'
  AND NOT signup_used
  AND expire_time > $2::timestamptz
FOR UPDATE
)sql"};

constexpr Statement kMarkSignUpUsed = {"mark_sign_up_used", R"sql(
UPDATE invitations SET signup_used = true WHERE id = $1::uuid
)sql"};

// Inserts nothing when the account does not exist, so that a missing account is NOT_FOUND
// rather than a foreign-key error.
constexpr Statement kInsertSession = {"insert_session", R"sql(
INSERT INTO sessions (token_hash, account_id, expire_time)
SELECT $1::bytea, id, $3::timestamptz FROM accounts WHERE id = $2::uuid AND delete_time IS NULL
)sql"};

constexpr Statement kSelectLiveSession = {"select_live_session", R"sql(
SELECT account_id::text AS account_id
FROM sessions
WHERE token_hash = $1 AND end_time IS NULL AND expire_time > $2::timestamptz
)sql"};

constexpr Statement kSelectSession = {"select_session", R"sql(
SELECT account_id::text AS account_id, unix_micros(create_time) AS create_time,
       unix_micros(expire_time) AS expire_time, unix_micros(last_used_time) AS last_used_time,
       unix_micros(end_time) AS end_time
FROM sessions
WHERE token_hash = $1
)sql"};

// $3 is the precision in microseconds: a last_used_time within it of $2 stays.
constexpr Statement kTouchSession = {"touch_session", R"sql(
UPDATE sessions SET last_used_time = $2::timestamptz
WHERE token_hash = $1 AND end_time IS NULL
  AND last_used_time < $2::timestamptz - $3::bigint * interval '1 microsecond'
)sql"};

// Creates the email's throttle row if missing, so that kLockSignInThrottle has a row to
// lock.
constexpr Statement kInsertSignInThrottle = {"insert_sign_in_throttle", R"sql(
INSERT INTO sign_in_throttles (email_normalized, failure_count, last_failure_time)
VALUES ($1, 0, $2::timestamptz)
ON CONFLICT (email_normalized) DO NOTHING
)sql"};

// Locks the email's throttle row, so that concurrent attempts for one email are counted
// one after the other.
constexpr Statement kLockSignInThrottle = {"lock_sign_in_throttle", R"sql(
SELECT failure_count, unix_micros(last_failure_time) AS last_failure_time,
       unix_micros(blocked_until) AS blocked_until
FROM sign_in_throttles
WHERE email_normalized = $1
FOR UPDATE
)sql"};

constexpr Statement kUpdateSignInThrottle = {"update_sign_in_throttle", R"sql(
UPDATE sign_in_throttles
SET failure_count = $2, last_failure_time = $3::timestamptz, blocked_until = $4::timestamptz
WHERE email_normalized = $1
)sql"};

constexpr Statement kDeleteSignInThrottle = {"delete_sign_in_throttle", R"sql(
DELETE FROM sign_in_throttles WHERE email_normalized = $1
)sql"};

constexpr Statement kEndSession = {"end_session", R"sql(
UPDATE sessions SET end_time = now() WHERE token_hash = $1 AND end_time IS NULL
)sql"};

constexpr Statement kSetPasswordHash = {"set_password_hash", R"sql(
UPDATE accounts SET password_hash = $2 WHERE id = $1::uuid AND delete_time IS NULL
)sql"};

// Ends the account's live sessions except the one whose token hash is $2 (any bytes that
// match no session, such as empty, end them all).
constexpr Statement kEndOtherSessions = {"end_other_sessions", R"sql(
UPDATE sessions SET end_time = now()
WHERE account_id = $1::uuid AND end_time IS NULL AND token_hash <> $2
)sql"};

// Marks the account deleted. The tombstone email_normalized contains a ':' after
// "deleted", and no email that validation accepts starts that way, so it never collides.
constexpr Statement kMarkAccountDeleted = {"mark_account_deleted", R"sql(
UPDATE accounts
SET delete_time = now(), password_hash = '', email_normalized = 'deleted:' || id::text
WHERE id = $1::uuid AND delete_time IS NULL
RETURNING email
)sql"};

// Cancels the live invitations the account sent, and the ACCEPTED ones it accepted as
// invitee: those wait for an owner's confirmation that must no longer create a grant.
constexpr Statement kCancelInvitationsOfAccount = {"cancel_invitations_of_account", R"sql(
UPDATE invitations
SET state = 'CANCELED', update_time = now()
WHERE (owner_account_id = $1::uuid AND state IN ('PENDING', 'ACCEPTED'))
   OR (invitee_account_id = $1::uuid AND state = 'ACCEPTED')
RETURNING id::text AS id, owner_account_id::text AS owner_account_id,
          (owner_account_id = $1::uuid) AS as_owner
)sql"};

// The previous state is not returned by UPDATE ... RETURNING, so the audit rows record
// only the new state. A grant ends as LEFT when its delegate is the deleted account and
// as REVOKED when its owner is, so the lists show it under that state.
constexpr Statement kRevokeGrantsOfAccount = {"revoke_grants_of_account", R"sql(
UPDATE grants
SET revoke_time = now(), update_time = now(), version = version + 1,
    end_reason = CASE WHEN delegate_account_id = $1::uuid THEN 'LEFT' ELSE 'REVOKED' END
WHERE (owner_account_id = $1::uuid OR delegate_account_id = $1::uuid)
  AND revoke_time IS NULL
RETURNING id::text AS id, owner_account_id::text AS owner_account_id,
          delegate_account_id::text AS delegate_account_id, access_level
)sql"};

// Inserts an account under `email`; nullopt if an account has the same email, ignoring
// case.
std::optional<AccountRecord> InsertAccount(pqxx::transaction_base& txn, const std::string& email,
                                           const NewAccount& account) {
  const pqxx::result result =
      txn.exec_prepared(kInsertAccount.name, email, NormalizeEmail(email), account.password_hash,
                        account.first_name, account.last_name, account.phone_e164);
  if (result.empty()) return std::nullopt;
  return AccountFromRow(result[0]);
}

absl::Status EmailTakenError() {
  return absl::AlreadyExistsError("an account with this email already exists");
}

// Writes the "account.created" audit event. The actor of a sign-up is the new account.
void AuditAccountCreated(pqxx::transaction_base& txn, Actor actor, const AccountRecord& account) {
  if (actor.kind == "account" && actor.id.empty()) actor.id = account.id;
  InsertAuditEvent(txn, actor, account.id, "account.created", "account", account.id, "{}",
                   JsonObject({{"email", account.email},
                               {"first_name", account.first_name},
                               {"last_name", account.last_name},
                               {"phone_e164", account.phone_e164}}));
}

// Cancels the invitations DeleteAccount ends and audits each; returns how many.
int CancelInvitationsOfAccount(pqxx::transaction_base& txn, const Actor& actor,
                               const std::string& account_id) {
  const pqxx::result canceled = txn.exec_prepared(kCancelInvitationsOfAccount.name, account_id);
  for (const pqxx::row& row : canceled) {
    const std::string reason =
        row["as_owner"].as<bool>() ? "owner account deleted" : "invitee account deleted";
    InsertAuditEvent(txn, actor, ReadText(row["owner_account_id"]), "invitation.canceled",
                     "invitation", ReadText(row["id"]), "{}",
                     JsonObject({{"state", "CANCELED"}, {"reason", reason}}));
  }
  return static_cast<int>(canceled.size());
}

// Revokes the grants DeleteAccount ends, audits each and records each as a REVOKED grant
// change; returns how many. The grant changes come last because RecordGrantChange locks.
int RevokeGrantsOfAccount(pqxx::transaction_base& txn, const Actor& actor,
                          const std::string& account_id) {
  const pqxx::result revoked = txn.exec_prepared(kRevokeGrantsOfAccount.name, account_id);
  for (const pqxx::row& row : revoked) {
    InsertAuditEvent(txn, actor, ReadText(row["owner_account_id"]), "grant.revoked", "grant",
                     ReadText(row["id"]), "{}",
                     JsonObject({{"revoked", "true"}, {"reason", "account deleted"}}));
  }
  for (const pqxx::row& row : revoked) {
    RecordGrantChange(txn, ReadText(row["id"]), ReadText(row["owner_account_id"]),
                      ReadText(row["delegate_account_id"]), "REVOKED",
                      ReadText(row["access_level"]));
  }
  return static_cast<int>(revoked.size());
}

}  // namespace

void PrepareAccountStatements(pqxx::connection& connection) {
  PrepareStatements(connection, {kInsertAccount,          kSelectAccount,
                                 kSelectAccountIdByEmail, kSelectCredentials,
                                 kSelectCredentialsById,  kLockInvitationForSignUp,
                                 kMarkSignUpUsed,         kInsertSession,
                                 kSelectLiveSession,      kSelectSession,
                                 kTouchSession,           kInsertSignInThrottle,
                                 kLockSignInThrottle,     kUpdateSignInThrottle,
                                 kDeleteSignInThrottle,   kEndSession,
                                 kSetPasswordHash,        kEndOtherSessions,
                                 kMarkAccountDeleted,     kCancelInvitationsOfAccount,
                                 kRevokeGrantsOfAccount});
}

AccountRecord AccountFromRow(const pqxx::row& row) {
  AccountRecord account;
  account.id = ReadText(row["id"]);
  account.email = ReadText(row["email"]);
  account.first_name = ReadText(row["first_name"]);
  account.last_name = ReadText(row["last_name"]);
  account.phone_e164 = ReadText(row["phone_e164"]);
  account.create_time = ReadTime(row["create_time"]);
  return account;
}

std::optional<AccountRecord> SelectAccount(pqxx::transaction_base& txn,
                                           const std::string& account_id) {
  const pqxx::result result = txn.exec_prepared(kSelectAccount.name, account_id);
  if (result.empty()) return std::nullopt;
  return AccountFromRow(result[0]);
}

std::optional<std::string> SelectAccountIdByEmail(pqxx::transaction_base& txn,
                                                  const std::string& email_normalized) {
  const pqxx::result result = txn.exec_prepared(kSelectAccountIdByEmail.name, email_normalized);
  if (result.empty()) return std::nullopt;
  return ReadText(result[0]["id"]);
}

absl::StatusOr<AccountRecord> PostgresStore::CreateAccount(const Actor& actor,
                                                           const NewAccount& account) {
  return Transact("CreateAccount", [&](pqxx::work& txn) -> absl::StatusOr<AccountRecord> {
    std::optional<AccountRecord> inserted = InsertAccount(txn, account.email, account);
    if (!inserted.has_value()) return EmailTakenError();
    AuditAccountCreated(txn, actor, *inserted);
    return *std::move(inserted);
  });
}

absl::StatusOr<AccountRecord> PostgresStore::SignUpWithInvitation(const Actor& actor,
                                                                  const std::string& token_hash,
                                                                  const NewAccount& account,
                                                                  absl::Time now) {
  return Transact("SignUpWithInvitation", [&](pqxx::work& txn) -> absl::StatusOr<AccountRecord> {
    const pqxx::result invitation = txn.exec_prepared(
        kLockInvitationForSignUp.name, BytesParameter(token_hash), TimestampParameter(now));
    if (invitation.empty()) {
      return absl::NotFoundError(
          "no pending invitation has this token, or the token was already used to sign up");
    }

    std::optional<AccountRecord> inserted =
        InsertAccount(txn, ReadText(invitation[0]["email"]), account);
    if (!inserted.has_value()) return EmailTakenError();

    txn.exec_prepared0(kMarkSignUpUsed.name, ReadText(invitation[0]["id"]));
    AuditAccountCreated(txn, actor, *inserted);
    return *std::move(inserted);
  });
}

absl::StatusOr<Credentials> PostgresStore::FindCredentials(const std::string& email_normalized) {
  return ReadOnce("FindCredentials", [&](pqxx::nontransaction& txn) -> absl::StatusOr<Credentials> {
    const pqxx::result result =
        txn.exec_prepared(kSelectCredentials.name, NormalizeEmail(email_normalized));
    if (result.empty()) return absl::NotFoundError("no account has this email");
    Credentials credentials;
    credentials.account_id = ReadText(result[0]["id"]);
    credentials.password_hash = ReadText(result[0]["password_hash"]);
    return credentials;
  });
}

absl::StatusOr<Credentials> PostgresStore::FindCredentialsById(const std::string& account_id) {
  if (!IsUuid(account_id)) return absl::NotFoundError("account not found");
  return ReadOnce("FindCredentialsById", [&](pqxx::nontransaction& txn) -> absl::StatusOr<Credentials> {
    const pqxx::result result = txn.exec_prepared(kSelectCredentialsById.name, account_id);
    if (result.empty()) return absl::NotFoundError("account not found");
    Credentials credentials;
    credentials.account_id = ReadText(result[0]["id"]);
    credentials.password_hash = ReadText(result[0]["password_hash"]);
    return credentials;
  });
}

absl::StatusOr<AccountRecord> PostgresStore::GetAccount(const std::string& account_id) {
  if (!IsUuid(account_id)) return absl::NotFoundError("account not found");
  return ReadOnce("GetAccount", [&](pqxx::nontransaction& txn) -> absl::StatusOr<AccountRecord> {
    std::optional<AccountRecord> account = SelectAccount(txn, account_id);
    if (!account.has_value()) return absl::NotFoundError("account not found");
    return *std::move(account);
  });
}

absl::Status PostgresStore::CreateSession(const std::string& token_hash,
                                          const std::string& account_id, absl::Time expire_time) {
  if (!IsUuid(account_id)) return absl::NotFoundError("account not found");
  return Transact("CreateSession", [&](pqxx::work& txn) -> absl::Status {
    const pqxx::result result = txn.exec_prepared(kInsertSession.name, BytesParameter(token_hash),
                                                  account_id, TimestampParameter(expire_time));
    if (result.affected_rows() == 0) return absl::NotFoundError("account not found");
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> PostgresStore::FindSession(const std::string& token_hash,
                                                       absl::Time now) {
  return ReadOnce("FindSession", [&](pqxx::nontransaction& txn) -> absl::StatusOr<std::string> {
    const pqxx::result result = txn.exec_prepared(
        kSelectLiveSession.name, BytesParameter(token_hash), TimestampParameter(now));
    if (result.empty()) return absl::NotFoundError("no live session has this token");
    return ReadText(result[0]["account_id"]);
  });
}

absl::StatusOr<SessionRecord> PostgresStore::GetSession(const std::string& token_hash) {
  return ReadOnce("GetSession", [&](pqxx::nontransaction& txn) -> absl::StatusOr<SessionRecord> {
    const pqxx::result result = txn.exec_prepared(kSelectSession.name, BytesParameter(token_hash));
    if (result.empty()) return absl::NotFoundError("no session has this token");
    SessionRecord session;
    session.account_id = ReadText(result[0]["account_id"]);
    session.create_time = ReadTime(result[0]["create_time"]);
    session.expire_time = ReadTime(result[0]["expire_time"]);
    session.last_used_time = ReadTime(result[0]["last_used_time"]);
    if (!result[0]["end_time"].is_null()) session.end_time = ReadTime(result[0]["end_time"]);
    return session;
  });
}

absl::Status PostgresStore::TouchSession(const std::string& token_hash, absl::Time now,
                                         absl::Duration precision) {
  return Transact("TouchSession", [&](pqxx::work& txn) -> absl::Status {
    txn.exec_prepared0(kTouchSession.name, BytesParameter(token_hash), TimestampParameter(now),
                       absl::ToInt64Microseconds(precision));
    return absl::OkStatus();
  });
}

namespace {

// Returns the delay that `failure_count` failures earn under `policy`: none below
// delay_after_failures, then base_delay doubling per failure (at most 2^20 times), and
// the lockout from lockout_after_failures on.
absl::Duration SignInDelay(const SignInPolicy& policy, int failure_count) {
  if (policy.lockout_after_failures > 0 && failure_count >= policy.lockout_after_failures) {
    return policy.lockout;
  }
  if (policy.delay_after_failures <= 0 || failure_count < policy.delay_after_failures) {
    return absl::ZeroDuration();
  }
  const int doublings = std::min(failure_count - policy.delay_after_failures, 20);
  return std::min(policy.base_delay * (int64_t{1} << doublings), policy.lockout);
}

}  // namespace

absl::StatusOr<SignInAttempt> PostgresStore::BeginSignIn(const std::string& email_normalized,
                                                         absl::Time now,
                                                         const SignInPolicy& policy) {
  const std::string email = NormalizeEmail(email_normalized);
  return Transact("BeginSignIn", [&](pqxx::work& txn) -> absl::StatusOr<SignInAttempt> {
    txn.exec_prepared0(kInsertSignInThrottle.name, email, TimestampParameter(now));
    const pqxx::result throttle = txn.exec_prepared(kLockSignInThrottle.name, email);
    if (throttle.empty()) return absl::InternalError("the sign-in throttle row is missing");

    const pqxx::row row = throttle[0];
    if (!row["blocked_until"].is_null()) {
      const absl::Time blocked_until = ReadTime(row["blocked_until"]);
      if (blocked_until > now) {
        return ResourceExhaustedWithRetry(
            "too many failed sign-ins for this email; wait before trying again",
            blocked_until - now, now);
      }
    }

    // NOTE: attempts in flight count as failures until they succeed, so more than
    // delay_after_failures simultaneous correct sign-ins of one email can delay the last
    // ones. That bounds parallel guessing, at the cost of this rare false positive.
    SignInAttempt attempt;
    int failures = row["failure_count"].as<int>();
    if (now - ReadTime(row["last_failure_time"]) > policy.lockout) failures = 0;
    attempt.failure_count = failures + 1;
    const absl::Duration delay = SignInDelay(policy, attempt.failure_count);
    attempt.locked = delay > absl::ZeroDuration() && delay == policy.lockout;
    const std::optional<std::string> blocked_until =
        delay > absl::ZeroDuration() ? std::optional<std::string>(TimestampParameter(now + delay))
                                     : std::nullopt;
    txn.exec_prepared0(kUpdateSignInThrottle.name, email, attempt.failure_count,
                       TimestampParameter(now),
                       blocked_until.has_value() ? blocked_until->c_str() : nullptr);

    const pqxx::result credentials = txn.exec_prepared(kSelectCredentials.name, email);
    if (!credentials.empty()) {
      attempt.credentials =
          Credentials{ReadText(credentials[0]["id"]), ReadText(credentials[0]["password_hash"])};
    }
    return attempt;
  });
}

absl::Status PostgresStore::ClearSignInFailures(const std::string& email_normalized) {
  return Transact("ClearSignInFailures", [&](pqxx::work& txn) -> absl::Status {
    txn.exec_prepared0(kDeleteSignInThrottle.name, NormalizeEmail(email_normalized));
    return absl::OkStatus();
  });
}

absl::Status PostgresStore::EndSession(const std::string& token_hash) {
  return Transact("EndSession", [&](pqxx::work& txn) -> absl::Status {
    txn.exec_prepared0(kEndSession.name, BytesParameter(token_hash));
    return absl::OkStatus();
  });
}

absl::StatusOr<int> PostgresStore::ChangePassword(const Actor& actor,
                                                  const std::string& account_id,
                                                  const std::string& password_hash,
                                                  const std::string& keep_session_token_hash) {
  if (!IsUuid(account_id)) return absl::NotFoundError("account not found");
  return Transact("ChangePassword", [&](pqxx::work& txn) -> absl::StatusOr<int> {
    const pqxx::result updated = txn.exec_prepared(kSetPasswordHash.name, account_id,
                                                   password_hash);
    if (updated.affected_rows() == 0) return absl::NotFoundError("account not found");

    const pqxx::result ended = txn.exec_prepared(kEndOtherSessions.name, account_id,
                                                 BytesParameter(keep_session_token_hash));
    const int ended_sessions = static_cast<int>(ended.affected_rows());

    InsertAuditEvent(txn, actor, account_id, "account.password_changed", "account", account_id,
                     "{}", JsonObject({{"ended_sessions", std::to_string(ended_sessions)}}));
    return ended_sessions;
  });
}

absl::StatusOr<AccountDeletion> PostgresStore::DeleteAccount(const Actor& actor,
                                                             const std::string& account_id) {
  if (!IsUuid(account_id)) return absl::NotFoundError("account not found");
  return Transact("DeleteAccount", [&](pqxx::work& txn) -> absl::StatusOr<AccountDeletion> {
    const pqxx::result marked = txn.exec_prepared(kMarkAccountDeleted.name, account_id);
    if (marked.empty()) return absl::NotFoundError("account not found");

    AccountDeletion deletion;
    const pqxx::result ended = txn.exec_prepared(kEndOtherSessions.name, account_id,
                                                 BytesParameter(std::string()));
    deletion.ended_sessions = static_cast<int>(ended.affected_rows());
    deletion.canceled_invitations = CancelInvitationsOfAccount(txn, actor, account_id);
    InsertAuditEvent(txn, actor, account_id, "account.deleted", "account", account_id,
                     JsonObject({{"email", ReadText(marked[0]["email"])}}),
                     JsonObject({{"deleted", "true"},
                                 {"ended_sessions", std::to_string(deletion.ended_sessions)}}));
    deletion.revoked_grants = RevokeGrantsOfAccount(txn, actor, account_id);
    return deletion;
  });
}

absl::Status PostgresStore::RecordAccountEvent(const Actor& actor, const std::string& account_id,
                                               const std::string& action) {
  return Transact("RecordAccountEvent", [&](pqxx::work& txn) -> absl::Status {
    InsertAuditEvent(txn, actor, account_id, action, "account", account_id, "{}", "{}");
    return absl::OkStatus();
  });
}

}  // namespace accessdelegation::storage
