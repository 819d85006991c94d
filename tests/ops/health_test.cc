// The health service follows the database: each test runs the server on its own
// PostgreSQL cluster, stops the cluster and starts it again.

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_test_support.h"

namespace accessdelegation::ops {
namespace {

using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
using grpc::health::v1::HealthCheckResponse;

constexpr char kAccessDelegationService[] = "accessdelegation.v1.AccessDelegation";
// With --health_check_interval=200ms, health must change within this long.
constexpr absl::Duration kNotServingWithin = absl::Seconds(2);
constexpr absl::Duration kServingAgainWithin = absl::Seconds(5);
// A call while the database is down must fail this fast, far below its deadline.
constexpr absl::Duration kFailFastWithin = absl::Seconds(1);
constexpr absl::Duration kCallDeadline = absl::Seconds(10);

class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ServerBinary().ok()) << ServerBinary().status();
    absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
        PostgresCluster::Create(temp_dir_.path() / "pg");
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);

    ServerOptions options;
    options.database_url = cluster_->url();
    options.flags = {"--health_check_interval=200ms", "--database_pool_size=2"};
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options, temp_dir_.path());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = server_->PlaintextChannel();
  }

  void TearDown() override {
    // The server goes first, so that it does not log the cluster's removal as a failure.
    server_.reset();
    cluster_.reset();
  }

  // Polls Check for `service` until it reports `expected` or `timeout` passes, and
  // returns how long that took, or nullopt on timeout.
  std::optional<absl::Duration> WaitForHealth(const std::string& service, ServingStatus expected,
                                              absl::Duration timeout) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < timeout) {
      absl::StatusOr<ServingStatus> status = CheckHealth(channel_, service);
      if (status.ok() && *status == expected) return absl::Now() - start;
      absl::SleepFor(absl::Milliseconds(25));
    }
    return std::nullopt;
  }

  // Calls CheckAccess for two accounts that do not exist, which reads the database.
  grpc::Status CallCheckAccess() {
    auto stub = v1::AccessDelegation::NewStub(channel_);
    grpc::ClientContext context;
    PrepareContext(context, kServiceToken, kCallDeadline);
    v1::CheckAccessRequest request;
    request.set_account_id(RandomUuid());
    request.set_owner_account_id(RandomUuid());
    request.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);
    v1::CheckAccessResponse response;
    return stub->CheckAccess(&context, request, &response);
  }

  // Calls SignIn for an unknown email, which reads the database.
  grpc::Status CallSignIn() {
    auto stub = v1::Accounts::NewStub(channel_);
    grpc::ClientContext context;
    PrepareContext(context, "", kCallDeadline);
    v1::SignInRequest request;
    request.set_email("nobody@example.test");
    request.set_password("not the password 0000");
    v1::SignInResponse response;
    return stub->SignIn(&context, request, &response);
  }

  ScopedTempDir temp_dir_;
  std::unique_ptr<PostgresCluster> cluster_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(HealthTest, NotServingWhileDatabaseIsDown) {
  // The services report SERVING once the server's first database check has passed.
  ASSERT_TRUE(WaitForHealth("", HealthCheckResponse::SERVING, absl::Seconds(5)).has_value())
      << server_->Stderr();
  ASSERT_TRUE(WaitForHealth(kAccessDelegationService, HealthCheckResponse::SERVING,
                            absl::Seconds(5))
                  .has_value())
      << server_->Stderr();

  ASSERT_TRUE(cluster_->Stop().ok());

  const std::optional<absl::Duration> server_down =
      WaitForHealth("", HealthCheckResponse::NOT_SERVING, kNotServingWithin);
  EXPECT_TRUE(server_down.has_value())
      << "Check(\"\") still not NOT_SERVING " << kNotServingWithin << " after the stop\n"
      << server_->Stderr();
  const std::optional<absl::Duration> service_down = WaitForHealth(
      kAccessDelegationService, HealthCheckResponse::NOT_SERVING, absl::Milliseconds(500));
  EXPECT_TRUE(service_down.has_value()) << kAccessDelegationService << " is not NOT_SERVING";
  EXPECT_FALSE(server_->StderrLinesContaining("NOT_SERVING").empty()) << server_->Stderr();
}

TEST_F(HealthTest, CallsFailFastWhileDatabaseIsDown) {
  ASSERT_TRUE(CallCheckAccess().ok());
  ASSERT_TRUE(cluster_->Stop().ok());
  ASSERT_TRUE(WaitForHealth("", HealthCheckResponse::NOT_SERVING, kNotServingWithin).has_value());

  // Several calls, so that each pooled connection that the cluster closed is used once.
  for (int i = 0; i < 4; ++i) {
    const absl::Time start = absl::Now();
    const grpc::Status check = CallCheckAccess();
    const absl::Duration check_latency = absl::Now() - start;
    EXPECT_EQ(check.error_code(), grpc::StatusCode::UNAVAILABLE)
        << "CheckAccess " << i << ": " << check.error_message();
    EXPECT_LT(check_latency, kFailFastWithin) << "CheckAccess " << i;

    const absl::Time sign_in_start = absl::Now();
    const grpc::Status sign_in = CallSignIn();
    const absl::Duration sign_in_latency = absl::Now() - sign_in_start;
    EXPECT_EQ(sign_in.error_code(), grpc::StatusCode::UNAVAILABLE)
        << "SignIn " << i << ": " << sign_in.error_message();
    EXPECT_LT(sign_in_latency, kFailFastWithin) << "SignIn " << i;
    // The caller learns nothing of the database's address: the detail is in the log.
    EXPECT_NE(sign_in.error_message().find("temporarily unavailable"), std::string::npos)
        << sign_in.error_message();
    EXPECT_EQ(sign_in.error_message().find("127.0.0.1"), std::string::npos)
        << sign_in.error_message();
  }
}

TEST_F(HealthTest, ServingAgainAfterDatabaseRestarts) {
  ASSERT_TRUE(cluster_->Stop().ok());
  ASSERT_TRUE(WaitForHealth("", HealthCheckResponse::NOT_SERVING, kNotServingWithin).has_value());
  ASSERT_EQ(CallCheckAccess().error_code(), grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(cluster_->Start().ok());

  const std::optional<absl::Duration> up =
      WaitForHealth("", HealthCheckResponse::SERVING, kServingAgainWithin);
  ASSERT_TRUE(up.has_value()) << "not SERVING " << kServingAgainWithin
                              << " after the database restarted\n"
                              << server_->Stderr();
  EXPECT_TRUE(
      WaitForHealth(kAccessDelegationService, HealthCheckResponse::SERVING, absl::Seconds(1))
          .has_value());
  // Each call after SERVING must succeed at once, also on pooled connections that the
  // restart closed.
  for (int i = 0; i < 4; ++i) {
    const grpc::Status check = CallCheckAccess();
    EXPECT_TRUE(check.ok()) << "CheckAccess " << i << " after the restart: "
                            << check.error_message();
  }
  absl::StatusOr<std::string> account =
      CreateAccount(channel_, "olivia@example.test", "correct horse battery");
  EXPECT_TRUE(account.ok()) << account.status();
  EXPECT_FALSE(server_->StderrLinesContaining("health is SERVING").empty()) << server_->Stderr();
  // The outbox retried every poll during the outage but logged the failure once.
  EXPECT_LE(server_->StderrLinesContaining("claiming emails failed").size(), 1u)
      << server_->Stderr();
}

TEST_F(HealthTest, WatchStreamsEachChange) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("");
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader = stub->Watch(&context, request);
  absl::Mutex mutex;
  std::vector<ServingStatus> seen;
  std::thread watcher([&] {
    HealthCheckResponse response;
    while (reader->Read(&response)) {
      absl::MutexLock lock(&mutex);
      // The stream may repeat a status; only the changes matter here.
      if (seen.empty() || seen.back() != response.status()) seen.push_back(response.status());
    }
  });
  // Returns whether `seen` reaches `count` entries within `timeout`.
  auto wait_for_count = [&](size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mutex);
    auto reached = [&] { return seen.size() >= count; };
    return mutex.AwaitWithTimeout(absl::Condition(&reached), timeout);
  };

  const bool first = wait_for_count(1, absl::Seconds(2));
  ASSERT_TRUE(cluster_->Stop().ok());
  const bool second = wait_for_count(2, kNotServingWithin);
  ASSERT_TRUE(cluster_->Start().ok());
  const bool third = wait_for_count(3, kServingAgainWithin);
  context.TryCancel();
  watcher.join();

  EXPECT_TRUE(first) << "Watch sent nothing";
  EXPECT_TRUE(second) << "Watch did not send the change to NOT_SERVING";
  EXPECT_TRUE(third) << "Watch did not send the change back to SERVING";
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0], HealthCheckResponse::SERVING);
  EXPECT_EQ(seen[1], HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(seen[2], HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace accessdelegation::ops
