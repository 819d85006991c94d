#include "server/peer_throttle.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "storage/retry_delay.h"

namespace accessdelegation::server {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(PeerThrottleTest, AllowsFailuresBelowLimit) {
  PeerThrottle throttle("failed sign-ins", 3, absl::Minutes(15));

  EXPECT_FALSE(throttle.RecordFailure("127.0.0.1", kStart));
  EXPECT_FALSE(throttle.RecordFailure("127.0.0.1", kStart));

  EXPECT_TRUE(throttle.Check("127.0.0.1", kStart).ok());
}

TEST(PeerThrottleTest, RejectsPeerAtLimitWithRetryDelay) {
  PeerThrottle throttle("failed sign-ins", 3, absl::Minutes(15));
  EXPECT_FALSE(throttle.RecordFailure("127.0.0.1", kStart));
  EXPECT_FALSE(throttle.RecordFailure("127.0.0.1", kStart));
  EXPECT_TRUE(throttle.RecordFailure("127.0.0.1", kStart));

  const absl::Status status = throttle.Check("127.0.0.1", kStart + absl::Minutes(5));

  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(status.message(), "failed sign-ins")) << status;
  EXPECT_EQ(storage::RetryDelayOf(status), absl::Minutes(10));
}

TEST(PeerThrottleTest, OtherPeersUnaffected) {
  PeerThrottle throttle("failed sign-ins", 1, absl::Minutes(15));
  EXPECT_TRUE(throttle.RecordFailure("192.0.2.1", kStart));

  EXPECT_TRUE(throttle.Check("192.0.2.2", kStart).ok());
}

TEST(PeerThrottleTest, WindowEndClearsLimit) {
  PeerThrottle throttle("failed sign-ins", 1, absl::Minutes(15));
  EXPECT_TRUE(throttle.RecordFailure("127.0.0.1", kStart));

  EXPECT_TRUE(throttle.Check("127.0.0.1", kStart + absl::Minutes(15)).ok());
  EXPECT_TRUE(throttle.RecordFailure("127.0.0.1", kStart + absl::Minutes(16)));
}

TEST(PeerThrottleTest, ZeroLimitDisablesThrottle) {
  PeerThrottle throttle("failed sign-ins", 0, absl::Minutes(15));
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(throttle.RecordFailure("127.0.0.1", kStart));

  EXPECT_TRUE(throttle.Check("127.0.0.1", kStart).ok());
}

}  // namespace
}  // namespace accessdelegation::server
