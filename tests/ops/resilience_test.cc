// Failures under a write load: the database stops and starts, its connections are
// terminated, and the server is killed with SIGKILL. Each test checks that calls fail fast
// with UNAVAILABLE, that the server heals without a restart, that every acknowledged write
// is stored whole, and that every committed email is delivered exactly once.

#include <signal.h>

#include <atomic>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_test_support.h"
#include "tests/support/test_database.h"

namespace accessdelegation::ops {
namespace {

constexpr char kOwnerEmail[] = "olivia.owner@example.test";
constexpr char kOwnerPassword[] = "owner password 0001";
// A call while the database is down must fail this fast, far below its deadline.
constexpr absl::Duration kFailFastWithin = absl::Seconds(1);
constexpr absl::Duration kServingAgainWithin = absl::Seconds(5);
constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr int kWriters = 4;

// Failure is one failed call of a WriteLoad.
struct Failure {
  grpc::StatusCode code;
  std::string message;
  absl::Duration latency;
};

// WriteLoad runs kWriters threads that create invitations from one owner to new emails
// until Stop, and records which calls the server acknowledged and how the others failed.
class WriteLoad {
 public:
  WriteLoad(std::shared_ptr<grpc::Channel> channel, std::string session_token)
      : channel_(std::move(channel)), session_token_(std::move(session_token)) {
    for (int i = 0; i < kWriters; ++i) threads_.emplace_back([this, i] { Run(i); });
  }

  ~WriteLoad() { Stop(); }

  void Stop() {
    stopping_ = true;
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

  // Invitation ids that CreateInvitation returned with OK.
  std::vector<std::string> acknowledged() const {
    absl::MutexLock lock(&mutex_);
    return acknowledged_;
  }

  std::vector<Failure> failures() const {
    absl::MutexLock lock(&mutex_);
    return failures_;
  }

  // The time of the latest acknowledged call, or InfinitePast before the first.
  absl::Time last_success() const {
    absl::MutexLock lock(&mutex_);
    return last_success_;
  }

 private:
  void Run(int writer) {
    auto stub = v1::AccessDelegation::NewStub(channel_);
    for (int n = 0; !stopping_; ++n) {
      grpc::ClientContext context;
      PrepareContext(context, session_token_, kCallDeadline);
      v1::CreateInvitationRequest request;
      request.set_first_name("Ivan");
      request.set_last_name("Invitee");
      request.set_email(absl::StrCat("invitee-", writer, "-", n, "@example.test"));
      request.set_access_level(v1::ACCESS_LEVEL_FULL);
      v1::CreateInvitationResponse response;
      const absl::Time start = absl::Now();
      const grpc::Status status = stub->CreateInvitation(&context, request, &response);
      const absl::Time end = absl::Now();

      absl::MutexLock lock(&mutex_);
      if (status.ok()) {
        acknowledged_.push_back(response.invitation().invitation_id());
        last_success_ = end;
      } else {
        failures_.push_back({status.error_code(), status.error_message(), end - start});
      }
    }
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::string session_token_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;

  mutable absl::Mutex mutex_;
  std::vector<std::string> acknowledged_ ABSL_GUARDED_BY(mutex_);
  std::vector<Failure> failures_ ABSL_GUARDED_BY(mutex_);
  absl::Time last_success_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
};

// Returns the ids of every stored invitation.
std::set<std::string> StoredInvitationIds(pqxx::connection& connection) {
  pqxx::nontransaction txn(connection);
  std::set<std::string> ids;
  for (const pqxx::row& row : txn.exec("SELECT id::text FROM invitations")) {
    ids.insert(row[0].as<std::string>());
  }
  return ids;
}

// Expects that every invitation was written whole: one "invitation.created" audit event
// and one queued email per invitation, and no audit event or email without its invitation.
void ExpectNoHalfWrites(pqxx::connection& connection) {
  pqxx::nontransaction txn(connection);
  EXPECT_EQ(txn.exec1("SELECT count(*) FROM invitations i WHERE (SELECT count(*) FROM "
                      "audit_events a WHERE a.action = 'invitation.created' AND "
                      "a.target_id = i.id::text) <> 1")[0]
                .as<int>(),
            0)
      << "an invitation lacks its audit event or has two";
  EXPECT_EQ(txn.exec1("SELECT count(*) FROM audit_events a WHERE a.action = "
                      "'invitation.created' AND NOT EXISTS (SELECT 1 FROM invitations i WHERE "
                      "i.id::text = a.target_id)")[0]
                .as<int>(),
            0)
      << "an audit event names an invitation that was never stored";
  EXPECT_EQ(txn.exec1("SELECT (SELECT count(*) FROM invitations) - (SELECT count(*) FROM "
                      "outbox WHERE recipient LIKE 'invitee-%')")[0]
                .as<int>(),
            0)
      << "the invitations and their queued emails differ in number";
}

void ExpectAcknowledgedStored(const std::vector<std::string>& acknowledged,
                              const std::set<std::string>& stored) {
  for (const std::string& id : acknowledged) {
    EXPECT_EQ(stored.count(id), 1u) << "acknowledged invitation " << id << " is not stored";
  }
}

// Returns the number of failures that are not UNAVAILABLE within kFailFastWithin, and
// prints each of them.
int CountSlowOrWrongFailures(const std::vector<Failure>& failures) {
  int wrong = 0;
  for (const Failure& failure : failures) {
    if (failure.code == grpc::StatusCode::UNAVAILABLE && failure.latency < kFailFastWithin) {
      continue;
    }
    ++wrong;
    ADD_FAILURE() << "a call failed with code " << failure.code << " after "
                  << absl::FormatDuration(failure.latency) << ": " << failure.message;
  }
  return wrong;
}

class DatabaseOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ServerBinary().ok()) << ServerBinary().status();
    absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
        PostgresCluster::Create(temp_dir_.path() / "pg");
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);

    ServerOptions options;
    options.database_url = cluster_->application_url();
    // The writers create far more invitations than an owner's daily cap allows.
    options.flags = {"--migrate_database_url=" + cluster_->url(),
                     "--health_check_interval=200ms", "--database_pool_size=4",
                     "--invitations_per_owner_per_day=0"};
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options, temp_dir_.path());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = server_->PlaintextChannel();

    ASSERT_TRUE(CreateAccount(channel_, kOwnerEmail, kOwnerPassword).ok());
    absl::StatusOr<std::string> session = SignIn(channel_, kOwnerEmail, kOwnerPassword);
    ASSERT_TRUE(session.ok()) << session.status();
    session_token_ = *session;
  }

  void TearDown() override {
    server_.reset();
    cluster_.reset();
  }

  // Waits until the load acknowledges a call that started after `since`, and returns
  // how long after `since` that was, or nullopt after `timeout`.
  std::optional<absl::Duration> WaitForSuccessAfter(const WriteLoad& load, absl::Time since,
                                                    absl::Duration timeout) {
    while (absl::Now() - since < timeout) {
      if (load.last_success() > since) return load.last_success() - since;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return std::nullopt;
  }

  // Ends every connection of the application role from the database side.
  absl::Status TerminateServerConnections() {
    try {
      pqxx::connection connection(cluster_->url());
      pqxx::nontransaction txn(connection);
      txn.exec_params(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
          std::string(testing::kApplicationLoginRole));
      return absl::OkStatus();
    } catch (const std::exception& error) {
      return absl::InternalError(error.what());
    }
  }

  ScopedTempDir temp_dir_;
  std::unique_ptr<PostgresCluster> cluster_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string session_token_;
};

TEST_F(DatabaseOutageTest, RestartUnderWriteLoadLosesNoWrite) {
  WriteLoad load(channel_, session_token_);
  ASSERT_TRUE(WaitForSuccessAfter(load, absl::Now(), absl::Seconds(5)).has_value());
  absl::SleepFor(absl::Milliseconds(500));

  ASSERT_TRUE(cluster_->Stop().ok());
  absl::SleepFor(absl::Seconds(2));
  const absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> health_down =
      CheckHealth(channel_, "");
  ASSERT_TRUE(cluster_->Start().ok());
  const absl::Time started = absl::Now();
  const std::optional<absl::Duration> serving =
      WaitForSuccessAfter(load, started, kServingAgainWithin);
  absl::SleepFor(absl::Milliseconds(500));
  load.Stop();

  EXPECT_EQ(health_down.value_or(grpc::health::v1::HealthCheckResponse::UNKNOWN),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(serving.has_value()) << "no write succeeded within " << kServingAgainWithin
                                   << " of the database start\n"
                                   << server_->Stderr();
  EXPECT_FALSE(load.failures().empty()) << "no call ran while the database was down";
  EXPECT_EQ(CountSlowOrWrongFailures(load.failures()), 0);
  pqxx::connection connection(cluster_->url());
  ExpectAcknowledgedStored(load.acknowledged(), StoredInvitationIds(connection));
  ExpectNoHalfWrites(connection);
}

TEST_F(DatabaseOutageTest, TerminatedConnectionsHeal) {
  WriteLoad load(channel_, session_token_);
  ASSERT_TRUE(WaitForSuccessAfter(load, absl::Now(), absl::Seconds(5)).has_value());

  // Several rounds, so that some terminations land inside a transaction.
  for (int round = 0; round < 5; ++round) {
    absl::SleepFor(absl::Milliseconds(200));
    ASSERT_TRUE(TerminateServerConnections().ok());
  }
  const absl::Time terminated = absl::Now();
  const std::optional<absl::Duration> healed =
      WaitForSuccessAfter(load, terminated, absl::Seconds(2));
  // Each terminated connection still idle in the pool fails the one call that next takes
  // it, which may come after the first success, most of all on a slow machine. A second
  // of load uses every pooled connection; from then on no call may fail.
  absl::SleepFor(absl::Seconds(1));
  const size_t failures_before = load.failures().size();
  absl::SleepFor(absl::Seconds(1));
  load.Stop();

  ASSERT_TRUE(healed.has_value()) << "no write succeeded after the terminations\n"
                                  << server_->Stderr();
  EXPECT_EQ(load.failures().size(), failures_before)
      << "calls still failed two seconds after the first success that followed the "
         "terminations";
  EXPECT_EQ(CountSlowOrWrongFailures(load.failures()), 0) << server_->Stderr();
  pqxx::connection connection(cluster_->url());
  ExpectAcknowledgedStored(load.acknowledged(), StoredInvitationIds(connection));
  ExpectNoHalfWrites(connection);
}

class ServerCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ServerBinary().ok()) << ServerBinary().status();
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::string> application_url = database_->ApplicationUrl();
    ASSERT_TRUE(application_url.ok()) << application_url.status();

    options_.database_url = *application_url;
    // The writers create far more invitations than an owner's daily cap allows.
    options_.flags = {"--migrate_database_url=" + database_->url(), "--database_pool_size=4",
                      "--invitations_per_owner_per_day=0"};
    StartServer();
  }

  void StartServer() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options_, temp_dir_.path());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = server_->PlaintextChannel();
  }

  // Waits until the outbox has no undelivered email. False after `timeout`.
  bool WaitForEmptyOutbox(pqxx::connection& connection, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      pqxx::nontransaction txn(connection);
      if (txn.exec1("SELECT count(*) FROM outbox WHERE delivered_time IS NULL")[0].as<int>() ==
          0) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  ScopedTempDir temp_dir_;
  std::unique_ptr<testing::TestDatabase> database_;
  ServerOptions options_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServerCrashTest, SigkillKeepsWritesAndMailsOnce) {
  ASSERT_TRUE(CreateAccount(channel_, kOwnerEmail, kOwnerPassword).ok());
  absl::StatusOr<std::string> session = SignIn(channel_, kOwnerEmail, kOwnerPassword);
  ASSERT_TRUE(session.ok()) << session.status();
  std::vector<std::string> acknowledged;
  {
    WriteLoad load(channel_, *session);
    absl::SleepFor(absl::Milliseconds(1500));
    server_->process().Signal(SIGKILL);
    ASSERT_TRUE(server_->process().Wait(absl::Seconds(5)).has_value());
    load.Stop();
    acknowledged = load.acknowledged();
  }
  ASSERT_FALSE(acknowledged.empty());

  StartServer();
  pqxx::connection connection(database_->url());
  // Emails that the killed server had claimed wait for the claim lease (one minute) to run
  // out, so the test ends the leases now instead of waiting.
  {
    pqxx::nontransaction txn(connection);
    txn.exec("UPDATE outbox SET deliver_after = now() WHERE delivered_time IS NULL");
  }
  ASSERT_TRUE(WaitForEmptyOutbox(connection, absl::Seconds(20))) << server_->Stderr();

  ExpectAcknowledgedStored(acknowledged, StoredInvitationIds(connection));
  ExpectNoHalfWrites(connection);
  // Each queued email is in the mail directory once, under its message id, and no file
  // contains an email that was never queued.
  std::set<std::string> queued;
  {
    pqxx::nontransaction txn(connection);
    for (const pqxx::row& row : txn.exec("SELECT message_id::text FROM outbox")) {
      queued.insert(row[0].as<std::string>());
    }
  }
  std::set<std::string> delivered;
  for (const auto& entry : std::filesystem::directory_iterator(server_->mail_dir())) {
    const std::string name = entry.path().filename().string();
    if (!absl::EndsWith(name, ".eml")) continue;
    delivered.insert(name.substr(0, name.size() - 4));
  }
  EXPECT_EQ(delivered, queued);
  // Each invitee received one email: a redelivery after the kill replaced its file rather
  // than adding a second one.
  std::map<std::string, int> per_recipient;
  for (const std::string& id : delivered) {
    const std::string text = ReadFile(server_->mail_dir() / (id + ".eml"));
    const size_t to = text.find("\nTo: ");
    ASSERT_NE(to, std::string::npos) << id;
    ++per_recipient[text.substr(to + 5, text.find('\n', to + 5) - (to + 5))];
  }
  for (const auto& [recipient, count] : per_recipient) {
    EXPECT_EQ(count, 1) << recipient << " received " << count << " emails";
  }
}

}  // namespace
}  // namespace accessdelegation::ops
