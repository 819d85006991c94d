#include "absl/strings/str_cat.h"
#include "storage/pg_types.h"
#include "storage/postgres_store.h"

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
WHERE id = $1::uuid
)sql"};

constexpr Statement kSelectAccountIdByEmail = {"select_account_id_by_email", R"sql(
SELECT id::text AS id FROM accounts WHERE email_normalized = $1
)sql"};

constexpr Statement kSelectCredentials = {"select_credentials", R"sql(
SELECT id::text AS id, password_hash FROM accounts WHERE email_normalized = $1
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
SELECT $1::bytea, id, $3::timestamptz FROM accounts WHERE id = $2::uuid
)sql"};

constexpr Statement kSelectLiveSession = {"select_live_session", R"sql(
SELECT account_id::text AS account_id
FROM sessions
WHERE token_hash = $1 AND end_time IS NULL AND expire_time > $2::timestamptz
)sql"};

constexpr Statement kEndSession = {"end_session", R"sql(
UPDATE sessions SET end_time = now() WHERE token_hash = $1 AND end_time IS NULL
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

}  // namespace

void PrepareAccountStatements(pqxx::connection& connection) {
  PrepareStatements(connection, {kInsertAccount, kSelectAccount, kSelectAccountIdByEmail,
                                 kSelectCredentials, kLockInvitationForSignUp, kMarkSignUpUsed,
                                 kInsertSession, kSelectLiveSession, kEndSession});
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

absl::StatusOr<AccountRecord> PostgresStore::CreateAccount(const NewAccount& account) {
  return Transact("CreateAccount", [&](pqxx::work& txn) -> absl::StatusOr<AccountRecord> {
    std::optional<AccountRecord> inserted = InsertAccount(txn, account.email, account);
    if (!inserted.has_value()) return EmailTakenError();
    return *std::move(inserted);
  });
}

absl::StatusOr<AccountRecord> PostgresStore::SignUpWithInvitation(const std::string& token_hash,
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
    return *std::move(inserted);
  });
}

absl::StatusOr<Credentials> PostgresStore::FindCredentials(const std::string& email_normalized) {
  return Transact("FindCredentials", [&](pqxx::work& txn) -> absl::StatusOr<Credentials> {
    const pqxx::result result =
        txn.exec_prepared(kSelectCredentials.name, NormalizeEmail(email_normalized));
    if (result.empty()) return absl::NotFoundError("no account has this email");
    Credentials credentials;
    credentials.account_id = ReadText(result[0]["id"]);
    credentials.password_hash = ReadText(result[0]["password_hash"]);
    return credentials;
  });
}

absl::StatusOr<AccountRecord> PostgresStore::GetAccount(const std::string& account_id) {
  if (!IsUuid(account_id)) return absl::NotFoundError("account not found");
  return Transact("GetAccount", [&](pqxx::work& txn) -> absl::StatusOr<AccountRecord> {
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
  return Transact("FindSession", [&](pqxx::work& txn) -> absl::StatusOr<std::string> {
    const pqxx::result result = txn.exec_prepared(
        kSelectLiveSession.name, BytesParameter(token_hash), TimestampParameter(now));
    if (result.empty()) return absl::NotFoundError("no live session has this token");
    return ReadText(result[0]["account_id"]);
  });
}

absl::Status PostgresStore::EndSession(const std::string& token_hash) {
  return Transact("EndSession", [&](pqxx::work& txn) -> absl::Status {
    txn.exec_prepared0(kEndSession.name, BytesParameter(token_hash));
    return absl::OkStatus();
  });
}

}  // namespace accessdelegation::storage
