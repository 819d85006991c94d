#ifndef ACCESSDELEGATION_SERVER_SERVER_H_
#define ACCESSDELEGATION_SERVER_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace accessdelegation::server {

// Returns half the hardware threads, at least 1: password hashing then leaves the other
// half to checks and the database even at full sign-in load.
int DefaultPasswordHashThreads();

// Config contains every setting of a server instance. The binary fills it from flags.
struct Config {
  // Address to listen on, "host:port"; port 0 picks a free port (see Server::port()).
  std::string listen_address = "127.0.0.1:50051";
  // libpq connection string or URL of the PostgreSQL database.
  std::string database_url;
  // Number of database connections in the pool.
  int database_pool_size = 8;
  // How long a call waits for a free pooled connection before it fails with UNAVAILABLE.
  absl::Duration database_acquire_timeout = absl::Seconds(1);
  // libpq URL of the same database as a role that owns the schema, used only to apply
  // migrations at start-up. Empty applies them as database_url's role.
  std::string migrate_database_url;
  // libpq connection string or URL of a streaming-replication standby of database_url,
  // from which checks read what their grant view lacks and ListGrants and
  // ListDelegatedAccess read their pages; empty reads the primary. Its pool has
  // database_pool_size connections.
  std::string read_database_url;
  // Maximum entries of the in-memory grant view behind CheckAccess: one per (owner,
  // delegate) pair checked and one per owner that checked their own record. Each takes
  // about 100 bytes with its index.
  int64_t grant_cache_entries = 1 << 20;
  // Threads that hash and check passwords (Argon2id, deliberately costly) at a lower
  // priority than the RPC threads, and the most calls that may wait for them before
  // further ones fail with RESOURCE_EXHAUSTED.
  int password_hash_threads = DefaultPasswordHashThreads();
  int password_hash_queue = 64;
  // How emails leave the server: "directory" writes them to mail_dir, "smtp" sends them
  // to the relay at smtp_url.
  std::string mail_transport = "directory";
  // Directory that receives delivered emails as RFC 5322 .eml files.
  std::string mail_dir = "var/mail";
  // URL of the SMTP relay, smtp://host:port or smtps://host:port, without credentials.
  std::string smtp_url;
  // "required" sends only over TLS (STARTTLS on smtp://); "none" allows plaintext.
  std::string smtp_starttls = "required";
  // File with the SMTP user name and password: two lines, or one line "user:password".
  // Empty sends no AUTH.
  std::string smtp_auth_file;
  // From header and envelope sender of every email, "Name <address>" or "address".
  std::string mail_from = "Patient Portal <no-reply@portal.invalid>";
  // Failed attempts after which an email is given up as a dead letter.
  int mail_max_attempts = 8;
  // Delay before the first retry of a failed email; it doubles with each further failure
  // up to one hour.
  absl::Duration mail_retry_base = absl::Seconds(30);
  // Base URL of the patient portal; invitation links are <base>/invitations/accept?token=...
  std::string portal_base_url = "http://localhost:8080";
  // How long an invitation link works.
  absl::Duration invitation_ttl = absl::Hours(24 * 7);
  // How long a session lasts after sign-in, however busy: its absolute limit.
  absl::Duration session_ttl = absl::Hours(12);
  // How long a session may go unused before it expires.
  absl::Duration session_idle_timeout = absl::Minutes(30);
  // Sign-in throttling per email, stored in the database so that every replica applies
  // it: from this many failures on, each attempt waits a delay that starts at
  // sign_in_base_delay and doubles per failure; 0 disables the delays.
  int sign_in_delay_after_failures = 5;
  absl::Duration sign_in_base_delay = absl::Seconds(1);
  // At this many failures the email is locked for sign_in_lockout; 0 disables it.
  int sign_in_lockout_after_failures = 10;
  absl::Duration sign_in_lockout = absl::Minutes(15);
  // Failed sign-ins one peer address may make per peer_limit_window; 0 for no limit.
  // Counted in each server process's memory.
  int peer_sign_in_failure_limit = 50;
  // Invitation tokens one peer address may present that find no live invitation, per
  // peer_limit_window; 0 for no limit. Counted in each server process's memory.
  int peer_token_failure_limit = 30;
  absl::Duration peer_limit_window = absl::Minutes(15);
  // Invitations one owner may create in 24 hours; 0 for no limit.
  int invitations_per_owner_per_day = 50;
  // How long a write's request_id is remembered, so that a retry returns the first
  // response; older ones are deleted in the background.
  absl::Duration request_id_retention = absl::Hours(24);
  // File of service tokens: one "<name> <sha256-hex-of-token>" per line, '#' comments.
  std::string service_token_file;
  // File holding the 32-byte key that seals invitation tokens queued in the outbox;
  // created with mode 0600 if missing.
  std::string secret_key_file = "var/secret.key";
  // Region for phone numbers given without a country code, as ISO 3166-1 alpha-2.
  std::string default_phone_region = "US";
  // How often an idle outbox worker looks for new emails. Writes of this server wake a
  // worker at once; the poll finds emails queued by other server processes and retries.
  absl::Duration outbox_poll_interval = absl::Milliseconds(200);
  // Threads that deliver the outbox, 1 to 64. Each claims its own batch. Delivery mostly
  // waits on fsync or the SMTP relay, so a few workers overlap those waits. A worker takes
  // a pooled database connection only while it claims or marks a batch, so 4 workers
  // leave most of the default pool of 8 to calls.
  int outbox_workers = 4;
  // Whether to apply missing schema migrations at start-up.
  bool apply_migrations = true;
  // Address of the Prometheus /metrics endpoint, "host:port"; empty disables it.
  std::string metrics_address;
  // How often the server checks that the database responds, for the health service and
  // the metrics that mirror the database.
  absl::Duration health_check_interval = absl::Seconds(1);
  // PEM files of the server's TLS certificate chain and private key. Both or neither;
  // without them the server speaks plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM file of the CA that signs back ends' client certificates. When set, clients may
  // present a certificate (mutual TLS); a verified one authenticates its caller as the
  // service named by the certificate's common name, in place of a service token.
  std::string tls_client_ca_file;
  // Maximum size of a request message, in bytes. gRPC rejects a larger request with
  // RESOURCE_EXHAUSTED before any handler runs.
  int max_receive_message_bytes = 64 * 1024;
  // Maximum number of WatchAccessChanges streams that run at once. Each occupies a server
  // thread while it runs, and one more fails with RESOURCE_EXHAUSTED.
  int max_watch_streams = 32;
  // Threads of gRPC's synchronous server that wait for the next call ("pollers"). When
  // fewer than rpc_min_pollers wait, the thread that takes a call starts another, and a
  // thread that finishes a call while rpc_max_pollers already wait exits. So a maximum
  // below the calls in flight, such as gRPC's default of 2, starts and ends a thread for
  // nearly every call. Threads above the minimum exit after 10 idle seconds.
  int rpc_min_pollers = 16;
  int rpc_max_pollers = 256;
  // Whether plaintext may listen on an address other than loopback.
  bool allow_insecure_plaintext = false;
};

// Server is a running AccessDelegation gRPC server with its background email deliverer.
class Server {
 public:
  // Applies migrations (when configured), connects to the database, and starts serving.
  // Returns INVALID_ARGUMENT for a bad setting, UNAVAILABLE when the database or the
  // listen address cannot be used.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const Config& config);

  virtual ~Server() = default;

  // The port the server listens on.
  virtual int port() const = 0;

  // The port of the /metrics endpoint; 0 when it is disabled.
  virtual int metrics_port() const = 0;

  // Stops accepting calls, lets in-flight calls finish within `grace`, stops the email
  // deliverer. Idempotent.
  virtual void Shutdown(absl::Duration grace) = 0;

  // Blocks until Shutdown has completed.
  virtual void Wait() = 0;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_SERVER_H_
