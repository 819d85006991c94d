#ifndef ACCESSDELEGATION_STORAGE_POSTGRES_STORE_H_
#define ACCESSDELEGATION_STORAGE_POSTGRES_STORE_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/connection_pool.h"
#include "storage/pg_errors.h"
#include "storage/store.h"

namespace accessdelegation::storage {

// Returns how many emails InsertOutboxEmail has queued on the calling thread since it
// started. Transact compares the count before and after its body, because a transaction
// runs on one thread and InsertOutboxEmail receives only the transaction, not the store.
int64_t EmailsQueuedOnThisThread();

// PostgresStore is the Store on PostgreSQL. Each method runs one READ COMMITTED
// transaction on a pooled connection. State changes are conditional UPDATEs, so that of
// racing calls exactly one changes a row and the others see zero rows.
//
// The method bodies live in postgres_accounts.cc, postgres_invitations.cc,
// postgres_grants.cc and postgres_outbox.cc, each with the statements it runs.
class PostgresStore final : public Store {
 public:
  // `pool_size` must be at least 1. No connection is opened until the first call. A call
  // that finds every connection leased waits at most `acquire_timeout` for one, then
  // fails with UNAVAILABLE.
  PostgresStore(const std::string& database_url, int pool_size,
                absl::Duration acquire_timeout = ConnectionPool::kDefaultAcquireTimeout);

  // Returns OK when the schema has every embedded migration; FAILED_PRECONDITION with
  // the missing versions otherwise; UNAVAILABLE if the database cannot be reached.
  absl::Status CheckSchema();

  absl::StatusOr<AccountRecord> CreateAccount(const Actor& actor,
                                              const NewAccount& account) override;
  absl::StatusOr<AccountRecord> SignUpWithInvitation(const Actor& actor,
                                                     const std::string& token_hash,
                                                     const NewAccount& account,
                                                     absl::Time now) override;
  absl::StatusOr<Credentials> FindCredentials(const std::string& email_normalized) override;
  absl::StatusOr<Credentials> FindCredentialsById(const std::string& account_id) override;
  absl::StatusOr<AccountRecord> GetAccount(const std::string& account_id) override;
  absl::Status CreateSession(const std::string& token_hash, const std::string& account_id,
                             absl::Time expire_time) override;
  absl::StatusOr<std::string> FindSession(const std::string& token_hash, absl::Time now) override;
  absl::StatusOr<SessionRecord> GetSession(const std::string& token_hash) override;
  absl::Status TouchSession(const std::string& token_hash, absl::Time now,
                            absl::Duration precision) override;
  absl::StatusOr<SignInAttempt> BeginSignIn(const std::string& email_normalized, absl::Time now,
                                            const SignInPolicy& policy) override;
  absl::Status ClearSignInFailures(const std::string& email_normalized) override;
  absl::Status EndSession(const std::string& token_hash) override;
  absl::StatusOr<int> ChangePassword(const Actor& actor, const std::string& account_id,
                                     const std::string& password_hash,
                                     const std::string& keep_session_token_hash) override;
  absl::StatusOr<AccountDeletion> DeleteAccount(const Actor& actor,
                                                const std::string& account_id) override;
  absl::Status RecordAccountEvent(const Actor& actor, const std::string& account_id,
                                  const std::string& action) override;
  absl::StatusOr<std::vector<AuditEventRecord>> ListAuditEvents(
      const AuditEventQuery& query) override;
  absl::StatusOr<std::vector<GrantChangeRecord>> ListGrantChanges(int64_t after_id,
                                                                  int limit) override;
  absl::StatusOr<int64_t> LatestGrantChangeId() override;

  absl::StatusOr<InvitationRecord> CreateInvitation(const Actor& actor,
                                                    const NewInvitation& invitation,
                                                    const EmailComposer& compose,
                                                    const IdempotencyKey& idempotency) override;
  absl::StatusOr<InvitationLookup> LookupInvitation(const std::string& token_hash,
                                                    absl::Time now) override;
  absl::StatusOr<PasscodeCheck> CheckInvitationPasscode(
      const Actor& actor, const std::string& token_hash, const std::string& account_id,
      absl::Time now, bool has_passcode, const PasscodeVerifier& verify, int max_failures,
      const EmailComposer& compose_canceled) override;
  absl::StatusOr<InvitationRecord> AcceptInvitation(const Actor& actor,
                                                    const std::string& token_hash,
                                                    const std::string& invitee_account_id,
                                                    absl::Time now, const EmailComposer& compose,
                                                    const IdempotencyKey& idempotency) override;
  absl::StatusOr<InvitationRecord> DeclineInvitation(const Actor& actor,
                                                     const std::string& token_hash,
                                                     absl::Time now, const EmailComposer& compose,
                                                     const IdempotencyKey& idempotency) override;
  absl::StatusOr<Confirmation> ConfirmInvitation(const Actor& actor,
                                                 const std::string& owner_account_id,
                                                 const std::string& invitation_id,
                                                 ExpectedVersion expected,
                                                 const EmailComposer& compose,
                                                 const IdempotencyKey& idempotency) override;
  absl::StatusOr<InvitationRecord> DenyInvitation(const Actor& actor,
                                                  const std::string& owner_account_id,
                                                  const std::string& invitation_id,
                                                  ExpectedVersion expected,
                                                  const EmailComposer& compose,
                                                  const IdempotencyKey& idempotency) override;
  absl::StatusOr<InvitationRecord> ResendInvitation(
      const Actor& actor, const std::string& owner_account_id, const std::string& invitation_id,
      ExpectedVersion expected, const std::string& token_hash, absl::Time expire_time,
      absl::Time now, int daily_limit, const EmailComposer& compose,
      const IdempotencyKey& idempotency) override;
  absl::StatusOr<InvitationRecord> CancelInvitation(
      const Actor& actor, const std::string& owner_account_id, const std::string& invitation_id,
      ExpectedVersion expected, absl::Time now, const EmailComposer& compose,
      const IdempotencyKey& idempotency) override;
  absl::StatusOr<Page<InvitationRecord>> ListInvitations(const std::string& owner_account_id,
                                                         InvitationState state, absl::Time now,
                                                         const PageRequest& page) override;

  absl::StatusOr<Page<GrantRecord>> ListGrants(const std::string& owner_account_id,
                                               GrantState state, absl::Time now,
                                               const PageRequest& page) override;
  absl::StatusOr<Page<GrantRecord>> ListDelegatedAccess(const std::string& delegate_account_id,
                                                        GrantState state, absl::Time now,
                                                        const PageRequest& page) override;
  absl::StatusOr<GrantRecord> UpdateGrant(const Actor& actor, const std::string& owner_account_id,
                                          const std::string& grant_id, ExpectedVersion expected,
                                          const GrantUpdate& update,
                                          const GrantEmailComposer& compose,
                                          const IdempotencyKey& idempotency) override;
  absl::StatusOr<GrantRecord> RevokeGrant(const Actor& actor, const std::string& owner_account_id,
                                          const std::string& grant_id, ExpectedVersion expected,
                                          const GrantEmailComposer& compose,
                                          const IdempotencyKey& idempotency) override;
  absl::StatusOr<GrantRecord> LeaveGrant(const Actor& actor,
                                         const std::string& delegate_account_id,
                                         const std::string& grant_id, ExpectedVersion expected,
                                         const GrantEmailComposer& compose,
                                         const IdempotencyKey& idempotency) override;
  absl::StatusOr<std::optional<GrantRecord>> FindGrant(
      const std::string& owner_account_id, const std::string& delegate_account_id) override;
  absl::StatusOr<SweepResult> SweepExpiredGrants(const Actor& actor,
                                                 const SweepOptions& options) override;
  absl::StatusOr<PurgeResult> PurgeStaleRecords(const PurgeOptions& options) override;

  void SetEmailQueuedListener(std::function<void()> listener) override;
  absl::StatusOr<std::vector<QueuedEmail>> ClaimEmails(int limit) override;
  absl::Status MarkEmailsDelivered(const std::vector<int64_t>& ids) override;
  absl::Status MarkEmailFailed(int64_t id, const std::string& error,
                               absl::Duration retry_after) override;
  absl::Status MarkEmailDead(int64_t id, const std::string& error) override;
  absl::StatusOr<std::vector<FailedEmail>> ListFailedEmails(int64_t after_id,
                                                            int limit) override;
  absl::StatusOr<FailedEmail> RetryEmail(const std::string& message_id) override;

  absl::StatusOr<uint64_t> CurrentWalPosition() override;
  absl::Status Ping() override;
  absl::StatusOr<StoreStats> ReadStats() override;

 private:
  // Runs `body(txn)` in a new transaction and commits it if the returned status is OK;
  // otherwise the transaction rolls back. `body` returns absl::Status or
  // absl::StatusOr<T> and may throw: exceptions become statuses here, named after
  // `operation`.
  template <typename Body>
  std::invoke_result_t<Body&, pqxx::work&> Transact(absl::string_view operation, Body&& body);

  // Runs `body(txn)` as Transact does, but in autocommit mode with no BEGIN or COMMIT, for
  // a single read statement.
  template <typename Body>
  std::invoke_result_t<Body&, pqxx::nontransaction&> ReadOnce(absl::string_view operation,
                                                              Body&& body);

  ConnectionPool pool_;
  // Set before the store is shared between threads, then only read.
  std::function<void()> email_queued_listener_;
};

template <typename Body>
std::invoke_result_t<Body&, pqxx::nontransaction&> PostgresStore::ReadOnce(
    absl::string_view operation, Body&& body) {
  absl::StatusOr<ConnectionPool::Lease> lease = pool_.Acquire();
  if (!lease.ok()) return lease.status();

  try {
    pqxx::nontransaction txn(lease->connection());
    return body(txn);
  } catch (const pqxx::broken_connection&) {
    lease->Discard();
    return StatusFromCurrentException(operation);
  } catch (...) {
    return StatusFromCurrentException(operation);
  }
}

template <typename Body>
std::invoke_result_t<Body&, pqxx::work&> PostgresStore::Transact(absl::string_view operation,
                                                                 Body&& body) {
  absl::StatusOr<ConnectionPool::Lease> lease = pool_.Acquire();
  if (!lease.ok()) return lease.status();

  try {
    pqxx::work txn(lease->connection());
    const int64_t queued_before = EmailsQueuedOnThisThread();
    auto result = body(txn);
    if (result.ok()) {
      txn.commit();
      if (EmailsQueuedOnThisThread() != queued_before && email_queued_listener_) {
        email_queued_listener_();
      }
    }
    return result;
  } catch (const pqxx::broken_connection&) {
    lease->Discard();
    return StatusFromCurrentException(operation);
  } catch (const pqxx::in_doubt_error&) {
    lease->Discard();
    return StatusFromCurrentException(operation);
  } catch (...) {
    return StatusFromCurrentException(operation);
  }
}

// Opens a PostgresStore as the two-argument OpenPostgresStore in storage/store.h does, but
// a call waits at most `acquire_timeout` for a free connection before it fails with
// UNAVAILABLE. INVALID_ARGUMENT for a pool_size below 1 or a timeout that is not positive.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& database_url,
                                                         int pool_size,
                                                         absl::Duration acquire_timeout);

// Statement is a prepared statement: a connection-wide name and its SQL with $n
// parameters.
struct Statement {
  const char* name;
  const char* sql;
};

// Registers `statements` on `connection`. libpqxx sends each to the server on first use.
void PrepareStatements(pqxx::connection& connection, std::initializer_list<Statement> statements);

// Register the statements of each method file; the pool runs them on every new
// connection.
void PrepareAccountStatements(pqxx::connection& connection);
void PrepareRetentionStatements(pqxx::connection& connection);
void PrepareInvitationStatements(pqxx::connection& connection);
void PrepareGrantStatements(pqxx::connection& connection);
void PrepareOutboxStatements(pqxx::connection& connection);
// Registers the statements of InsertAuditEvent and RecordGrantChange (storage/audit.h).
void PrepareAuditStatements(pqxx::connection& connection);
void PrepareHistoryStatements(pqxx::connection& connection);

// Steps shared between the method files. Each runs inside the caller's transaction and
// throws pqxx exceptions.

// Reads a row with the columns id, email, first_name, last_name, phone_e164 and
// create_time (as unix_micros).
AccountRecord AccountFromRow(const pqxx::row& row);

// Returns the account with this id, or nullopt. `account_id` must be a UUID.
std::optional<AccountRecord> SelectAccount(pqxx::transaction_base& txn,
                                           const std::string& account_id);

// Returns the id of the account whose email_normalized is `email_normalized`, or nullopt.
std::optional<std::string> SelectAccountIdByEmail(pqxx::transaction_base& txn,
                                                  const std::string& email_normalized);

// Returns the live grant of `delegate_account_id` on `owner_account_id`'s record, or
// nullopt. Both ids must be UUIDs.
std::optional<GrantRecord> SelectLiveGrant(pqxx::transaction_base& txn,
                                           const std::string& owner_account_id,
                                           const std::string& delegate_account_id);

// Inserts a grant for a confirmed invitation, ending `expire_time` (nullopt for none),
// and returns it; nullopt if the delegate already has a live grant on the owner's record.
// First marks a grant of the pair that is past its expire_time as expired, so it does not
// block the new one.
std::optional<GrantRecord> InsertGrant(pqxx::transaction_base& txn, const Actor& actor,
                                       const std::string& owner_account_id,
                                       const std::string& delegate_account_id,
                                       const std::string& access_level_text,
                                       const std::string& invitation_id,
                                       std::optional<absl::Time> expire_time);

// Queues `email` in the outbox. INTERNAL if its message_id is set but is not a UUID; an
// empty message_id gets a random one. Counts the email in EmailsQueuedOnThisThread.
absl::Status InsertOutboxEmail(pqxx::transaction_base& txn, const OutboxEmail& email);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_POSTGRES_STORE_H_
