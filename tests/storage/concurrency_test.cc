#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "storage/store.h"
#include "tests/storage/store_test_base.h"

namespace accessdelegation::storage {
namespace {

// Runs `count` copies of `call(i)` on their own threads, released together, then runs
// `meanwhile` on this thread, and returns the calls' statuses by index.
template <typename Call, typename Meanwhile>
std::vector<absl::Status> RunTogether(int count, Call call, Meanwhile meanwhile) {
  std::vector<absl::Status> statuses(count);
  absl::Notification start;
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      start.WaitForNotification();
      statuses[i] = call(i);
    });
  }
  start.Notify();
  meanwhile();
  for (std::thread& thread : threads) thread.join();
  return statuses;
}

template <typename Call>
std::vector<absl::Status> RunTogether(int count, Call call) {
  return RunTogether(count, call, [] {});
}

// InvitationLock holds the row lock of every invitation in a transaction of its own. Calls
// that race while it is held all pass their reads and then queue on their conditional
// UPDATE, so releasing it makes them contend for certain rather than by chance.
class InvitationLock {
 public:
  explicit InvitationLock(const std::string& database_url)
      : database_url_(database_url), connection_(database_url), txn_(connection_) {
    txn_.exec("SELECT id FROM invitations FOR UPDATE");
  }

  // Waits until `count` other sessions wait for a lock. Returns false after 30 seconds.
  bool WaitForWaiters(int count) {
    pqxx::connection connection(database_url_);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      pqxx::work txn(connection);
      const int64_t waiting =
          txn.exec1(
                 "SELECT count(*) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND wait_event_type = 'Lock'")[0]
              .as<int64_t>();
      if (waiting >= count) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  void Release() { txn_.commit(); }

 private:
  std::string database_url_;
  pqxx::connection connection_;
  pqxx::work txn_;
};

int CountCode(const std::vector<absl::Status>& statuses, absl::StatusCode code) {
  int count = 0;
  for (const absl::Status& status : statuses) count += status.code() == code ? 1 : 0;
  return count;
}

TEST_F(DelegationTest, ConcurrentAcceptsExactlyOneWins) {
  constexpr int kCalls = 20;
  absl::StatusOr<InvitationRecord> created = InviteInvitee();
  ASSERT_TRUE(created.ok()) << created.status();

  InvitationLock lock(database_->url());
  bool all_waited = false;

  const std::vector<absl::Status> statuses = RunTogether(
      kCalls, [&](int) { return Accept(invitee_.id).status(); },
      [&] {
        all_waited = lock.WaitForWaiters(kCalls);
        lock.Release();
      });

  EXPECT_TRUE(all_waited);

  EXPECT_EQ(CountCode(statuses, absl::StatusCode::kOk), 1);
  EXPECT_EQ(CountCode(statuses, absl::StatusCode::kFailedPrecondition), kCalls - 1);
  // One email for the invitation and one for the single successful accept.
  EXPECT_EQ(ClaimAll().size(), 2u);

  absl::StatusOr<Confirmation> confirmation =
      store_->ConfirmInvitation(kTestActor, owner_.id, created->id, std::nullopt, RecordingComposer(), {});
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM grants"), 1);
}

TEST_F(DelegationTest, ConcurrentConfirmAndDenyExactlyOneWins) {
  // Each round races one confirm against one deny on a fresh invitation.
  constexpr int kRounds = 10;
  int confirms_won = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string email = "person" + std::to_string(round) + "@example.com";
    absl::StatusOr<AccountRecord> invitee = CreateAccount(email);
    ASSERT_TRUE(invitee.ok()) << invitee.status();
    absl::StatusOr<InvitationRecord> created = Invite(owner_, email, 100 + round);
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_TRUE(store_
                    ->AcceptInvitation(kTestActor, TokenHash(100 + round), invitee->id, absl::Now(),
                                       RecordingComposer(), {})
                    .ok());

    InvitationLock lock(database_->url());
    bool both_waited = false;

    const std::vector<absl::Status> statuses = RunTogether(
        2,
        [&](int i) -> absl::Status {
          if (i == 0) {
            return store_->ConfirmInvitation(kTestActor, owner_.id, created->id, std::nullopt, RecordingComposer(), {}).status();
          }
          return store_->DenyInvitation(kTestActor, owner_.id, created->id, std::nullopt, RecordingComposer(), {}).status();
        },
        [&] {
          both_waited = lock.WaitForWaiters(2);
          lock.Release();
        });

    EXPECT_TRUE(both_waited) << "round " << round;

    EXPECT_EQ(CountCode(statuses, absl::StatusCode::kOk), 1) << "round " << round;
    EXPECT_EQ(CountCode(statuses, absl::StatusCode::kFailedPrecondition), 1) << "round " << round;
    absl::StatusOr<std::optional<GrantRecord>> grant = store_->FindGrant(owner_.id, invitee->id);
    ASSERT_TRUE(grant.ok()) << grant.status();
    EXPECT_EQ(grant->has_value(), statuses[0].ok()) << "round " << round;
    if (statuses[0].ok()) ++confirms_won;
  }
  EXPECT_EQ(QueryInt("SELECT count(*) FROM grants"), confirms_won);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM invitations WHERE state = 'CONFIRMED'"), confirms_won);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM invitations WHERE state = 'DENIED'"),
            kRounds - confirms_won);
}

TEST_F(DelegationTest, ConcurrentInvitationsSameEmailExactlyOneWins) {
  constexpr int kCalls = 10;

  const std::vector<absl::Status> statuses = RunTogether(
      kCalls, [&](int i) { return Invite(owner_, "dave@example.com", 200 + i).status(); });

  EXPECT_EQ(CountCode(statuses, absl::StatusCode::kOk), 1);
  EXPECT_EQ(CountCode(statuses, absl::StatusCode::kAlreadyExists), kCalls - 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM invitations"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox"), 1);
}

TEST_F(DelegationTest, ConcurrentSignUpsWithOneTokenExactlyOneWins) {
  constexpr int kCalls = 10;
  ASSERT_TRUE(Invite(owner_, "dave@example.com", 7).ok());
  NewAccount account;
  account.password_hash = "hash";

  const std::vector<absl::Status> statuses = RunTogether(kCalls, [&](int) {
    return store_->SignUpWithInvitation(TestActor(), TokenHash(7), account, absl::Now()).status();
  });

  EXPECT_EQ(CountCode(statuses, absl::StatusCode::kOk), 1);
  EXPECT_EQ(CountCode(statuses, absl::StatusCode::kNotFound), kCalls - 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM accounts WHERE email_normalized = 'dave@example.com'"),
            1);
}

}  // namespace
}  // namespace accessdelegation::storage
