// SIGTERM stops the server binary cleanly while clients keep calling it, and ends a
// start-up that blocks on the database.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "accessdelegation/v1/access_history.grpc.pb.h"
#include "tests/ops/ops_test_support.h"
#include "tests/support/test_database.h"

namespace accessdelegation::ops {
namespace {

constexpr int kClientThreads = 4;
constexpr absl::Duration kShutdownGrace = absl::Seconds(5);
constexpr absl::Duration kTrafficBeforeSignal = absl::Milliseconds(800);
// How long the clients keep calling after the signal.
constexpr absl::Duration kTrafficAfterSignal = absl::Seconds(2);

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ServerBinary().ok()) << ServerBinary().status();
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    ServerOptions options;
    options.database_url = database_->url();
    // The load sends unknown invitation tokens, which the per-address limit would stop.
    options.flags = {"--shutdown_grace=5s", "--peer_token_failure_limit=0"};
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options, temp_dir_.path());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // Makes one call, CheckAccess or LookupInvitation by turn, and returns its status.
  grpc::Status CallOnce(v1::AccessDelegation::Stub& stub, int turn) {
    grpc::ClientContext context;
    PrepareContext(context, kServiceToken, absl::Seconds(5));
    if (turn % 2 == 0) {
      v1::CheckAccessRequest request;
      request.set_account_id(RandomUuid());
      request.set_owner_account_id(RandomUuid());
      request.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);
      v1::CheckAccessResponse response;
      return stub.CheckAccess(&context, request, &response);
    }
    v1::LookupInvitationRequest request;
    // Well-formed (43 base64url characters) but issued by no server.
    request.set_invitation_token(std::string(43, 'A'));
    v1::LookupInvitationResponse response;
    return stub.LookupInvitation(&context, request, &response);
  }

  std::unique_ptr<testing::TestDatabase> database_;
  ScopedTempDir temp_dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ShutdownTest, SigtermDrainsCallsAndExitsZero) {
  std::atomic<bool> stop{false};
  absl::Mutex mutex;
  // Call results by code, and the messages of unexpected codes.
  std::map<grpc::StatusCode, int> codes;
  std::vector<std::string> unexpected;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClientThreads; ++i) {
    clients.emplace_back([&, i] {
      // Each thread has its own channel, so that the threads do not share a connection.
      grpc::ChannelArguments arguments;
      arguments.SetInt("thread_id", i);
      auto stub = v1::AccessDelegation::NewStub(grpc::CreateCustomChannel(
          server_->target(), grpc::InsecureChannelCredentials(), arguments));
      for (int turn = i; !stop.load(); ++turn) {
        const grpc::Status status = CallOnce(*stub, turn);
        absl::MutexLock lock(&mutex);
        ++codes[status.error_code()];
        const grpc::StatusCode code = status.error_code();
        // gRPC cancels calls that reached the server but had not yet been handed to a
        // handler when shutdown began. They did no work, so a client may retry them.
        // NOTE: a client cannot tell these from calls cut off at the end of the grace
        // period, which also read CANCELLED; none are expected within the grace here.
        if (code != grpc::StatusCode::OK && code != grpc::StatusCode::NOT_FOUND &&
            code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::CANCELLED) {
          unexpected.push_back(std::to_string(code) + ": " + status.error_message());
        }
        if (code == grpc::StatusCode::UNAVAILABLE) absl::SleepFor(absl::Milliseconds(20));
      }
    });
  }

  absl::SleepFor(kTrafficBeforeSignal);
  int ok_before_signal = 0;
  {
    absl::MutexLock lock(&mutex);
    ok_before_signal = codes[grpc::StatusCode::OK] + codes[grpc::StatusCode::NOT_FOUND];
  }
  const absl::Time signalled = absl::Now();
  server_->process().Signal(SIGTERM);
  const std::optional<int> exit_code = server_->process().Wait(kShutdownGrace + absl::Seconds(1));
  const absl::Duration stop_time = absl::Now() - signalled;
  absl::SleepFor(std::max(absl::ZeroDuration(), kTrafficAfterSignal - stop_time));
  stop.store(true);
  for (std::thread& client : clients) client.join();

  EXPECT_GT(ok_before_signal, 10) << "too little traffic before the signal to test anything";
  ASSERT_TRUE(exit_code.has_value()) << "still running " << kShutdownGrace << " after SIGTERM\n"
                                     << server_->Stderr();
  EXPECT_EQ(*exit_code, 0) << server_->Stderr();
  EXPECT_LT(stop_time, kShutdownGrace);
  EXPECT_THAT(unexpected, ::testing::IsEmpty());
  EXPECT_GT(codes[grpc::StatusCode::UNAVAILABLE], 0) << "no call ran after the server stopped";
  EXPECT_FALSE(server_->StderrLinesContaining("received SIGTERM").empty()) << server_->Stderr();
  EXPECT_FALSE(server_->StderrLinesContaining("stopped").empty()) << server_->Stderr();
  EXPECT_TRUE(server_->StderrLinesContaining("\"level\":\"error\"").empty()) << server_->Stderr();
}

TEST_F(ShutdownTest, SigtermEndsWatchStreamsAtOnce) {
  auto stub = v1::AccessHistory::NewStub(server_->PlaintextChannel());
  grpc::ClientContext context;
  PrepareContext(context, kServiceToken, absl::Seconds(30));
  v1::WatchAccessChangesRequest request;
  std::unique_ptr<grpc::ClientReader<v1::WatchAccessChangesResponse>> reader =
      stub->WatchAccessChanges(&context, request);
  reader->WaitForInitialMetadata();

  const absl::Time signalled = absl::Now();
  server_->process().Signal(SIGTERM);
  v1::WatchAccessChangesResponse change;
  while (reader->Read(&change)) {
  }
  const grpc::Status status = reader->Finish();
  const absl::Duration stream_time = absl::Now() - signalled;
  const std::optional<int> exit_code = server_->process().Wait(kShutdownGrace + absl::Seconds(1));

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("after_cursor"));
  // The stream ends long before the grace period that it used to hold the shutdown for.
  EXPECT_LT(stream_time, kShutdownGrace / 2);
  ASSERT_TRUE(exit_code.has_value()) << server_->Stderr();
  EXPECT_EQ(*exit_code, 0) << server_->Stderr();
  // The stream's end is expected, so the access log does not call it a failure.
  EXPECT_EQ(server_->StderrLinesContaining("\"ended_by\":\"shutdown\"").size(), 1u)
      << server_->Stderr();
  EXPECT_TRUE(server_->StderrLinesContaining("\"level\":\"error\"").empty()) << server_->Stderr();
}

// A database that accepts TCP connections and never replies, as a hung PostgreSQL host
// does, makes start-up block; SIGTERM must still end the process.
TEST(StartupTest, SigtermWhileDatabaseHangsExits) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int database_port = ntohs(address.sin_port);
  ScopedTempDir temp_dir;
  absl::StatusOr<std::string> binary = ServerBinary();
  ASSERT_TRUE(binary.ok()) << binary.status();
  std::unique_ptr<Subprocess> server = Subprocess::Start(
      {*binary, "--listen_address=127.0.0.1:0", "--metrics_address=",
       absl::StrCat("--database_url=postgresql://postgres@127.0.0.1:", database_port, "/hung"),
       "--mail_dir=" + (temp_dir.path() / "mail").string(),
       "--secret_key_file=" + (temp_dir.path() / "secret.key").string()},
      {}, temp_dir.path() / "server.stdout", temp_dir.path() / "server.stderr");
  ASSERT_NE(server, nullptr);
  ASSERT_FALSE(server->Wait(absl::Seconds(1)).has_value())
      << "start-up did not block\n" << ReadFile(temp_dir.path() / "server.stderr");

  server->Signal(SIGTERM);
  const std::optional<int> exit_code = server->Wait(absl::Seconds(3));
  close(listener);

  ASSERT_TRUE(exit_code.has_value()) << "still running 3s after SIGTERM";
  EXPECT_EQ(*exit_code, EXIT_FAILURE);
  EXPECT_THAT(ReadFile(temp_dir.path() / "server.stderr"),
              ::testing::HasSubstr("during start-up"));
}

}  // namespace
}  // namespace accessdelegation::ops
