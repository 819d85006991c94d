// The Prometheus endpoint of the server binary, scraped over HTTP on loopback.

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_test_support.h"
#include "tests/support/test_database.h"

namespace accessdelegation::ops {
namespace {

using ::testing::HasSubstr;

constexpr char kSignInMethod[] = "/accessdelegation.v1.Accounts/SignIn";

// Returns the value of the first sample of `name` whose labels contain each of
// `labels` ("key=\"value\"" each), or nullopt when there is none.
std::optional<double> SampleValue(const std::string& exposition, const std::string& name,
                                  const std::vector<std::string>& labels) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    if (!absl::StartsWith(line, name)) continue;
    const absl::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest.front() != '{' && rest.front() != ' ')) continue;
    bool matches = true;
    for (const std::string& label : labels) {
      if (!absl::StrContains(rest, label)) matches = false;
    }
    if (!matches) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) return value;
  }
  return std::nullopt;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ServerBinary().ok()) << ServerBinary().status();
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    ServerOptions options;
    options.database_url = database_->url();
    options.flags = {"--health_check_interval=200ms", "--database_pool_size=3"};
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options, temp_dir_.path());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = server_->PlaintextChannel();
  }

  void TearDown() override { server_.reset(); }

  std::string Scrape() {
    absl::StatusOr<std::string> body = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return body.value_or("");
  }

  std::unique_ptr<testing::TestDatabase> database_;
  ScopedTempDir temp_dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(MetricsTest, CountsCallsByMethodAndCode) {
  ASSERT_TRUE(CreateAccount(channel_, "olivia@example.test", "correct horse battery").ok());
  const std::vector<std::string> labels = {absl::StrCat("method=\"", kSignInMethod, "\""),
                                           "code=\"UNAUTHENTICATED\""};
  const double before =
      SampleValue(Scrape(), "accessdelegation_rpc_requests_total", labels).value_or(0);

  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(absl::IsUnauthenticated(
        SignIn(channel_, "olivia@example.test", "wrong password 0000").status()));
  }
  ASSERT_TRUE(SignIn(channel_, "olivia@example.test", "correct horse battery").ok());
  const std::string after = Scrape();

  EXPECT_EQ(SampleValue(after, "accessdelegation_rpc_requests_total", labels), before + 3)
      << after;
  EXPECT_EQ(SampleValue(after, "accessdelegation_rpc_requests_total",
                        {absl::StrCat("method=\"", kSignInMethod, "\""), "code=\"OK\""}),
            1)
      << after;
}

TEST_F(MetricsTest, UnknownMethodsShareOneSeries) {
  const std::string made_up = "/attacker.Made/UpName";
  for (const std::string& method : {made_up, made_up + "2"}) {
    EXPECT_EQ(CallRaw(channel_, method, "").code(), absl::StatusCode::kUnimplemented);
  }
  ASSERT_TRUE(CheckHealth(channel_, "").ok());

  const std::string exposition = Scrape();

  EXPECT_THAT(exposition, ::testing::Not(HasSubstr("attacker.Made")));
  EXPECT_EQ(SampleValue(exposition, "accessdelegation_rpc_requests_total",
                        {"method=\"unknown\"", "code=\"UNIMPLEMENTED\""}),
            2)
      << exposition;
  EXPECT_EQ(SampleValue(exposition, "accessdelegation_rpc_requests_total",
                        {"method=\"/grpc.health.v1.Health/Check\"", "code=\"OK\""}),
            1)
      << exposition;
}

TEST_F(MetricsTest, RecordsDurationHistogram) {
  ASSERT_TRUE(absl::IsUnauthenticated(
      SignIn(channel_, "nobody@example.test", "wrong password 0000").status()));

  const std::string exposition = Scrape();

  const std::string method_label = absl::StrCat("method=\"", kSignInMethod, "\"");
  EXPECT_THAT(exposition, HasSubstr("# TYPE accessdelegation_rpc_duration_seconds histogram"));
  EXPECT_EQ(SampleValue(exposition, "accessdelegation_rpc_duration_seconds_count",
                        {method_label}),
            1)
      << exposition;
  EXPECT_EQ(SampleValue(exposition, "accessdelegation_rpc_duration_seconds_bucket",
                        {method_label, "le=\"+Inf\""}),
            1)
      << exposition;
  EXPECT_TRUE(
      SampleValue(exposition, "accessdelegation_rpc_duration_seconds_sum", {method_label})
          .has_value())
      << exposition;
}

TEST_F(MetricsTest, ExposesDatabaseGauges) {
  absl::StatusOr<std::string> owner =
      CreateAccount(channel_, "olivia@example.test", "correct horse battery");
  ASSERT_TRUE(owner.ok()) << owner.status();
  absl::StatusOr<std::string> session =
      SignIn(channel_, "olivia@example.test", "correct horse battery");
  ASSERT_TRUE(session.ok()) << session.status();
  auto stub = v1::AccessDelegation::NewStub(channel_);
  grpc::ClientContext context;
  PrepareContext(context, *session);
  v1::CreateInvitationRequest request;
  request.set_first_name("Dana");
  request.set_last_name("Delegate");
  request.set_email("dana@example.test");
  request.set_access_level(v1::ACCESS_LEVEL_FULL);
  v1::CreateInvitationResponse response;
  const grpc::Status created = stub->CreateInvitation(&context, request, &response);
  ASSERT_TRUE(created.ok()) << created.error_message();

  // The gauges are refreshed by each health check, every 200 ms here.
  std::string exposition;
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  do {
    absl::SleepFor(absl::Milliseconds(250));
    exposition = Scrape();
  } while (absl::Now() < deadline &&
           SampleValue(exposition, "accessdelegation_invitations", {}).value_or(0) < 1);

  EXPECT_EQ(SampleValue(exposition, "accessdelegation_db_pool_connections", {}), 3) << exposition;
  EXPECT_TRUE(SampleValue(exposition, "accessdelegation_db_pool_in_use", {}).has_value());
  EXPECT_TRUE(SampleValue(exposition, "accessdelegation_db_pool_waits", {}).has_value());
  EXPECT_TRUE(SampleValue(exposition, "accessdelegation_outbox_backlog", {}).has_value());
  EXPECT_TRUE(SampleValue(exposition, "accessdelegation_outbox_failing", {}).has_value());
  EXPECT_TRUE(SampleValue(exposition, "accessdelegation_grants_live", {}).has_value());
  EXPECT_GE(SampleValue(exposition, "accessdelegation_invitations", {}).value_or(0), 1)
      << exposition;
  EXPECT_THAT(exposition, HasSubstr("accessdelegation_emails_delivered_total"));
}

TEST_F(MetricsTest, ExposesGrantViewEntries) {
  auto stub = v1::AccessDelegation::NewStub(channel_);

  // Each check of a new pair adds an entry once the view listens for changes, shortly
  // after start. Each health check refreshes the gauge, every 200 ms here.
  std::string exposition;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  do {
    grpc::ClientContext context;
    PrepareContext(context, kServiceToken);
    v1::CheckAccessRequest request;
    request.set_account_id(RandomUuid());
    request.set_owner_account_id(RandomUuid());
    request.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);
    v1::CheckAccessResponse response;
    const grpc::Status checked = stub->CheckAccess(&context, request, &response);
    ASSERT_TRUE(checked.ok()) << checked.error_message();
    absl::SleepFor(absl::Milliseconds(250));
    exposition = Scrape();
  } while (absl::Now() < deadline &&
           SampleValue(exposition, "accessdelegation_grant_view_entries", {}).value_or(0) < 1);

  EXPECT_GE(SampleValue(exposition, "accessdelegation_grant_view_entries", {}).value_or(0), 1)
      << exposition;
  EXPECT_EQ(SampleValue(exposition, "accessdelegation_grant_view_max_entries", {}), 1 << 20)
      << exposition;
}

TEST_F(MetricsTest, UnknownPathIsNotFound) {
  absl::StatusOr<std::string> body = HttpGet(server_->metrics_port(), "/secrets");

  EXPECT_FALSE(body.ok());
  EXPECT_THAT(std::string(body.status().message()), HasSubstr("404"));
}

}  // namespace
}  // namespace accessdelegation::ops
