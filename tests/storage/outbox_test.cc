#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"
#include "tests/storage/store_test_base.h"

namespace accessdelegation::storage {
namespace {

class OutboxTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    absl::StatusOr<AccountRecord> owner = CreateAccount("owner@example.com");
    ASSERT_TRUE(owner.ok()) << owner.status();
    owner_ = *std::move(owner);
  }

  // Queues `count` emails by inviting that many addresses.
  void QueueEmails(int count) {
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<InvitationRecord> invitation =
          Invite(owner_, "person" + std::to_string(i) + "@example.com", 100 + i);
      ASSERT_TRUE(invitation.ok()) << invitation.status();
    }
  }

  AccountRecord owner_;
};

TEST_F(OutboxTest, ClaimReturnsOldestFirstUpToLimit) {
  QueueEmails(3);

  absl::StatusOr<std::vector<QueuedEmail>> claimed = store_->ClaimEmails(2);

  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_LT((*claimed)[0].id, (*claimed)[1].id);
  EXPECT_EQ((*claimed)[0].email.recipient, "person0@example.com");
  EXPECT_EQ((*claimed)[1].email.recipient, "person1@example.com");
}

TEST_F(OutboxTest, ClaimedEmailIsNotClaimedAgain) {
  QueueEmails(1);
  ASSERT_EQ(ClaimAll().size(), 1u);

  const std::vector<QueuedEmail> second = ClaimAll();

  EXPECT_TRUE(second.empty());
}

TEST_F(OutboxTest, DeliveredEmailIsNotClaimedAgain) {
  QueueEmails(1);
  const std::vector<QueuedEmail> claimed = ClaimAll();
  ASSERT_EQ(claimed.size(), 1u);

  const absl::Status delivered = store_->MarkEmailsDelivered({claimed[0].id});
  const absl::Status delivered_again = store_->MarkEmailsDelivered({claimed[0].id});
  // Even past the claim lease, a delivered email stays delivered.
  ExecuteSql("UPDATE outbox SET deliver_after = now() - interval '1 hour'");

  EXPECT_TRUE(delivered.ok()) << delivered;
  EXPECT_TRUE(delivered_again.ok()) << delivered_again;
  EXPECT_TRUE(ClaimAll().empty());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE delivered_time IS NOT NULL"), 1);
}

TEST_F(OutboxTest, FailedEmailIsClaimedAfterRetryDelay) {
  QueueEmails(1);
  const std::vector<QueuedEmail> claimed = ClaimAll();
  ASSERT_EQ(claimed.size(), 1u);

  const absl::Status failed =
      store_->MarkEmailFailed(claimed[0].id, "disk full", absl::ZeroDuration());
  const std::vector<QueuedEmail> retried = ClaimAll();

  EXPECT_TRUE(failed.ok()) << failed;
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].id, claimed[0].id);
  EXPECT_EQ(retried[0].attempts, 1);
  EXPECT_EQ(retried[0].email.message_id, claimed[0].email.message_id);
}

TEST_F(OutboxTest, FailedEmailIsNotClaimedBeforeRetryDelay) {
  QueueEmails(1);
  const std::vector<QueuedEmail> claimed = ClaimAll();
  ASSERT_EQ(claimed.size(), 1u);

  ASSERT_TRUE(store_->MarkEmailFailed(claimed[0].id, "disk full", absl::Hours(1)).ok());

  EXPECT_TRUE(ClaimAll().empty());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE last_error = 'disk full'"), 1);
}

TEST_F(OutboxTest, ClaimedEmailIsClaimedAgainAfterLease) {
  QueueEmails(1);
  ASSERT_EQ(ClaimAll().size(), 1u);
  // Stands in for the lease running out after a deliverer died without marking the email.
  ExecuteSql("UPDATE outbox SET deliver_after = now() - interval '1 second'");

  EXPECT_EQ(ClaimAll().size(), 1u);
}

TEST_F(OutboxTest, MarkUnknownEmailNotFound) {
  const absl::Status delivered = store_->MarkEmailsDelivered({12345});
  const absl::Status failed = store_->MarkEmailFailed(12345, "error", absl::Seconds(1));

  EXPECT_EQ(delivered.code(), absl::StatusCode::kNotFound) << delivered;
  EXPECT_EQ(failed.code(), absl::StatusCode::kNotFound) << failed;
}

TEST_F(OutboxTest, MarkDeliveredEmailFailedNotFound) {
  QueueEmails(1);
  const std::vector<QueuedEmail> claimed = ClaimAll();
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(store_->MarkEmailsDelivered({claimed[0].id}).ok());

  const absl::Status failed = store_->MarkEmailFailed(claimed[0].id, "late", absl::Seconds(1));

  EXPECT_EQ(failed.code(), absl::StatusCode::kNotFound) << failed;
}

TEST_F(OutboxTest, MarkSeveralDeliveredInOneCall) {
  QueueEmails(3);
  const std::vector<QueuedEmail> claimed = ClaimAll();
  ASSERT_EQ(claimed.size(), 3u);

  const absl::Status delivered = store_->MarkEmailsDelivered({claimed[0].id, claimed[2].id});

  EXPECT_TRUE(delivered.ok()) << delivered;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE delivered_time IS NOT NULL"), 2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE delivered_time IS NULL AND id = " +
                     std::to_string(claimed[1].id)),
            1);
}

TEST_F(OutboxTest, MarkDeliveredWithUnknownIdMarksNone) {
  QueueEmails(1);
  const std::vector<QueuedEmail> claimed = ClaimAll();
  ASSERT_EQ(claimed.size(), 1u);

  const absl::Status delivered = store_->MarkEmailsDelivered({claimed[0].id, 12345});

  EXPECT_EQ(delivered.code(), absl::StatusCode::kNotFound) << delivered;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE delivered_time IS NOT NULL"), 0);
}

TEST_F(OutboxTest, MarkDeliveredEmptyListIsOk) {
  const absl::Status delivered = store_->MarkEmailsDelivered({});

  EXPECT_TRUE(delivered.ok()) << delivered;
}

TEST_F(OutboxTest, MarkDeliveredRepeatedIdIsOk) {
  QueueEmails(1);
  const std::vector<QueuedEmail> claimed = ClaimAll();
  ASSERT_EQ(claimed.size(), 1u);

  const absl::Status delivered = store_->MarkEmailsDelivered({claimed[0].id, claimed[0].id});

  EXPECT_TRUE(delivered.ok()) << delivered;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE delivered_time IS NOT NULL"), 1);
}

TEST_F(OutboxTest, ListenerCalledOncePerCommitThatQueuesEmail) {
  std::atomic<int> calls{0};
  store_->SetEmailQueuedListener([&calls] { ++calls; });

  QueueEmails(2);
  const int after_invitations = calls.load();
  const std::vector<QueuedEmail> claimed = ClaimAll();
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_TRUE(store_->MarkEmailsDelivered({claimed[0].id, claimed[1].id}).ok());
  store_->SetEmailQueuedListener(nullptr);

  EXPECT_EQ(after_invitations, 2);
  EXPECT_EQ(calls.load(), 2) << "claiming and marking queue no email";
}

TEST_F(OutboxTest, ListenerNotCalledForFailedWrite) {
  QueueEmails(1);
  std::atomic<int> calls{0};
  store_->SetEmailQueuedListener([&calls] { ++calls; });

  // A second pending invitation for the same email is rejected, so nothing commits.
  absl::StatusOr<InvitationRecord> again = Invite(owner_, "person0@example.com", 200);
  store_->SetEmailQueuedListener(nullptr);

  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(OutboxTest, ClaimZeroLimitInvalid) {
  absl::StatusOr<std::vector<QueuedEmail>> claimed = store_->ClaimEmails(0);

  EXPECT_EQ(claimed.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OutboxTest, ConcurrentClaimsNeverShareAnEmail) {
  constexpr int kEmails = 60;
  constexpr int kDeliverers = 6;
  QueueEmails(kEmails);
  absl::Mutex mu;
  std::vector<int64_t> claimed_ids;
  std::vector<absl::Status> errors;

  std::vector<std::thread> deliverers;
  for (int i = 0; i < kDeliverers; ++i) {
    deliverers.emplace_back([&] {
      // Bounded, so that a broken claim that hands out the same rows forever ends the test.
      for (int attempt = 0; attempt < kEmails; ++attempt) {
        absl::StatusOr<std::vector<QueuedEmail>> batch = store_->ClaimEmails(3);
        absl::MutexLock lock(&mu);
        if (!batch.ok()) {
          errors.push_back(batch.status());
          return;
        }
        if (batch->empty()) return;
        for (const QueuedEmail& email : *batch) claimed_ids.push_back(email.id);
      }
    });
  }
  for (std::thread& deliverer : deliverers) deliverer.join();

  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(claimed_ids.size(), static_cast<size_t>(kEmails));
  EXPECT_EQ(std::set<int64_t>(claimed_ids.begin(), claimed_ids.end()).size(),
            static_cast<size_t>(kEmails));
}

}  // namespace
}  // namespace accessdelegation::storage
