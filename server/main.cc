// The AccessDelegation server: serves the gRPC API and delivers the outbox until it
// receives SIGINT or SIGTERM.

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "server/server.h"

ABSL_FLAG(std::string, listen_address, "127.0.0.1:50051",
          "Address to serve gRPC on, host:port. Plaintext, so keep it on loopback or behind a "
          "TLS-terminating proxy.");
ABSL_FLAG(std::string, database_url, "",
          "PostgreSQL connection URL, such as postgresql://user@127.0.0.1:5432/accessdelegation. "
          "Required.");
ABSL_FLAG(int, database_pool_size, 8, "Number of PostgreSQL connections in the pool.");
ABSL_FLAG(std::string, mail_dir, "var/mail",
          "Directory that receives outgoing emails as <message-id>.eml files.");
ABSL_FLAG(std::string, portal_base_url, "http://localhost:8080",
          "Base URL of the patient portal; emailed links point under it.");
ABSL_FLAG(absl::Duration, invitation_ttl, absl::Hours(24 * 7),
          "How long an invitation link works, such as 168h.");
ABSL_FLAG(absl::Duration, session_ttl, absl::Hours(12),
          "How long a session lasts after sign-in, such as 12h.");
ABSL_FLAG(std::string, service_token_file, "",
          "File of service tokens for hospital back ends: lines \"<name> <sha256-hex-of-token>\".");
ABSL_FLAG(std::string, secret_key_file, "var/secret.key",
          "File with the 32-byte key that seals invitation tokens in the outbox; created with "
          "mode 0600 if missing. Keep it across restarts, or queued invitation emails cannot "
          "be delivered.");
ABSL_FLAG(std::string, default_phone_region, "US",
          "Region (ISO 3166-1 alpha-2) for phone numbers given without a country code.");
ABSL_FLAG(bool, apply_migrations, true, "Apply missing database migrations at start-up.");
ABSL_FLAG(std::string, log_level, "info", "Log level: debug, info, warn or error.");

namespace {

// Blocks until SIGINT or SIGTERM arrives and returns its number.
int WaitForStopSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves the AccessDelegation gRPC API: invitations, grants and access checks.\n"
      "Usage: accessdelegation-server --database_url=postgresql://... [flags]");
  absl::ParseCommandLine(argc, argv);

  // Block the stop signals in every thread, so that only WaitForStopSignal takes them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);

  accessdelegation::server::Config config;
  config.listen_address = absl::GetFlag(FLAGS_listen_address);
  config.database_url = absl::GetFlag(FLAGS_database_url);
  config.database_pool_size = absl::GetFlag(FLAGS_database_pool_size);
  config.mail_dir = absl::GetFlag(FLAGS_mail_dir);
  config.portal_base_url = absl::GetFlag(FLAGS_portal_base_url);
  config.invitation_ttl = absl::GetFlag(FLAGS_invitation_ttl);
  config.session_ttl = absl::GetFlag(FLAGS_session_ttl);
  config.service_token_file = absl::GetFlag(FLAGS_service_token_file);
  config.secret_key_file = absl::GetFlag(FLAGS_secret_key_file);
  config.default_phone_region = absl::GetFlag(FLAGS_default_phone_region);
  config.apply_migrations = absl::GetFlag(FLAGS_apply_migrations);

  spdlog::info("accessdelegation-server starting");
  absl::StatusOr<std::unique_ptr<accessdelegation::server::Server>> server =
      accessdelegation::server::Server::Start(config);
  if (!server.ok()) {
    spdlog::critical("start-up failed: {}", server.status().ToString());
    return EXIT_FAILURE;
  }

  const int signal_number = WaitForStopSignal();
  spdlog::info("received signal {}; shutting down", signal_number);
  (*server)->Shutdown(absl::Seconds(10));
  (*server)->Wait();
  spdlog::info("accessdelegation-server stopped");
  return EXIT_SUCCESS;
}
