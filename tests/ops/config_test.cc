// Settings of the server binary: invalid values stop it with a message that names the
// setting, environment variables set flags, and --version and --help work.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_test_support.h"
#include "tests/support/test_database.h"

namespace accessdelegation::ops {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kExitTimeout = absl::Seconds(15);
// A database URL where nothing listens. The settings under test fail validation before
// the server connects to it.
constexpr char kUnusedDatabaseUrl[] = "postgresql://postgres@127.0.0.1:1/unused";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> binary = ServerBinary();
    ASSERT_TRUE(binary.ok()) << binary.status();
    binary_ = *binary;
  }

  // Runs the server binary with `arguments` and `environment` until it exits.
  RunResult Run(const std::vector<std::string>& arguments,
                const std::vector<std::string>& environment = {}) {
    std::vector<std::string> argv = {binary_};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    absl::StatusOr<RunResult> result =
        RunProgram(argv, environment, temp_dir_.path(), "server", kExitTimeout);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.value_or(RunResult());
  }

  // Returns the flags that every run below needs, besides the setting under test.
  std::vector<std::string> BaseFlags() const {
    return {"--database_url=" + std::string(kUnusedDatabaseUrl),
            "--listen_address=127.0.0.1:0", "--metrics_address=",
            "--mail_dir=" + (temp_dir_.path() / "mail").string(),
            "--secret_key_file=" + (temp_dir_.path() / "secret.key").string()};
  }

  std::string binary_;
  ScopedTempDir temp_dir_;
};

TEST_F(ConfigTest, InvalidSettingsExitNamingTheSetting) {
  struct Case {
    std::vector<std::string> flags;
    std::vector<std::string> environment;
    std::string expected_name;
  };
  const std::vector<Case> cases = {
      {{}, {"ACCESSDELEGATION_DATABASE_POOL_SIZE=0"}, "database_pool_size"},
      {{"--database_pool_size=257"}, {}, "database_pool_size"},
      {{}, {"ACCESSDELEGATION_DATABASE_POOL_SIZE=many"}, "ACCESSDELEGATION_DATABASE_POOL_SIZE"},
      {{"--portal_base_url=ftp://x"}, {}, "portal_base_url"},
      {{"--listen_address=0.0.0.0:0"}, {}, "listen_address"},
      {{"--database_url="}, {}, "database_url"},
      {{"--session_ttl=0s"}, {}, "session_ttl"},
      {{"--health_check_interval=-1s"}, {}, "health_check_interval"},
      {{"--default_phone_region=USA"}, {}, "default_phone_region"},
      {{"--tls_cert_file=/nonexistent/cert.pem"}, {}, "tls_key_file"},
      {{"--tls_client_ca_file=/nonexistent/ca.pem"}, {}, "tls_client_ca_file"},
      {{"--tls_cert_file=/nonexistent/cert.pem", "--tls_key_file=/nonexistent/key.pem"},
       {},
       "tls_cert_file"},
      {{"--rpc_min_pollers=0"}, {}, "rpc_min_pollers"},
      {{"--rpc_min_pollers=8", "--rpc_max_pollers=4"}, {}, "rpc_max_pollers"},
      {{"--rpc_max_pollers=4097"}, {}, "rpc_max_pollers"},
      {{"--outbox_workers=0"}, {}, "outbox_workers"},
      {{"--outbox_workers=65"}, {}, "outbox_workers"},
      {{}, {"ACCESSDELEGATION_OUTBOX_WORKERS=-1"}, "outbox_workers"},
      {{"--log_level=loud"}, {}, "log_level"},
      {{"--log_format=xml"}, {}, "log_format"},
  };

  for (const Case& test_case : cases) {
    std::vector<std::string> flags = BaseFlags();
    flags.insert(flags.end(), test_case.flags.begin(), test_case.flags.end());
    const RunResult result = Run(flags, test_case.environment);
    const std::string label = absl::StrCat(test_case.expected_name, " case, flags: ",
                                           absl::StrJoin(test_case.flags, " "), " environment: ",
                                           absl::StrJoin(test_case.environment, " "));

    EXPECT_NE(result.exit_code, 0) << label;
    EXPECT_THAT(result.stderr_text, HasSubstr(test_case.expected_name)) << label;
    EXPECT_THAT(result.stderr_text, Not(HasSubstr("serving on"))) << label;
  }
}

TEST_F(ConfigTest, SessionIdleTimeoutMustExceedTouchInterval) {
  for (const char* value : {"0s", "30s", "1m", "60s"}) {
    std::vector<std::string> flags = BaseFlags();
    flags.push_back(absl::StrCat("--session_idle_timeout=", value));

    const RunResult result = Run(flags);

    EXPECT_NE(result.exit_code, 0) << value;
    EXPECT_THAT(result.stderr_text, HasSubstr("session_idle_timeout must be longer than 1m"))
        << value;
  }
}

TEST_F(ConfigTest, SessionIdleTimeoutAboveTouchIntervalPasses) {
  std::vector<std::string> flags = BaseFlags();
  flags.push_back("--session_idle_timeout=61s");

  const RunResult result = Run(flags);

  EXPECT_THAT(result.stderr_text, Not(HasSubstr("session_idle_timeout"))) << result.stderr_text;
}

TEST_F(ConfigTest, UnknownFlagExits) {
  const RunResult result = Run({"--no_such_setting=1"});

  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("no_such_setting"));
}

TEST_F(ConfigTest, EnvironmentSetsFlagsAndCommandLineWins) {
  absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
      testing::TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  ServerOptions options;
  // The database comes only from the environment; the command line overrides an invalid
  // portal URL and a text log format from the environment.
  options.flags = {"--portal_base_url=https://portal.example.test", "--log_format=json"};
  options.environment = {"ACCESSDELEGATION_DATABASE_URL=" + (*database)->url(),
                         "ACCESSDELEGATION_PORTAL_BASE_URL=ftp://rejected",
                         "ACCESSDELEGATION_LOG_FORMAT=text",
                         "ACCESSDELEGATION_HEALTH_CHECK_INTERVAL=150ms"};
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(options, temp_dir_.path());

  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(CheckHealth((*server)->PlaintextChannel(), "").value_or(
                grpc::health::v1::HealthCheckResponse::UNKNOWN),
            grpc::health::v1::HealthCheckResponse::SERVING);
  const std::string stderr_text = (*server)->Stderr();
  EXPECT_THAT(stderr_text, HasSubstr("\"msg\":\"serving on"));
  EXPECT_THAT(stderr_text, Not(HasSubstr("ftp://rejected")));
}

TEST_F(ConfigTest, VersionPrintsProjectVersion) {
  const RunResult result = Run({"--version"});

  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.stdout_text, HasSubstr(ACCESSDELEGATION_VERSION));
}

TEST_F(ConfigTest, HelpListsEveryFlag) {
  const RunResult result = Run({"--help"});

  const std::string help = result.stdout_text + result.stderr_text;
  for (const char* flag :
       {"listen_address", "database_url", "database_pool_size", "mail_dir", "portal_base_url",
        "invitation_ttl", "session_ttl", "service_token_file", "secret_key_file",
        "default_phone_region", "apply_migrations", "metrics_address", "health_check_interval",
        "tls_cert_file", "tls_key_file", "tls_client_ca_file", "allow_insecure_plaintext",
        "shutdown_grace", "log_format", "log_level", "rpc_min_pollers", "rpc_max_pollers"}) {
    EXPECT_THAT(help, HasSubstr(absl::StrCat("--", flag))) << flag;
  }
  EXPECT_THAT(help, HasSubstr("ACCESSDELEGATION_DATABASE_URL"));
  EXPECT_THAT(help, Not(HasSubstr("--grpc_"))) << "library flags should stay out of --help";
}

}  // namespace
}  // namespace accessdelegation::ops
