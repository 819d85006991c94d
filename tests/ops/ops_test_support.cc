#include "tests/ops/ops_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>

#include "absl/memory/memory.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

extern char** environ;

namespace accessdelegation::ops {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
constexpr absl::Duration kServerStartTimeout = absl::Seconds(30);
constexpr absl::Duration kPgScriptTimeout = absl::Seconds(90);
// Ports from this range are reserved for the clusters of these tests.
constexpr int kFirstClusterPort = 54400;
constexpr int kLastClusterPort = 54420;
// Attempts at starting a process whose freshly picked port another process took first.
constexpr int kPortAttempts = 3;

sockaddr_in LoopbackAddress(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// Returns the name of an environment entry "NAME=value".
absl::string_view VariableName(absl::string_view entry) {
  return entry.substr(0, entry.find('='));
}

bool IsPortFree(int port) {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) return false;
  sockaddr_in address = LoopbackAddress(port);
  const bool free = bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(socket_fd);
  return free;
}

}  // namespace

std::string GetEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

absl::StatusOr<std::string> ServerBinary() {
  std::string binary = GetEnv(kServerBinVariable);
  if (binary.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        kServerBinVariable,
        " is unset; set it to the path of the accessdelegation-server binary "
        "(tools/dev/test.sh sets it)"));
  }
  if (access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kServerBinVariable, "=", binary, " is not an executable file"));
  }
  return binary;
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string hex;
  for (unsigned char byte : digest) absl::StrAppendFormat(&hex, "%02x", byte);
  return hex;
}

std::string RandomUuid() {
  static absl::BitGen* generator = new absl::BitGen();
  static absl::Mutex* mutex = new absl::Mutex();
  absl::MutexLock lock(mutex);
  unsigned char bytes[16];
  for (unsigned char& byte : bytes) byte = absl::Uniform<unsigned char>(*generator);
  bytes[6] = (bytes[6] & 0x0F) | 0x40;
  bytes[8] = (bytes[8] & 0x3F) | 0x80;
  std::string uuid;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) uuid += '-';
    absl::StrAppendFormat(&uuid, "%02x", bytes[i]);
  }
  return uuid;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

bool WriteFile(const std::filesystem::path& path, absl::string_view contents) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  file.close();
  return static_cast<bool>(file);
}

int PickFreePort() {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) return 0;
  sockaddr_in address = LoopbackAddress(0);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(socket_fd);
  return port;
}

bool AcceptsConnections(int port) {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) return false;
  sockaddr_in address = LoopbackAddress(port);
  const bool connected =
      connect(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(socket_fd);
  return connected;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) return absl::InternalError("socket() failed");
  timeval timeout{};
  timeout.tv_sec = 5;
  setsockopt(socket_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address = LoopbackAddress(port);
  if (connect(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(socket_fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to 127.0.0.1:", port));
  }

  const std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1:", port,
                                           "\r\nConnection: close\r\n\r\n");
  send(socket_fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[8192];
  ssize_t received = 0;
  while ((received = recv(socket_fd, buffer, sizeof(buffer), 0)) > 0) {
    response.append(buffer, static_cast<size_t>(received));
  }
  close(socket_fd);

  const size_t header_end = response.find("\r\n\r\n");
  const std::string status_line = response.substr(0, response.find("\r\n"));
  if (header_end == std::string::npos || !absl::StrContains(status_line, " 200 ")) {
    return absl::InternalError(absl::StrCat("GET ", path, " returned \"", status_line, "\""));
  }
  // NOTE: The body is taken as it is, which is right for a Content-Length response but
  // would keep the chunk sizes of a chunked one; /metrics from prometheus-cpp 1.0 sends
  // Content-Length.
  return response.substr(header_end + 4);
}

absl::StatusOr<google::protobuf::Struct> ParseJsonObject(absl::string_view line) {
  google::protobuf::Struct object;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &object);
  if (!status.ok() || line.empty() || line.front() != '{') {
    return absl::InvalidArgumentError(absl::StrCat("not a JSON object: ", line));
  }
  return object;
}

std::optional<std::string> StringField(const google::protobuf::Struct& object,
                                       const std::string& key) {
  auto it = object.fields().find(key);
  if (it == object.fields().end() || !it->second.has_string_value()) return std::nullopt;
  return it->second.string_value();
}

ScopedTempDir::ScopedTempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "ad-ops-XXXXXX").string();
  if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code error;
  if (!path_.empty()) std::filesystem::remove_all(path_, error);
}

std::unique_ptr<Subprocess> Subprocess::Start(const std::vector<std::string>& argv,
                                              const std::vector<std::string>& extra_environment,
                                              const std::filesystem::path& stdout_path,
                                              const std::filesystem::path& stderr_path) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  std::vector<char*> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const absl::string_view name = VariableName(*entry);
    bool overridden = false;
    for (const std::string& extra : extra_environment) {
      if (VariableName(extra) == name) overridden = true;
    }
    if (!overridden) environment.push_back(*entry);
  }
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
  // The child starts with no blocked signals, whatever the test's threads block.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int error =
      posix_spawn(&pid, args[0], &actions, &attributes, args.data(), environment.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return nullptr;
  return absl::WrapUnique(new Subprocess(pid));
}

Subprocess::~Subprocess() {
  if (exit_code_.has_value()) return;
  kill(pid_, SIGTERM);
  if (Wait(absl::Seconds(5)).has_value()) return;
  kill(pid_, SIGKILL);
  Wait(absl::InfiniteDuration());
}

void Subprocess::Signal(int signal_number) {
  if (!exit_code_.has_value()) kill(pid_, signal_number);
}

std::optional<int> Subprocess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!exit_code_.has_value()) {
    int status = 0;
    const pid_t result = waitpid(pid_, &status, WNOHANG);
    if (result == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(kPollInterval);
  }
  return exit_code_;
}

absl::StatusOr<RunResult> RunProgram(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& extra_environment,
                                     const std::filesystem::path& directory,
                                     const std::string& label, absl::Duration timeout) {
  const std::filesystem::path stdout_path = directory / (label + ".stdout");
  const std::filesystem::path stderr_path = directory / (label + ".stderr");
  std::unique_ptr<Subprocess> process =
      Subprocess::Start(argv, extra_environment, stdout_path, stderr_path);
  if (process == nullptr) return absl::InternalError(absl::StrCat("failed to start ", argv[0]));

  std::optional<int> exit_code = process->Wait(timeout);
  if (!exit_code.has_value()) {
    process.reset();
    return absl::DeadlineExceededError(absl::StrCat(
        absl::StrJoin(argv, " "), " did not finish within ", absl::FormatDuration(timeout),
        "\nstdout:\n", ReadFile(stdout_path), "\nstderr:\n", ReadFile(stderr_path)));
  }
  return RunResult{*exit_code, ReadFile(stdout_path), ReadFile(stderr_path)};
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const ServerOptions& options, const std::filesystem::path& directory) {
  absl::StatusOr<std::string> binary = ServerBinary();
  if (!binary.ok()) return binary.status();

  auto server = absl::WrapUnique(new ServerProcess());
  server->mail_dir_ = directory / "mail";
  std::filesystem::create_directories(server->mail_dir_);
  const std::filesystem::path token_file = directory / "service_tokens";
  if (!WriteFile(token_file, absl::StrCat(kServiceName, " ", Sha256Hex(kServiceToken), "\n"))) {
    return absl::InternalError(absl::StrCat("cannot write ", token_file.string()));
  }
  server->stderr_path_ = directory / "server.stderr";

  for (int attempt = 1; attempt <= kPortAttempts; ++attempt) {
    server->port_ = PickFreePort();
    server->metrics_port_ = PickFreePort();
    std::vector<std::string> argv = {
        *binary,
        absl::StrCat("--listen_address=127.0.0.1:", server->port_),
        absl::StrCat("--metrics_address=127.0.0.1:", server->metrics_port_),
        "--mail_dir=" + server->mail_dir_.string(),
        "--service_token_file=" + token_file.string(),
        "--secret_key_file=" + (directory / "secret.key").string(),
        "--portal_base_url=https://portal.example.test"};
    if (!options.database_url.empty()) argv.push_back("--database_url=" + options.database_url);
    argv.insert(argv.end(), options.flags.begin(), options.flags.end());
    server->process_ = Subprocess::Start(argv, options.environment, directory / "server.stdout",
                                         server->stderr_path_);
    if (server->process_ == nullptr) return absl::InternalError("failed to start " + *binary);

    const absl::Time deadline = absl::Now() + kServerStartTimeout;
    while (absl::Now() < deadline) {
      if (AcceptsConnections(server->port_)) return server;
      if (server->process_->Wait(absl::ZeroDuration()).has_value()) break;
      absl::SleepFor(kPollInterval);
    }
    const std::optional<int> exit_code = server->process_->Wait(absl::ZeroDuration());
    const std::string stderr_text = server->Stderr();
    const bool port_taken = exit_code.has_value() && absl::StrContains(stderr_text, "cannot");
    if (!port_taken || attempt == kPortAttempts) {
      return absl::InternalError(absl::StrCat(
          "the server did not listen on 127.0.0.1:", server->port_, " within ",
          absl::FormatDuration(kServerStartTimeout),
          exit_code.has_value() ? absl::StrCat("; it exited with ", *exit_code) : "",
          "\nserver stderr:\n", stderr_text));
    }
  }
  return absl::InternalError("unreachable");
}

std::string ServerProcess::target() const { return absl::StrCat("127.0.0.1:", port_); }

std::vector<std::string> ServerProcess::StderrLinesContaining(absl::string_view part) const {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(Stderr(), '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, part)) lines.emplace_back(line);
  }
  return lines;
}

std::shared_ptr<grpc::Channel> ServerProcess::PlaintextChannel() const {
  return grpc::CreateChannel(target(), grpc::InsecureChannelCredentials());
}

void PrepareContext(grpc::ClientContext& context, const std::string& bearer_token,
                    absl::Duration deadline) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (!bearer_token.empty()) context.AddMetadata("authorization", "Bearer " + bearer_token);
}

absl::Status ToAbsl(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& body) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  PrepareContext(context, "");
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status result) {
                   status = std::move(result);
                   done.Notify();
                 });
  done.WaitForNotification();
  return ToAbsl(status);
}

absl::StatusOr<std::string> CreateAccount(const std::shared_ptr<grpc::Channel>& channel,
                                          const std::string& email, const std::string& password) {
  auto stub = v1::Accounts::NewStub(channel);
  grpc::ClientContext context;
  PrepareContext(context, kServiceToken);
  v1::CreateAccountRequest request;
  request.set_email(email);
  request.set_password(password);
  request.set_first_name("Olivia");
  request.set_last_name("Owner");
  request.set_phone_number("+14155550123");
  v1::CreateAccountResponse response;
  const grpc::Status status = stub->CreateAccount(&context, request, &response);
  if (!status.ok()) return ToAbsl(status);
  return response.account().account_id();
}

absl::StatusOr<std::string> SignIn(const std::shared_ptr<grpc::Channel>& channel,
                                   const std::string& email, const std::string& password) {
  auto stub = v1::Accounts::NewStub(channel);
  grpc::ClientContext context;
  PrepareContext(context, "");
  v1::SignInRequest request;
  request.set_email(email);
  request.set_password(password);
  v1::SignInResponse response;
  const grpc::Status status = stub->SignIn(&context, request, &response);
  if (!status.ok()) return ToAbsl(status);
  return response.session_token();
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
    absl::Duration deadline) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  PrepareContext(context, "", deadline);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return ToAbsl(status);
  return response.status();
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Create(
    const std::filesystem::path& directory) {
  // The cluster runs as the "postgres" user when the tests run as root, and that user
  // must be able to reach the directory.
  chmod(directory.parent_path().c_str(), 0755);

  absl::BitGen generator;
  const int span = kLastClusterPort - kFirstClusterPort + 1;
  const int offset = absl::Uniform(generator, 0, span);
  std::string failures;
  int attempts = 0;
  for (int i = 0; i < span && attempts < kPortAttempts; ++i) {
    const int port = kFirstClusterPort + (offset + i) % span;
    if (!IsPortFree(port)) continue;
    ++attempts;
    auto cluster = absl::WrapUnique(new PostgresCluster(directory, port));
    absl::Status started = cluster->Start();
    if (started.ok()) return cluster;
    absl::StrAppend(&failures, "\n", started.message());
  }
  return absl::UnavailableError(absl::StrCat(
      "no PostgreSQL cluster could start on a free port from ", kFirstClusterPort, " to ",
      kLastClusterPort, failures));
}

PostgresCluster::~PostgresCluster() {
  absl::Status removed = RunPgScript({"remove", directory_.string()});
  if (!removed.ok()) std::fprintf(stderr, "%s\n", std::string(removed.message()).c_str());
}

absl::Status PostgresCluster::Stop() { return RunPgScript({"stop", directory_.string()}); }

absl::Status PostgresCluster::Start() {
  return RunPgScript({"start", directory_.string(), std::to_string(port_), "--fsync-off"});
}

std::string PostgresCluster::url() const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/accessdelegation");
}

std::string PostgresCluster::application_url() const {
  return absl::StrCat("postgresql://accessdelegation_server@127.0.0.1:", port_,
                      "/accessdelegation");
}

absl::Status PostgresCluster::RunPgScript(const std::vector<std::string>& arguments) {
  std::vector<std::string> argv = {std::string(ACCESSDELEGATION_SOURCE_DIR) + "/tools/dev/pg.sh"};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  absl::StatusOr<RunResult> result =
      RunProgram(argv, {}, directory_.parent_path(), "pg-" + arguments.front(), kPgScriptTimeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), " exited with ",
                                            result->exit_code, ":\n", result->stderr_text));
  }
  return absl::OkStatus();
}

}  // namespace accessdelegation::ops
