#ifndef ACCESSDELEGATION_TESTS_FUZZ_FUZZ_STORE_H_
#define ACCESSDELEGATION_TESTS_FUZZ_FUZZ_STORE_H_

#include <string>
#include <vector>

#include "storage/store.h"

namespace accessdelegation::fuzz {

// FuzzStore is an in-memory Store for the RPC fuzzer, which runs far too many calls per
// second for a real PostgreSQL. It keeps no state and simulates only this:
// - one session token hash maps to kFuzzAccountId: a live session that was last used a few
//   minutes ago, so the authenticator touches it, and TouchSession succeeds;
// - every account id names an account;
// - CreateInvitation composes its email from the request and returns the new invitation;
// - every other call fails with UNAVAILABLE, as a store does while its database is down.
// Handlers thus run their input checks, authorization and email composition. Their
// storage paths are covered by the tests against a real database. Thread-safe.
class FuzzStore final : public storage::Store {
 public:
  static constexpr char kFuzzAccountId[] = "6f1c4f3e-8a3b-4d7e-9c51-2b7f0e4a9d10";

  // `session_token_hash` is the hash of the one live session token.
  explicit FuzzStore(std::string session_token_hash)
      : session_token_hash_(std::move(session_token_hash)) {}

  absl::StatusOr<storage::AccountRecord> CreateAccount(const storage::Actor& actor,
                                                       const storage::NewAccount& account) override;
  absl::StatusOr<storage::AccountRecord> SignUpWithInvitation(const storage::Actor& actor,
                                                              const std::string& token_hash,
                                                              const storage::NewAccount& account,
                                                              absl::Time now) override;
  absl::StatusOr<storage::Credentials> FindCredentials(
      const std::string& email_normalized) override;
  absl::StatusOr<storage::Credentials> FindCredentialsById(const std::string& account_id) override;
  absl::StatusOr<storage::AccountRecord> GetAccount(const std::string& account_id) override;
  absl::Status CreateSession(const std::string& token_hash, const std::string& account_id,
                             absl::Time expire_time) override;
  absl::StatusOr<std::string> FindSession(const std::string& token_hash, absl::Time now) override;
  absl::StatusOr<storage::SessionRecord> GetSession(const std::string& token_hash) override;
  absl::Status TouchSession(const std::string& token_hash, absl::Time now,
                            absl::Duration precision) override;
  absl::StatusOr<storage::SignInAttempt> BeginSignIn(const std::string& email_normalized,
                                                     absl::Time now,
                                                     const storage::SignInPolicy& policy) override;
  absl::Status ClearSignInFailures(const std::string& email_normalized) override;
  absl::Status EndSession(const std::string& token_hash) override;
  absl::StatusOr<int> ChangePassword(const storage::Actor& actor, const std::string& account_id,
                                     const std::string& password_hash,
                                     const std::string& keep_session_token_hash) override;
  absl::StatusOr<storage::AccountDeletion> DeleteAccount(const storage::Actor& actor,
                                                         const std::string& account_id) override;
  absl::Status RecordAccountEvent(const storage::Actor& actor, const std::string& account_id,
                                  const std::string& action) override;
  absl::StatusOr<std::vector<storage::AuditEventRecord>> ListAuditEvents(
      const storage::AuditEventQuery& query) override;
  absl::StatusOr<std::vector<storage::GrantChangeRecord>> ListGrantChanges(int64_t after_id,
                                                                           int limit) override;
  absl::StatusOr<int64_t> LatestGrantChangeId() override;
  absl::StatusOr<storage::InvitationRecord> CreateInvitation(
      const storage::Actor& actor, const storage::NewInvitation& invitation,
      const storage::EmailComposer& compose, const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<storage::InvitationLookup> LookupInvitation(const std::string& token_hash,
                                                             absl::Time now) override;
  absl::StatusOr<storage::PasscodeCheck> CheckInvitationPasscode(
      const storage::Actor& actor, const std::string& token_hash, const std::string& account_id,
      absl::Time now, bool has_passcode, const storage::PasscodeVerifier& verify, int max_failures,
      const storage::EmailComposer& compose_canceled) override;
  absl::StatusOr<storage::InvitationRecord> AcceptInvitation(
      const storage::Actor& actor, const std::string& token_hash,
      const std::string& invitee_account_id, absl::Time now, const storage::EmailComposer& compose,
      const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<storage::InvitationRecord> DeclineInvitation(
      const storage::Actor& actor, const std::string& token_hash, absl::Time now,
      const storage::EmailComposer& compose, const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<storage::Confirmation> ConfirmInvitation(
      const storage::Actor& actor, const std::string& owner_account_id,
      const std::string& invitation_id, storage::ExpectedVersion expected,
      const storage::EmailComposer& compose, const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<storage::InvitationRecord> DenyInvitation(
      const storage::Actor& actor, const std::string& owner_account_id,
      const std::string& invitation_id, storage::ExpectedVersion expected,
      const storage::EmailComposer& compose, const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<storage::InvitationRecord> ResendInvitation(
      const storage::Actor& actor, const std::string& owner_account_id,
      const std::string& invitation_id, storage::ExpectedVersion expected,
      const std::string& token_hash, absl::Time expire_time, absl::Time now, int daily_limit,
      const storage::EmailComposer& compose, const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<storage::InvitationRecord> CancelInvitation(
      const storage::Actor& actor, const std::string& owner_account_id,
      const std::string& invitation_id, storage::ExpectedVersion expected, absl::Time now,
      const storage::EmailComposer& compose, const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<storage::Page<storage::InvitationRecord>> ListInvitations(
      const std::string& owner_account_id, storage::InvitationState state, absl::Time now,
      const storage::PageRequest& page) override;
  absl::StatusOr<storage::Page<storage::GrantRecord>> ListGrants(
      const std::string& owner_account_id, storage::GrantState state, absl::Time now,
      const storage::PageRequest& page) override;
  absl::StatusOr<storage::Page<storage::GrantRecord>> ListDelegatedAccess(
      const std::string& delegate_account_id, storage::GrantState state, absl::Time now,
      const storage::PageRequest& page) override;
  absl::StatusOr<storage::GrantRecord> UpdateGrant(
      const storage::Actor& actor, const std::string& owner_account_id, const std::string& grant_id,
      storage::ExpectedVersion expected, const storage::GrantUpdate& update,
      const storage::GrantEmailComposer& compose,
      const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<storage::GrantRecord> RevokeGrant(
      const storage::Actor& actor, const std::string& owner_account_id, const std::string& grant_id,
      storage::ExpectedVersion expected, const storage::GrantEmailComposer& compose,
      const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<storage::GrantRecord> LeaveGrant(
      const storage::Actor& actor, const std::string& delegate_account_id,
      const std::string& grant_id, storage::ExpectedVersion expected,
      const storage::GrantEmailComposer& compose,
      const storage::IdempotencyKey& idempotency) override;
  absl::StatusOr<std::optional<storage::GrantRecord>> FindGrant(
      const std::string& owner_account_id, const std::string& delegate_account_id) override;
  absl::StatusOr<storage::SweepResult> SweepExpiredGrants(
      const storage::Actor& actor, const storage::SweepOptions& options) override;
  absl::StatusOr<storage::PurgeResult> PurgeStaleRecords(
      const storage::PurgeOptions& options) override;
  absl::StatusOr<std::vector<storage::QueuedEmail>> ClaimEmails(int limit) override;
  // Never calls the listener, because the fuzzed store keeps no outbox.
  void SetEmailQueuedListener(std::function<void()> listener) override;
  absl::Status MarkEmailsDelivered(const std::vector<int64_t>& ids) override;
  absl::Status MarkEmailFailed(int64_t id, const std::string& error,
                               absl::Duration retry_after) override;
  absl::Status MarkEmailDead(int64_t id, const std::string& error) override;
  absl::StatusOr<std::vector<storage::FailedEmail>> ListFailedEmails(int64_t after_id,
                                                                     int limit) override;
  absl::StatusOr<storage::FailedEmail> RetryEmail(const std::string& message_id) override;
  absl::StatusOr<uint64_t> CurrentWalPosition() override;
  absl::Status Ping() override;
  absl::StatusOr<storage::StoreStats> ReadStats() override;

 private:
  const std::string session_token_hash_;
};

}  // namespace accessdelegation::fuzz

#endif  // ACCESSDELEGATION_TESTS_FUZZ_FUZZ_STORE_H_
