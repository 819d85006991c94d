// ConnectionPool's bounded wait for a lease and the libpq settings it adds to URLs.

#include "storage/connection_pool.h"

#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/test_database.h"

namespace accessdelegation::storage {
namespace {

constexpr char kAllDefaults[] =
    "connect_timeout=2&keepalives=1&keepalives_idle=10&keepalives_interval=5&"
    "keepalives_count=2&tcp_user_timeout=10000";

TEST(WithConnectionDefaultsTest, UrlWithoutQueryGetsEveryDefault) {
  EXPECT_EQ(WithConnectionDefaults("postgresql://app@127.0.0.1:5432/db"),
            std::string("postgresql://app@127.0.0.1:5432/db?") + kAllDefaults);
}

TEST(WithConnectionDefaultsTest, UrlQueryIsExtended) {
  EXPECT_EQ(WithConnectionDefaults("postgres://app@host/db?sslmode=require"),
            std::string("postgres://app@host/db?sslmode=require&") + kAllDefaults);
}

TEST(WithConnectionDefaultsTest, UrlSettingsAreKept) {
  const std::string url = WithConnectionDefaults(
      "postgresql://app@host/db?connect_timeout=9&keepalives=0&tcp_user_timeout=1");

  EXPECT_NE(url.find("connect_timeout=9"), std::string::npos) << url;
  EXPECT_EQ(url.find("connect_timeout=2"), std::string::npos) << url;
  EXPECT_EQ(url.find("keepalives=1"), std::string::npos) << url;
  EXPECT_EQ(url.find("tcp_user_timeout=10000"), std::string::npos) << url;
  EXPECT_NE(url.find("keepalives_idle=10"), std::string::npos) << url;
}

TEST(WithConnectionDefaultsTest, KeyValueStringIsExtended) {
  const std::string settings = WithConnectionDefaults("host=127.0.0.1 connect_timeout = 7");

  EXPECT_EQ(settings.rfind("host=127.0.0.1 connect_timeout = 7 keepalives=1", 0), 0u)
      << settings;
  EXPECT_EQ(settings.find("connect_timeout=2"), std::string::npos) << settings;
  EXPECT_NE(settings.find(" tcp_user_timeout=10000"), std::string::npos) << settings;
}

TEST(ConnectionPoolTest, AcquireGivesUpAfterTimeout) {
  absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
      testing::TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  ConnectionPool pool((*database)->url(), 1, [](pqxx::connection&) {},
                      absl::Milliseconds(200));
  absl::StatusOr<ConnectionPool::Lease> held = pool.Acquire();
  ASSERT_TRUE(held.ok()) << held.status();

  const absl::Time start = absl::Now();
  absl::StatusOr<ConnectionPool::Lease> waiting = pool.Acquire();
  const absl::Duration waited = absl::Now() - start;

  EXPECT_EQ(waiting.status().code(), absl::StatusCode::kUnavailable) << waiting.status();
  EXPECT_GE(waited, absl::Milliseconds(190));
  EXPECT_LT(waited, absl::Seconds(2));
  EXPECT_EQ(pool.GetUsage().waits, 1);
}

TEST(ConnectionPoolTest, AcquireGetsConnectionReturnedInTime) {
  absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
      testing::TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  ConnectionPool pool((*database)->url(), 1, [](pqxx::connection&) {}, absl::Seconds(5));
  auto held = std::make_unique<absl::StatusOr<ConnectionPool::Lease>>(pool.Acquire());
  ASSERT_TRUE(held->ok()) << held->status();

  std::thread releaser([&held] {
    absl::SleepFor(absl::Milliseconds(100));
    held.reset();
  });
  absl::StatusOr<ConnectionPool::Lease> waiting = pool.Acquire();
  releaser.join();

  EXPECT_TRUE(waiting.ok()) << waiting.status();
}

}  // namespace
}  // namespace accessdelegation::storage
