// The AccessDelegation server: serves the gRPC API, delivers the outbox and exposes
// metrics until it receives SIGINT or SIGTERM.

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/environment_flags.h"
#include "server/logging.h"
#include "server/server.h"
#include "server/version.h"

ABSL_FLAG(std::string, listen_address, "127.0.0.1:50051",
          "Address to serve gRPC on, host:port. Without TLS only loopback is allowed, unless "
          "--allow_insecure_plaintext.");
ABSL_FLAG(std::string, database_url, "",
          "PostgreSQL connection URL, such as postgresql://user@127.0.0.1:5432/accessdelegation. "
          "Required.");
ABSL_FLAG(int, database_pool_size, 8, "Number of PostgreSQL connections in the pool (1-256).");
ABSL_FLAG(absl::Duration, database_acquire_timeout, absl::Seconds(1),
          "How long a call waits for a free pooled connection before it fails with "
          "UNAVAILABLE, such as 1s.");
ABSL_FLAG(std::string, migrate_database_url, "",
          "PostgreSQL URL of the same database as the role that owns the schema, used only "
          "to apply migrations; then --database_url may name a role with fewer privileges. "
          "Empty applies migrations as the --database_url role.");
ABSL_FLAG(std::string, read_database_url, "",
          "libpq URL of a streaming-replication standby of --database_url that checks, "
          "ListGrants and ListDelegatedAccess read from; empty reads the primary.");
ABSL_FLAG(int, password_hash_threads, accessdelegation::server::DefaultPasswordHashThreads(),
          "Threads that hash and check passwords; the default is half the hardware threads.");
ABSL_FLAG(int, password_hash_queue, 64,
          "Password hashes and checks that may wait for a thread before further sign-ins "
          "fail with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, grant_cache_entries, 1 << 20,
          "Maximum entries of the in-memory grant view behind CheckAccess, about 100 bytes "
          "each.");
ABSL_FLAG(std::string, mail_transport, "directory",
          "How emails leave the server: directory (files in --mail_dir) or smtp (the relay at "
          "--smtp_url).");
ABSL_FLAG(std::string, mail_dir, "var/mail",
          "Directory that receives outgoing emails as <message-id>.eml files.");
ABSL_FLAG(std::string, smtp_url, "",
          "SMTP relay for --mail_transport=smtp, smtp://host:port or smtps://host:port, "
          "without credentials.");
ABSL_FLAG(std::string, smtp_starttls, "required",
          "required: send only over TLS (STARTTLS on smtp://); none: allow plaintext.");
ABSL_FLAG(std::string, smtp_auth_file, "",
          "File with the SMTP user name and password, two lines or one line user:password; "
          "empty sends no AUTH.");
ABSL_FLAG(std::string, mail_from, "Patient Portal <no-reply@portal.invalid>",
          "From header and envelope sender of every email, \"Name <address>\" or address.");
ABSL_FLAG(int, mail_max_attempts, 8,
          "Failed delivery attempts after which an email is kept as a dead letter.");
ABSL_FLAG(absl::Duration, mail_retry_base, absl::Seconds(30),
          "Delay before retrying a failed email, such as 30s; it doubles with each further "
          "failure, up to 1h.");
ABSL_FLAG(int, outbox_workers, 4,
          "Threads that deliver queued emails (1-64), each claiming its own batch.");
ABSL_FLAG(std::string, portal_base_url, "http://localhost:8080",
          "Base URL of the patient portal; emailed links point under it.");
ABSL_FLAG(absl::Duration, invitation_ttl, absl::Hours(24 * 7),
          "How long an invitation link works, such as 168h.");
ABSL_FLAG(absl::Duration, session_ttl, absl::Hours(12),
          "How long a session lasts after sign-in however busy it is, such as 12h.");
ABSL_FLAG(absl::Duration, session_idle_timeout, absl::Minutes(30),
          "How long a session may go unused before it expires, such as 30m; must be longer "
          "than 1m, the interval at which session use is recorded.");
ABSL_FLAG(int, sign_in_delay_after_failures, 5,
          "Failed sign-ins for one email after which each attempt must wait "
          "--sign_in_base_delay, doubled per further failure; 0 disables the delays.");
ABSL_FLAG(absl::Duration, sign_in_base_delay, absl::Seconds(1),
          "First wait of the sign-in delays, such as 1s.");
ABSL_FLAG(int, sign_in_lockout_after_failures, 10,
          "Failed sign-ins for one email that lock it for --sign_in_lockout; 0 disables the "
          "lockout. Counts are kept in the database and shared by every server.");
ABSL_FLAG(absl::Duration, sign_in_lockout, absl::Minutes(15),
          "How long a locked email must wait before the next sign-in, such as 15m.");
ABSL_FLAG(int, peer_sign_in_failure_limit, 50,
          "Failed sign-ins one client address may make per --peer_limit_window; 0 for no "
          "limit. Counted in this process only.");
ABSL_FLAG(int, peer_token_failure_limit, 30,
          "Unknown or dead invitation tokens one client address may send per "
          "--peer_limit_window; 0 for no limit. Counted in this process only.");
ABSL_FLAG(absl::Duration, peer_limit_window, absl::Minutes(15),
          "Window of the per-address limits, such as 15m.");
ABSL_FLAG(int, invitations_per_owner_per_day, 50,
          "Invitations one owner may create in 24 hours; 0 for no limit.");
ABSL_FLAG(absl::Duration, request_id_retention, absl::Hours(24),
          "How long a write's request_id is remembered so that a retry returns the first "
          "response, such as 24h; a retry after that runs the request again.");
ABSL_FLAG(std::string, service_token_file, "",
          "File of service tokens for hospital back ends: lines \"<name> <sha256-hex-of-token>\".");
ABSL_FLAG(std::string, secret_key_file, "var/secret.key",
          "File with the 32-byte key that seals invitation tokens in the outbox; created with "
          "mode 0600 if missing. Keep it across restarts, or queued invitation emails cannot "
          "be delivered.");
ABSL_FLAG(std::string, default_phone_region, "US",
          "Region (ISO 3166-1 alpha-2) for phone numbers given without a country code.");
ABSL_FLAG(bool, apply_migrations, true, "Apply missing database migrations at start-up.");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9464",
          "Address of the Prometheus /metrics HTTP endpoint, host:port; empty disables it.");
ABSL_FLAG(absl::Duration, health_check_interval, absl::Seconds(1),
          "How often to check the database for the health service, such as 1s.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain for TLS; set with --tls_key_file. Without both, plaintext.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key for TLS.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificate for mutual TLS: a client certificate it signed authenticates "
          "its caller as the service named by the certificate's common name.");
ABSL_FLAG(bool, allow_insecure_plaintext, false,
          "Allow plaintext on a non-loopback address, for use behind a TLS-terminating proxy.");
ABSL_FLAG(int, max_receive_message_bytes, 64 * 1024,
          "Maximum size of a request message, in bytes (4096-4194304). A larger request "
          "fails with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_watch_streams, 32,
          "Maximum number of WatchAccessChanges streams that run at once (1-1024). Each "
          "occupies a server thread, and one more fails with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, rpc_min_pollers, 16,
          "Request threads kept waiting for calls even when idle (1-4096).");
ABSL_FLAG(int, rpc_max_pollers, 256,
          "Most request threads that wait for calls (rpc_min_pollers-4096). A thread that "
          "finishes a call while this many wait exits, so set it above the calls usually in "
          "flight.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "How long in-flight calls may run after SIGTERM or SIGINT before they are cancelled.");
ABSL_FLAG(std::string, log_format, "json", "Log format: json (one object per line) or text.");
ABSL_FLAG(std::string, log_level, "info", "Log level: debug, info, warn or error.");

namespace {

// Blocks until SIGINT or SIGTERM arrives and returns its number. The caller must have
// blocked both signals in every thread.
int WaitForStopSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

const char* SignalName(int signal_number) {
  return signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
}

// How long a stop signal that arrives during start-up waits for start-up to finish. The
// gRPC server accepts calls shortly before start-up ends, and those calls should be
// drained like any others.
constexpr absl::Duration kStartupStopWait = absl::Seconds(1);

// StopSignalWaiter takes SIGINT and SIGTERM on a thread of its own, and makes WaitForStop
// return when one arrives. A signal during start-up ends the process unless start-up
// finishes within kStartupStopWait, because start-up blocks without limit on a database
// host that accepts connections and never replies: libpq sets no connect timeout unless
// the URL has connect_timeout.
class StopSignalWaiter {
 public:
  // Starts the thread. The caller must have blocked both signals in every thread, and the
  // waiter must never be destroyed, because the thread uses it until the process exits.
  StopSignalWaiter() {
    std::thread([this] { Run(); }).detach();
  }

  void MarkStarted() {
    absl::MutexLock lock(&mutex_);
    started_ = true;
  }

  // Blocks until a signal arrives after MarkStarted and returns its number.
  int WaitForStop() {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(&stopping_));
    return signal_number_;
  }

 private:
  void Run() {
    const int received = WaitForStopSignal();
    absl::MutexLock lock(&mutex_);
    signal_number_ = received;
    stopping_ = true;
    if (!mutex_.AwaitWithTimeout(absl::Condition(&started_), kStartupStopWait)) {
      spdlog::error("received {} during start-up, which did not finish within {}; exiting "
                    "without serving",
                    SignalName(received), absl::FormatDuration(kStartupStopWait));
      std::_Exit(EXIT_FAILURE);
    }
  }

  absl::Mutex mutex_;
  bool started_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  int signal_number_ ABSL_GUARDED_BY(mutex_) = 0;
};

accessdelegation::server::Config ConfigFromFlags() {
  accessdelegation::server::Config config;
  config.listen_address = absl::GetFlag(FLAGS_listen_address);
  config.database_url = absl::GetFlag(FLAGS_database_url);
  config.database_pool_size = absl::GetFlag(FLAGS_database_pool_size);
  config.database_acquire_timeout = absl::GetFlag(FLAGS_database_acquire_timeout);
  config.migrate_database_url = absl::GetFlag(FLAGS_migrate_database_url);
  config.read_database_url = absl::GetFlag(FLAGS_read_database_url);
  config.grant_cache_entries = absl::GetFlag(FLAGS_grant_cache_entries);
  config.password_hash_threads = absl::GetFlag(FLAGS_password_hash_threads);
  config.password_hash_queue = absl::GetFlag(FLAGS_password_hash_queue);
  config.mail_transport = absl::GetFlag(FLAGS_mail_transport);
  config.mail_dir = absl::GetFlag(FLAGS_mail_dir);
  config.smtp_url = absl::GetFlag(FLAGS_smtp_url);
  config.smtp_starttls = absl::GetFlag(FLAGS_smtp_starttls);
  config.smtp_auth_file = absl::GetFlag(FLAGS_smtp_auth_file);
  config.mail_from = absl::GetFlag(FLAGS_mail_from);
  config.mail_max_attempts = absl::GetFlag(FLAGS_mail_max_attempts);
  config.mail_retry_base = absl::GetFlag(FLAGS_mail_retry_base);
  config.outbox_workers = absl::GetFlag(FLAGS_outbox_workers);
  config.portal_base_url = absl::GetFlag(FLAGS_portal_base_url);
  config.invitation_ttl = absl::GetFlag(FLAGS_invitation_ttl);
  config.session_ttl = absl::GetFlag(FLAGS_session_ttl);
  config.session_idle_timeout = absl::GetFlag(FLAGS_session_idle_timeout);
  config.sign_in_delay_after_failures = absl::GetFlag(FLAGS_sign_in_delay_after_failures);
  config.sign_in_base_delay = absl::GetFlag(FLAGS_sign_in_base_delay);
  config.sign_in_lockout_after_failures = absl::GetFlag(FLAGS_sign_in_lockout_after_failures);
  config.sign_in_lockout = absl::GetFlag(FLAGS_sign_in_lockout);
  config.peer_sign_in_failure_limit = absl::GetFlag(FLAGS_peer_sign_in_failure_limit);
  config.peer_token_failure_limit = absl::GetFlag(FLAGS_peer_token_failure_limit);
  config.peer_limit_window = absl::GetFlag(FLAGS_peer_limit_window);
  config.invitations_per_owner_per_day = absl::GetFlag(FLAGS_invitations_per_owner_per_day);
  config.request_id_retention = absl::GetFlag(FLAGS_request_id_retention);
  config.service_token_file = absl::GetFlag(FLAGS_service_token_file);
  config.secret_key_file = absl::GetFlag(FLAGS_secret_key_file);
  config.default_phone_region = absl::GetFlag(FLAGS_default_phone_region);
  config.apply_migrations = absl::GetFlag(FLAGS_apply_migrations);
  config.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  config.health_check_interval = absl::GetFlag(FLAGS_health_check_interval);
  config.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  config.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  config.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  config.allow_insecure_plaintext = absl::GetFlag(FLAGS_allow_insecure_plaintext);
  config.max_receive_message_bytes = absl::GetFlag(FLAGS_max_receive_message_bytes);
  config.max_watch_streams = absl::GetFlag(FLAGS_max_watch_streams);
  config.rpc_min_pollers = absl::GetFlag(FLAGS_rpc_min_pollers);
  config.rpc_max_pollers = absl::GetFlag(FLAGS_rpc_max_pollers);
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves the AccessDelegation gRPC API: invitations, grants and access checks.\n"
      "Every flag can also be set by an environment variable: --database_url by\n"
      "ACCESSDELEGATION_DATABASE_URL, and so on. Flags on the command line win.\n"
      "Usage: accessdelegation-server --database_url=postgresql://... [flags]");
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  usage_config.version_string = [] {
    return std::string(accessdelegation::server::VersionString()) + "\n";
  };
  absl::SetFlagsUsageConfig(usage_config);

  if (absl::Status status = accessdelegation::server::ApplyEnvironmentFlags("ACCESSDELEGATION_");
      !status.ok()) {
    std::cerr << "accessdelegation-server: " << status.message() << "\n";
    return EXIT_FAILURE;
  }
  absl::ParseCommandLine(argc, argv);

#ifdef NDEBUG
  // Debian 12's Abseil (20220623) runs absl::Mutex's deadlock detector, which records
  // every lock in one process-wide graph. gRPC's locks are absl::Mutex too, and in a
  // profile of CheckAccess at 64 calls in flight that graph took about 3% of the server's
  // CPU. Debug builds of the server keep the detector.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif

  if (absl::Status status = accessdelegation::server::ConfigureLogging(
          absl::GetFlag(FLAGS_log_format), absl::GetFlag(FLAGS_log_level));
      !status.ok()) {
    std::cerr << "accessdelegation-server: " << status.message() << "\n";
    return EXIT_FAILURE;
  }

  // Block the stop signals in every thread, so that only WaitForStopSignal takes them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  static auto* const stop_signals = new StopSignalWaiter();

  spdlog::info("accessdelegation-server {} starting", accessdelegation::server::VersionString());
  absl::StatusOr<std::unique_ptr<accessdelegation::server::Server>> server =
      accessdelegation::server::Server::Start(ConfigFromFlags());
  if (!server.ok()) {
    spdlog::critical("start-up failed: {}", server.status().ToString());
    return EXIT_FAILURE;
  }

  stop_signals->MarkStarted();

  const int signal_number = stop_signals->WaitForStop();
  spdlog::info("received {}; stopping", SignalName(signal_number));
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  (*server)->Wait();
  spdlog::info("accessdelegation-server stopped");
  return EXIT_SUCCESS;
}
