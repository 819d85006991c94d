// Tests of Store::PurgeStaleRecords: what it deletes, what it must keep, and batching.
#include <gtest/gtest.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "storage/store.h"
#include "tests/storage/store_test_base.h"

namespace accessdelegation::storage {
namespace {

PurgeOptions OptionsAt(absl::Time now) {
  PurgeOptions options;
  options.now = now;
  options.request_id_retention = absl::Hours(24);
  options.sign_in_failure_lifetime = absl::Minutes(15);
  options.ended_session_retention = absl::Hours(24);
  return options;
}

class PurgeTest : public StoreTest {
 protected:
  // Inserts a remembered request_id created `age_sql` (an SQL interval) ago.
  void InsertRequestId(const std::string& request_id, const std::string& age_sql) {
    ExecuteSql(absl::StrCat(
        "INSERT INTO idempotency_keys (caller, method, request_id, fingerprint, create_time) "
        "VALUES ('service:portal', 'CreateInvitation', '", request_id,
        "', '\\x00', now() - interval '", age_sql, "')"));
  }

  SignInPolicy policy_;
};

TEST_F(PurgeTest, DeletesOnlyExpiredRequestIds) {
  InsertRequestId("old", "25 hours");
  InsertRequestId("recent", "23 hours");

  absl::StatusOr<PurgeResult> result = store_->PurgeStaleRecords(OptionsAt(absl::Now()));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->request_ids, 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM idempotency_keys WHERE request_id = 'old'"), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM idempotency_keys WHERE request_id = 'recent'"), 1);
}

TEST_F(PurgeTest, DeletesInBatches) {
  for (int i = 0; i < 5; ++i) InsertRequestId(absl::StrCat("old-", i), "2 days");
  PurgeOptions options = OptionsAt(absl::Now());
  options.batch_size = 2;

  int deleted[4] = {};
  for (int& count : deleted) {
    absl::StatusOr<PurgeResult> result = store_->PurgeStaleRecords(options);
    ASSERT_TRUE(result.ok()) << result.status();
    count = result->request_ids;
  }

  EXPECT_EQ(deleted[0], 2);
  EXPECT_EQ(deleted[1], 2);
  EXPECT_EQ(deleted[2], 1);
  EXPECT_EQ(deleted[3], 0);
}

TEST_F(PurgeTest, BatchSizeBelowOneInvalid) {
  PurgeOptions options = OptionsAt(absl::Now());
  options.batch_size = 0;

  EXPECT_EQ(store_->PurgeStaleRecords(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PurgeTest, KeepsThrottlesThatStillCountOrBlock) {
  const absl::Time now = absl::Now();
  ASSERT_TRUE(store_->BeginSignIn("lapsed@example.com", now - absl::Hours(1), policy_).ok());
  ASSERT_TRUE(store_->BeginSignIn("recent@example.com", now - absl::Minutes(1), policy_).ok());
  ASSERT_TRUE(store_->BeginSignIn("blocked@example.com", now - absl::Hours(1), policy_).ok());
  ExecuteSql("UPDATE sign_in_throttles SET blocked_until = now() + interval '1 hour' "
             "WHERE email_normalized = 'blocked@example.com'");

  absl::StatusOr<PurgeResult> result = store_->PurgeStaleRecords(OptionsAt(now));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sign_in_throttles, 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sign_in_throttles "
                     "WHERE email_normalized = 'lapsed@example.com'"),
            0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sign_in_throttles "
                     "WHERE email_normalized IN ('recent@example.com', 'blocked@example.com')"),
            2);
}

// A purged throttle row counts the next attempt as the first, exactly as the lapsed row
// would have.
TEST_F(PurgeTest, PurgedThrottleCountsAsLapsed) {
  const absl::Time now = absl::Now();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_->BeginSignIn("lapsed@example.com", now - absl::Hours(1), policy_).ok());
  }
  ASSERT_TRUE(store_->PurgeStaleRecords(OptionsAt(now)).ok());

  absl::StatusOr<SignInAttempt> attempt = store_->BeginSignIn("lapsed@example.com", now, policy_);

  ASSERT_TRUE(attempt.ok()) << attempt.status();
  EXPECT_EQ(attempt->failure_count, 1);
}

TEST_F(PurgeTest, DeletesSessionsEndedBeforeRetention) {
  absl::StatusOr<AccountRecord> account = CreateAccount("alice@example.com");
  ASSERT_TRUE(account.ok()) << account.status();
  const absl::Time now = absl::Now();
  // 1: expired two days ago. 2: signed out two days ago. 3: expired an hour ago.
  // 4: signed out just now. 5: live.
  ASSERT_TRUE(store_->CreateSession(TokenHash(1), account->id, now - absl::Hours(48)).ok());
  ASSERT_TRUE(store_->CreateSession(TokenHash(2), account->id, now + absl::Hours(12)).ok());
  ASSERT_TRUE(store_->EndSession(TokenHash(2)).ok());
  ExecuteSql("UPDATE sessions SET end_time = now() - interval '2 days' "
             "WHERE end_time IS NOT NULL");
  ASSERT_TRUE(store_->CreateSession(TokenHash(3), account->id, now - absl::Hours(1)).ok());
  ASSERT_TRUE(store_->CreateSession(TokenHash(4), account->id, now + absl::Hours(12)).ok());
  ASSERT_TRUE(store_->EndSession(TokenHash(4)).ok());
  ASSERT_TRUE(store_->CreateSession(TokenHash(5), account->id, now + absl::Hours(12)).ok());

  absl::StatusOr<PurgeResult> result = store_->PurgeStaleRecords(OptionsAt(now));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sessions, 2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions"), 3);
  EXPECT_EQ(store_->GetSession(TokenHash(1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetSession(TokenHash(3)).ok());
  absl::StatusOr<std::string> live = store_->FindSession(TokenHash(5), now);
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(*live, account->id);
}

}  // namespace
}  // namespace accessdelegation::storage
