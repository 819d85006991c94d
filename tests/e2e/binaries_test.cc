// The shipped binaries end to end: the walkthrough binary against the server binary, and
// buf curl against the server's reflection service.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

extern char** environ;

namespace accessdelegation::e2e {
namespace {

using ::testing::HasSubstr;

constexpr char kServerBinVariable[] = "ACCESSDELEGATION_SERVER_BIN";
constexpr char kWalkthroughBinVariable[] = "ACCESSDELEGATION_WALKTHROUGH_BIN";
constexpr char kBufBinVariable[] = "ACCESSDELEGATION_BUF_BIN";

constexpr absl::Duration kServerStartTimeout = absl::Seconds(30);
constexpr absl::Duration kWalkthroughTimeout = absl::Seconds(90);
constexpr absl::Duration kBufTimeout = absl::Seconds(30);
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

std::string ReadTextFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

bool WriteTextFile(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << contents;
  file.close();
  return static_cast<bool>(file);
}

// Returns a TCP port on 127.0.0.1 that was free a moment ago, or 0 on failure.
int PickFreePort() {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(socket_fd);
  return port;
}

// Returns whether a TCP connection to 127.0.0.1:`port` succeeds.
bool AcceptsConnections(int port) {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool connected =
      connect(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(socket_fd);
  return connected;
}

// Subprocess is a child process whose stdout and stderr go to files. The destructor
// stops a child that is still running (SIGTERM, then SIGKILL after five seconds) and
// reaps it.
class Subprocess {
 public:
  // Starts `argv[0]` with `argv` and the current environment plus `extra_environment`
  // ("NAME=value" entries). Returns null when the process cannot be spawned.
  static std::unique_ptr<Subprocess> Start(const std::vector<std::string>& argv,
                                           const std::vector<std::string>& extra_environment,
                                           const std::filesystem::path& stdout_path,
                                           const std::filesystem::path& stderr_path) {
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    std::vector<char*> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) environment.push_back(*entry);
    for (const std::string& entry : extra_environment) {
      environment.push_back(const_cast<char*>(entry.c_str()));
    }
    environment.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    const int error =
        posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environment.data());
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) return nullptr;
    return absl::WrapUnique(new Subprocess(pid));
  }

  ~Subprocess() {
    if (exit_status_.has_value()) return;
    kill(pid_, SIGTERM);
    if (Wait(absl::Seconds(5)).has_value()) return;
    kill(pid_, SIGKILL);
    Wait(absl::InfiniteDuration());
  }

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Waits up to `timeout` for the child to exit. Returns its exit code (128 + the signal
  // number when a signal ended it), or nullopt while it still runs.
  std::optional<int> Wait(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!exit_status_.has_value()) {
      int status = 0;
      const pid_t result = waitpid(pid_, &status, WNOHANG);
      if (result == pid_) {
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (absl::Now() >= deadline) break;
      absl::SleepFor(kPollInterval);
    }
    return exit_status_;
  }

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}

  pid_t pid_;
  std::optional<int> exit_status_;
};

// RunResult is how a finished program ended and what it printed.
struct RunResult {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs `argv` to completion within `timeout` with its output in files under `directory`.
absl::StatusOr<RunResult> RunProgram(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& extra_environment,
                                     const std::filesystem::path& directory,
                                     const std::string& label, absl::Duration timeout) {
  const std::filesystem::path stdout_path = directory / (label + ".stdout");
  const std::filesystem::path stderr_path = directory / (label + ".stderr");
  std::unique_ptr<Subprocess> process =
      Subprocess::Start(argv, extra_environment, stdout_path, stderr_path);
  if (process == nullptr) {
    return absl::InternalError(absl::StrCat("failed to start ", argv[0]));
  }

  std::optional<int> exit_code = process->Wait(timeout);
  if (!exit_code.has_value()) {
    process.reset();
    return absl::DeadlineExceededError(absl::StrCat(
        absl::StrJoin(argv, " "), " did not finish within ", absl::FormatDuration(timeout),
        "\nstdout:\n", ReadTextFile(stdout_path), "\nstderr:\n", ReadTextFile(stderr_path)));
  }
  return RunResult{*exit_code, ReadTextFile(stdout_path), ReadTextFile(stderr_path)};
}

TEST(WalkthroughBinaryTest, CompletesAgainstServerBinary) {
  const std::string server_bin = GetEnv(kServerBinVariable);
  const std::string walkthrough_bin = GetEnv(kWalkthroughBinVariable);
  ASSERT_FALSE(server_bin.empty())
      << kServerBinVariable << " is unset: set it to the path of the accessdelegation-server "
      << "binary (tools/dev/test.sh sets it)";
  ASSERT_FALSE(walkthrough_bin.empty())
      << kWalkthroughBinVariable << " is unset: set it to the path of the walkthrough binary "
      << "(tools/dev/test.sh sets it)";
  absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database = testing::TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << "creating the test database failed: " << database.status();
  ScopedTempDir temp_dir;
  const std::filesystem::path mail_dir = temp_dir.path() / "mail";
  std::filesystem::create_directories(mail_dir);
  const std::filesystem::path token_hash_file = temp_dir.path() / "service_tokens";
  const std::filesystem::path raw_token_file = temp_dir.path() / "service_token";
  ASSERT_TRUE(
      WriteTextFile(token_hash_file, absl::StrCat("walkthrough ", Sha256Hex(kServiceToken), "\n")));
  ASSERT_TRUE(WriteTextFile(raw_token_file, kServiceToken));
  const int port = PickFreePort();
  ASSERT_NE(port, 0) << "no free port on 127.0.0.1";
  const std::string address = absl::StrCat("127.0.0.1:", port);

  std::unique_ptr<Subprocess> server = Subprocess::Start(
      {server_bin, "--listen_address=" + address, "--database_url=" + (*database)->url(),
       "--mail_dir=" + mail_dir.string(), "--service_token_file=" + token_hash_file.string(),
       "--secret_key_file=" + (temp_dir.path() / "secret.key").string(),
       "--portal_base_url=" + std::string(kPortalBaseUrl),
       // No metrics endpoint: its default port may be taken by another test or server.
       "--metrics_address="},
      {}, temp_dir.path() / "server.stdout", temp_dir.path() / "server.stderr");
  ASSERT_NE(server, nullptr) << "failed to start " << server_bin;
  const absl::Time deadline = absl::Now() + kServerStartTimeout;
  while (!AcceptsConnections(port) && absl::Now() < deadline &&
         !server->Wait(absl::ZeroDuration()).has_value()) {
    absl::SleepFor(kPollInterval);
  }
  ASSERT_TRUE(AcceptsConnections(port))
      << "the server did not accept connections on " << address << " within "
      << absl::FormatDuration(kServerStartTimeout) << "\nserver stderr:\n"
      << ReadTextFile(temp_dir.path() / "server.stderr");

  absl::StatusOr<RunResult> walkthrough =
      RunProgram({walkthrough_bin, "--target=" + address, "--mail_dir=" + mail_dir.string(),
                  "--service_token_file=" + raw_token_file.string()},
                 {}, temp_dir.path(), "walkthrough", kWalkthroughTimeout);

  ASSERT_OK(walkthrough);
  EXPECT_EQ(walkthrough->exit_code, 0) << "walkthrough stdout:\n"
                                       << walkthrough->stdout_text << "\nwalkthrough stderr:\n"
                                       << walkthrough->stderr_text << "\nserver stderr:\n"
                                       << ReadTextFile(temp_dir.path() / "server.stderr");
  server.reset();
}

// BufCurlTest runs buf curl against the in-process server. It is skipped unless
// ACCESSDELEGATION_BUF_BIN names the buf binary.
class BufCurlTest : public E2eTest {
 protected:
  void SetUp() override {
    buf_bin_ = GetEnv(kBufBinVariable);
    if (buf_bin_.empty()) {
      GTEST_SKIP() << kBufBinVariable << " is unset";
    }
    E2eTest::SetUp();
  }

  // Runs `buf curl` over gRPC on plaintext HTTP/2 with `arguments` before `url`.
  absl::StatusOr<RunResult> BufCurl(const std::vector<std::string>& arguments,
                                    const std::string& url) {
    std::vector<std::string> argv = {buf_bin_, "curl", "--protocol", "grpc",
                                     "--http2-prior-knowledge"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    argv.push_back(url);
    const std::string cache_dir = (temp_dir() / "buf-cache").string();
    return RunProgram(argv, {"BUF_CACHE_DIR=" + cache_dir}, temp_dir(), "buf", kBufTimeout);
  }

  std::string buf_bin_;
};

TEST_F(BufCurlTest, ListsMethodsThroughReflection) {
  absl::StatusOr<RunResult> result = BufCurl({"--list-methods"}, absl::StrCat("http://", target()));

  ASSERT_OK(result);
  EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
  EXPECT_THAT(result->stdout_text, HasSubstr("accessdelegation.v1.Accounts/SignIn"));
  EXPECT_THAT(result->stdout_text, HasSubstr("accessdelegation.v1.AccessDelegation/CheckAccess"));
  EXPECT_THAT(result->stdout_text, HasSubstr("grpc.health.v1.Health/Check"));
}

TEST_F(BufCurlTest, SignInWithWrongPasswordIsUnauthenticated) {
  ASSERT_OK(CreateAccount(Owner()));
  const std::string request =
      absl::StrCat(R"({"email": ")", Owner().email, R"(", "password": "wrong-password-0000"})");

  absl::StatusOr<RunResult> result =
      BufCurl({"--data", request},
              absl::StrCat("http://", target(), "/accessdelegation.v1.Accounts/SignIn"));

  ASSERT_OK(result);
  // buf curl exits with the gRPC code shifted left by three bits when the RPC fails.
  EXPECT_EQ(result->exit_code, static_cast<int>(absl::StatusCode::kUnauthenticated) << 3)
      << result->stderr_text;
  EXPECT_THAT(result->stderr_text, HasSubstr("unauthenticated"));
}

}  // namespace
}  // namespace accessdelegation::e2e
