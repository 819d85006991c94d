#ifndef ACCESSDELEGATION_TESTS_OPS_OPS_TEST_SUPPORT_H_
#define ACCESSDELEGATION_TESTS_OPS_OPS_TEST_SUPPORT_H_

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/access_delegation.grpc.pb.h"
#include "accessdelegation/v1/accounts.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

// Helpers for the operability tests, which run the real server binary as a child process
// on loopback and observe it from outside: health, metrics, logs, flags, TLS and signals.
namespace accessdelegation::ops {

// Name of the environment variable with the path of the accessdelegation-server binary.
inline constexpr char kServerBinVariable[] = "ACCESSDELEGATION_SERVER_BIN";

// The service token that every test server accepts, under the service name kServiceName.
inline constexpr char kServiceToken[] = "ops-service-token-5d1e8c2a7b9f4e03a6c8d0f2b4e6a8c1";
inline constexpr char kServiceName[] = "ops-tests";

// Returns the value of the environment variable `name`, or an empty string when unset.
std::string GetEnv(const char* name);

// Returns the server binary named by ACCESSDELEGATION_SERVER_BIN, or FAILED_PRECONDITION
// saying how to set it.
absl::StatusOr<std::string> ServerBinary();

// Returns the lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// Returns a random version 4 UUID in canonical lower-case form.
std::string RandomUuid();

// Returns the contents of the file at `path`, or an empty string when it cannot be read.
std::string ReadFile(const std::filesystem::path& path);

// Writes `contents` to `path`, replacing the file. Returns whether it succeeded.
bool WriteFile(const std::filesystem::path& path, absl::string_view contents);

// Returns a TCP port on 127.0.0.1 that was free a moment ago, or 0 on failure.
int PickFreePort();

// Returns whether a TCP connection to 127.0.0.1:`port` succeeds.
bool AcceptsConnections(int port);

// Sends "GET `path`" over HTTP/1.1 to 127.0.0.1:`port` and returns the body of a 200
// response. UNAVAILABLE when the connection fails, INTERNAL for any other status line.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// Parses one log line as a JSON object. INVALID_ARGUMENT when it is not one.
absl::StatusOr<google::protobuf::Struct> ParseJsonObject(absl::string_view line);

// Returns the string member `key` of `object`, or nullopt when it is missing or not a
// string.
std::optional<std::string> StringField(const google::protobuf::Struct& object,
                                       const std::string& key);

// ScopedTempDir is a fresh directory under the system temp directory, removed with its
// contents on destruction.
class ScopedTempDir {
 public:
  ScopedTempDir();
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Subprocess is a child process with stdin from /dev/null and stdout and stderr in
// files. The destructor stops a child that still runs (SIGTERM, then SIGKILL after five
// seconds) and reaps it.
class Subprocess {
 public:
  // Starts `argv[0]` with `argv`, the current environment and `extra_environment`
  // ("NAME=value" entries, which win over inherited ones). Returns null when the program
  // cannot be started.
  static std::unique_ptr<Subprocess> Start(const std::vector<std::string>& argv,
                                           const std::vector<std::string>& extra_environment,
                                           const std::filesystem::path& stdout_path,
                                           const std::filesystem::path& stderr_path);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Sends `signal_number` to the child unless it has been reaped.
  void Signal(int signal_number);

  // Waits up to `timeout` for the child to exit. Returns its exit code (128 + the signal
  // number when a signal ended it), or nullopt while it still runs.
  std::optional<int> Wait(absl::Duration timeout);

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}

  pid_t pid_;
  std::optional<int> exit_code_;
};

// RunResult is how a finished program ended and what it printed.
struct RunResult {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs `argv` to completion within `timeout`, with its output in files named after
// `label` in `directory`. DEADLINE_EXCEEDED, with the output so far, when it runs longer.
absl::StatusOr<RunResult> RunProgram(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& extra_environment,
                                     const std::filesystem::path& directory,
                                     const std::string& label, absl::Duration timeout);

// ServerOptions are the settings of one server process beyond the ones every test
// server gets.
struct ServerOptions {
  // Passed as --database_url unless empty.
  std::string database_url;
  // More command-line flags, such as "--health_check_interval=200ms".
  std::vector<std::string> flags;
  // More environment variables, "NAME=value".
  std::vector<std::string> environment;
};

// ServerProcess is the server binary running on 127.0.0.1 with its own mail directory,
// service-token file (accepting kServiceToken), secret key file and /metrics port.
class ServerProcess {
 public:
  // Starts the server with files in `directory` and waits until it accepts connections.
  // FAILED_PRECONDITION when the binary is not configured; INTERNAL, with the server's
  // stderr, when it exits or does not listen within 30 seconds.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const ServerOptions& options, const std::filesystem::path& directory);

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  // Returns "127.0.0.1:<port>".
  std::string target() const;
  const std::filesystem::path& mail_dir() const { return mail_dir_; }

  // Returns everything the server has written to stderr so far.
  std::string Stderr() const { return ReadFile(stderr_path_); }

  // Returns the stderr lines that contain `part`.
  std::vector<std::string> StderrLinesContaining(absl::string_view part) const;

  Subprocess& process() { return *process_; }

  // Returns a plaintext channel to the server.
  std::shared_ptr<grpc::Channel> PlaintextChannel() const;

 private:
  ServerProcess() = default;

  std::unique_ptr<Subprocess> process_;
  std::filesystem::path stderr_path_;
  std::filesystem::path mail_dir_;
  int port_ = 0;
  int metrics_port_ = 0;
};

// Sets `deadline` from now and, when `bearer_token` is non-empty, the authorization
// metadata on `context`.
void PrepareContext(grpc::ClientContext& context, const std::string& bearer_token,
                    absl::Duration deadline = absl::Seconds(10));

// Creates an account with the service token and returns its id.
absl::StatusOr<std::string> CreateAccount(const std::shared_ptr<grpc::Channel>& channel,
                                          const std::string& email, const std::string& password);

// Signs in and returns the session token.
absl::StatusOr<std::string> SignIn(const std::shared_ptr<grpc::Channel>& channel,
                                   const std::string& email, const std::string& password);

// Returns the status that grpc.health.v1.Health/Check reports for `service`, or the
// call's failure as an absl::Status.
absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
    absl::Duration deadline = absl::Seconds(2));

// Converts a gRPC status to an absl::Status with the same code and message.
absl::Status ToAbsl(const grpc::Status& status);

// Sends `body` as the serialized request of `method` ("/package.Service/Method"), whatever
// its bytes, and returns the call's status.
absl::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& body);

// PostgresCluster is a private PostgreSQL cluster managed with tools/dev/pg.sh, on a
// port from 54400 to 54420 and with fsync off. Removed on destruction.
class PostgresCluster {
 public:
  // Creates and starts a cluster in `directory`, which must not exist yet.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Create(
      const std::filesystem::path& directory);
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // Stops the cluster; its files stay.
  absl::Status Stop();

  // Starts the stopped cluster again on the same port.
  absl::Status Start();

  // URL of its database "accessdelegation" as the superuser "postgres".
  std::string url() const;

  // URL of the same database as the application login role that tools/dev/pg.sh creates.
  std::string application_url() const;

 private:
  PostgresCluster(std::filesystem::path directory, int port)
      : directory_(std::move(directory)), port_(port) {}

  absl::Status RunPgScript(const std::vector<std::string>& arguments);

  std::filesystem::path directory_;
  int port_;
};

}  // namespace accessdelegation::ops

#endif  // ACCESSDELEGATION_TESTS_OPS_OPS_TEST_SUPPORT_H_
