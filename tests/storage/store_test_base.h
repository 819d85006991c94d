#ifndef ACCESSDELEGATION_TESTS_STORAGE_STORE_TEST_BASE_H_
#define ACCESSDELEGATION_TESTS_STORAGE_STORE_TEST_BASE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"
#include "tests/support/test_database.h"

namespace accessdelegation::storage {

// The actor that storage tests make changes as.
inline const Actor kTestActor = {"system", "", "-", "storage-test"};

// Returns a grant composer that queues no email.
inline GrantEmailComposer NoGrantEmails() {
  return [](const GrantEmailContext&) { return std::vector<OutboxEmail>(); };
}

// Returns a 32-byte token hash that differs for each `seed`. It contains a zero byte, so
// tests also check that hashes travel as binary.
std::string TokenHash(int seed);

// Returns the actor that storage tests pass to mutating Store methods.
Actor TestActor();

// StoreTest gives each test a fresh migrated database and a Store on it. It fails the test
// when ACCESSDELEGATION_TEST_DATABASE_URL is unset.
class StoreTest : public ::testing::Test {
 protected:
  // Enough connections for the 20 concurrent calls of the concurrency tests.
  static constexpr int kPoolSize = 24;

  void SetUp() override;

  // Creates an account with this email and placeholder names.
  absl::StatusOr<AccountRecord> CreateAccount(const std::string& email);

  // Creates a FULL invitation from `owner` to `email` that expires after `ttl`, with the
  // token hash TokenHash(token_seed).
  absl::StatusOr<InvitationRecord> Invite(const AccountRecord& owner, const std::string& email,
                                          int token_seed, absl::Duration ttl = absl::Hours(1));

  // Returns a composer that records each context it receives in composed() and returns an
  // email to the invitation's address.
  EmailComposer RecordingComposer();

  // Returns every context RecordingComposer has received, in call order.
  std::vector<EmailContext> composed();

  // Claims every due email, up to 1000.
  std::vector<QueuedEmail> ClaimAll();

  // Runs a parameterless SQL query directly on the test database and returns the first
  // column of its first row as an integer. Tests use it for checks the Store cannot make.
  int64_t QueryInt(const std::string& sql);

  // Runs parameterless SQL directly on the test database; for setting up states the Store
  // interface cannot reach.
  void ExecuteSql(const std::string& sql);

  std::unique_ptr<testing::TestDatabase> database_;
  std::unique_ptr<Store> store_;

 private:
  absl::Mutex mu_;
  std::vector<EmailContext> composed_ ABSL_GUARDED_BY(mu_);
};

// DelegationTest adds an owner and an invitee account, and steps of the invitation flow
// between them.
class DelegationTest : public StoreTest {
 protected:
  // Token seed of the invitation that InviteInvitee creates.
  static constexpr int kInviteeToken = 1;

  void SetUp() override;

  // Invites invitee_ (by its email in upper case) from owner_ with token kInviteeToken.
  absl::StatusOr<InvitationRecord> InviteInvitee(absl::Duration ttl = absl::Hours(1));

  // Accepts the invitation of kInviteeToken as `account_id`.
  absl::StatusOr<InvitationRecord> Accept(const std::string& account_id,
                                          absl::Time now = absl::Now());

  // Invites invitee_, accepts as invitee_ and confirms as owner_.
  absl::StatusOr<Confirmation> InviteAcceptConfirm();

  AccountRecord owner_;
  AccountRecord invitee_;
  AccountRecord other_;  // An account with no part in the invitation.
};

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_TESTS_STORAGE_STORE_TEST_BASE_H_
