// End-to-end test of standby reads: a server whose checks and grant lists read from a
// streaming-replication standby returns the primary's result for a call that carries a
// revoke's consistency token, even while the standby lags.
//
// The test copies the test cluster (named by ACCESSDELEGATION_TEST_DATABASE_URL) into a
// standby on a free loopback port with tools/dev/pg.sh standby, which runs pg_basebackup.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "storage/change_listener.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

constexpr char kPgBasebackup[] = "/usr/lib/postgresql/15/bin/pg_basebackup";

// Returns a TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

// Returns the port of a postgresql:// URL or of a key=value connection string; 5432 when
// it names none.
int PortOf(const std::string& url) {
  int port = 5432;
  if (absl::StartsWith(url, "postgres")) {
    const std::vector<std::string> parts = absl::StrSplit(url, absl::ByAnyChar(":/@?"));
    // postgresql: "" "" user host port database...
    for (size_t i = 1; i + 1 < parts.size(); ++i) {
      int value = 0;
      if (parts[i] == "127.0.0.1" && absl::SimpleAtoi(parts[i + 1], &value)) port = value;
    }
    return port;
  }
  for (absl::string_view pair : absl::StrSplit(url, ' ', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&pair, "port=")) absl::SimpleAtoi(pair, &port);
  }
  return port;
}

class StandbyTest : public E2eTest {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kPgBasebackup)) {
      GTEST_SKIP() << kPgBasebackup << " is missing, so no standby can be made; install "
                   << "postgresql-15 (tools/dev/install-deps.sh)";
    }
    E2eTest::SetUp();
    if (HasFatalFailure()) return;

    standby_dir_ = temp_dir() / "standby";
    standby_port_ = FreeLoopbackPort();
    ASSERT_NE(standby_port_, 0);
    const int primary_port = PortOf(GetEnv("ACCESSDELEGATION_TEST_DATABASE_URL"));
    const std::string command =
        absl::StrCat(ACCESSDELEGATION_SOURCE_DIR, "/tools/dev/pg.sh standby ",
                     standby_dir_.string(), " ", standby_port_, " ", primary_port,
                     " --fsync-off >", (temp_dir() / "standby.log").string(), " 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0)
        << "starting the standby failed; see " << (temp_dir() / "standby.log");
    standby_started_ = true;

    const std::string database_name = pqxx::connection(database_url()).dbname();
    standby_url_ =
        absl::StrCat("postgresql://postgres@127.0.0.1:", standby_port_, "/", database_name);
  }

  void TearDown() override {
    reading_service_.reset();
    if (reading_server_ != nullptr) {
      reading_server_->Shutdown(absl::Seconds(1));
      reading_server_->Wait();
      reading_server_.reset();
    }
    if (standby_started_) {
      const std::string command =
          absl::StrCat(ACCESSDELEGATION_SOURCE_DIR, "/tools/dev/pg.sh remove ",
                       standby_dir_.string(), " >/dev/null 2>&1");
      EXPECT_EQ(std::system(command.c_str()), 0) << "removing the standby failed";
    }
    E2eTest::TearDown();
  }

  // Returns a client of the reading server that sends `bearer_token`.
  std::unique_ptr<sdk::Client> ConnectToReadingServer(const std::string& bearer_token) {
    sdk::ClientOptions options;
    options.default_deadline = absl::Seconds(20);
    options.bearer_token = bearer_token;
    return sdk::Client::Connect(absl::StrCat("127.0.0.1:", reading_server_->port()), options);
  }

  // Runs `sql` on the primary's test database with triggers off, so that the change
  // sends no notification and servers do not learn of it.
  void RunOnPrimaryWithoutNotifying(const std::string& sql) {
    pqxx::connection connection(database_url());
    pqxx::nontransaction transaction(connection);
    transaction.exec("SET session_replication_role = replica");
    transaction.exec(sql);
  }

  // Starts a server that reads from the standby and returns a service client of it; null
  // if it did not start.
  sdk::Client* StartReadingServer() {
    server::Config config;
    config.listen_address = "127.0.0.1:0";
    config.database_url = database_url();
    config.read_database_url = standby_url_;
    config.database_pool_size = 4;
    config.mail_dir = (temp_dir() / "reading-mail").string();
    config.portal_base_url = kPortalBaseUrl;
    config.service_token_file = service_token_file().string();
    config.secret_key_file = secret_key_file().string();
    absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(config);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    reading_server_ = std::move(server).value();
    sdk::ClientOptions options;
    options.default_deadline = absl::Seconds(20);
    options.bearer_token = kServiceToken;
    reading_service_ =
        sdk::Client::Connect(absl::StrCat("127.0.0.1:", reading_server_->port()), options);
    return reading_service_.get();
  }

  // Waits until the reading server may read the standby: both servers' change listeners
  // have read the primary's position, which the reading server's standby must replay
  // first, and the standby has replayed the primary's current position. Returns
  // DEADLINE_EXCEEDED, naming the step that did not finish, after 30 seconds.
  absl::Status AwaitStandbyReadable() {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    pqxx::connection primary(database_url());
    int fenced_listeners = 0;
    while (fenced_listeners < 2) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            fenced_listeners, " of 2 change listeners read the primary's position"));
      }
      absl::SleepFor(absl::Milliseconds(20));
      pqxx::nontransaction transaction(primary);
      fenced_listeners =
          transaction
              .exec1(absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE application_name = '",
                                  storage::kListenerApplicationName,
                                  "' AND datname = current_database() "
                                  "AND query LIKE '%pg_current_wal_insert_lsn%'"))[0]
              .as<int>();
    }
    const std::string primary_position =
        pqxx::nontransaction(primary).exec1("SELECT pg_current_wal_lsn()")[0].as<std::string>();
    std::string replayed;
    while (absl::Now() < deadline) {
      replayed = QueryStandby("SELECT pg_last_wal_replay_lsn()");
      if (QueryStandby(absl::StrCat("SELECT pg_last_wal_replay_lsn() >= '", primary_position,
                                    "'::pg_lsn")) == "t") {
        return absl::OkStatus();
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::DeadlineExceededError(absl::StrCat("the standby replayed up to ", replayed,
                                                    ", not to the primary's ", primary_position));
  }

  // Runs `sql` on the standby's copy of the test database and returns the first column
  // of its first row.
  std::string QueryStandby(const std::string& sql) {
    pqxx::connection connection(standby_url_);
    pqxx::nontransaction transaction(connection);
    const pqxx::result result = transaction.exec(sql);
    return result.empty() || result[0][0].is_null() ? "" : result[0][0].as<std::string>();
  }

  std::filesystem::path standby_dir_;
  int standby_port_ = 0;
  bool standby_started_ = false;
  std::string standby_url_;
  std::unique_ptr<server::Server> reading_server_;
  std::unique_ptr<sdk::Client> reading_service_;
};

TEST_F(StandbyTest, TokenCheckThroughStandbySeesRevoke) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  sdk::Client* reading = StartReadingServer();
  ASSERT_NE(reading, nullptr);
  v1::CheckAccessRequest check;
  check.set_account_id(delegate.account.account_id());
  check.set_owner_account_id(owner.account.account_id());
  check.set_permission(v1::PERMISSION_VIEW_BILLING);
  absl::StatusOr<v1::CheckAccessResponse> before = reading->CheckAccess(check);
  const std::string standby_sessions = QueryStandby(
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
      "AND pid <> pg_backend_pid()");

  // The standby stops replaying, so it cannot see the revoke: the check must not read it.
  QueryStandby("SELECT pg_wal_replay_pause()");
  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  ASSERT_OK_AND_ASSIGN(v1::RevokeGrantResponse revoked, owner.client->RevokeGrant(revoke));
  check.set_consistency_token(revoked.consistency_token());
  absl::StatusOr<v1::CheckAccessResponse> while_paused = reading->CheckAccess(check);

  // Once replay resumes, the standby passes the token and may serve the check.
  QueryStandby("SELECT pg_wal_replay_resume()");
  absl::StatusOr<v1::CheckAccessResponse> after = reading->CheckAccess(check);

  ASSERT_OK(before);
  EXPECT_TRUE(before->allowed());
  EXPECT_NE(standby_sessions, "0") << "the reading server opened no connection to the standby";
  ASSERT_OK(while_paused);
  EXPECT_FALSE(while_paused->allowed());
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
}

TEST_F(StandbyTest, GrantListsThroughStandbySeeRevokeWithToken) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  sdk::Client* reading = StartReadingServer();
  ASSERT_NE(reading, nullptr);
  std::unique_ptr<sdk::Client> reading_delegate =
      ConnectToReadingServer(delegate.session_token);
  v1::ListGrantsRequest owner_list;
  owner_list.set_owner_account_id(owner.account.account_id());
  v1::ListDelegatedAccessRequest delegate_list;

  // The standby stops replaying, and the grant's level changes on the primary without a
  // notification. Lists that read the standby therefore still show FULL. The pause is
  // longer than the change listener's fence interval (200 ms): the primary's position
  // moves on, but with no change reported the server must keep reading the standby.
  ASSERT_OK(AwaitStandbyReadable());
  QueryStandby("SELECT pg_wal_replay_pause()");
  RunOnPrimaryWithoutNotifying(
      "UPDATE grants SET access_level = 'APPOINTMENTS_ONLY' WHERE id = '" + grant.grant_id() +
      "'");
  absl::SleepFor(absl::Milliseconds(600));
  absl::StatusOr<v1::ListGrantsResponse> owner_from_standby = reading->ListGrants(owner_list);
  absl::StatusOr<v1::ListDelegatedAccessResponse> delegate_from_standby =
      reading_delegate->ListDelegatedAccess(delegate_list);

  // A revoke's token makes both lists wait for the paused standby and then read the
  // primary.
  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  ASSERT_OK_AND_ASSIGN(v1::RevokeGrantResponse revoked, owner.client->RevokeGrant(revoke));
  owner_list.set_consistency_token(revoked.consistency_token());
  delegate_list.set_consistency_token(revoked.consistency_token());
  absl::StatusOr<v1::ListGrantsResponse> owner_while_paused = reading->ListGrants(owner_list);
  absl::StatusOr<v1::ListDelegatedAccessResponse> delegate_while_paused =
      reading_delegate->ListDelegatedAccess(delegate_list);
  QueryStandby("SELECT pg_wal_replay_resume()");
  absl::StatusOr<v1::ListGrantsResponse> owner_after = reading->ListGrants(owner_list);

  ASSERT_OK(owner_from_standby);
  ASSERT_EQ(owner_from_standby->grants_size(), 1);
  EXPECT_EQ(owner_from_standby->grants(0).grant_id(), grant.grant_id());
  EXPECT_EQ(owner_from_standby->grants(0).access_level(), v1::ACCESS_LEVEL_FULL)
      << "ListGrants did not read the standby";
  ASSERT_OK(delegate_from_standby);
  ASSERT_EQ(delegate_from_standby->grants_size(), 1);
  EXPECT_EQ(delegate_from_standby->grants(0).access_level(), v1::ACCESS_LEVEL_FULL)
      << "ListDelegatedAccess did not read the standby";
  ASSERT_OK(owner_while_paused);
  EXPECT_EQ(owner_while_paused->grants_size(), 0);
  ASSERT_OK(delegate_while_paused);
  EXPECT_EQ(delegate_while_paused->grants_size(), 0);
  ASSERT_OK(owner_after);
  EXPECT_EQ(owner_after->grants_size(), 0);
}

TEST_F(StandbyTest, MalformedListTokenIsInvalid) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  sdk::Client* reading = StartReadingServer();
  ASSERT_NE(reading, nullptr);
  v1::ListGrantsRequest request;
  request.set_owner_account_id(owner.account.account_id());
  request.set_consistency_token("wal.not-a-position");

  const absl::Status status = reading->ListGrants(request).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "consistency_token")) << status;
}

}  // namespace
}  // namespace accessdelegation::e2e
