#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.pb.h"
#include "server/access_delegation_service.h"
#include "server/access_history_service.h"
#include "server/accounts_service.h"
#include "server/auth.h"
#include "server/call_interceptor.h"
#include "server/grant_sweeper.h"
#include "server/grant_view.h"
#include "server/mail_deliverer.h"
#include "server/mail_transport.h"
#include "server/metrics.h"
#include "server/operations_service.h"
#include "server/password_hasher.h"
#include "server/peer_throttle.h"
#include "server/secrets.h"
#include "storage/change_listener.h"
#include "storage/postgres_store.h"
#include "storage/store.h"

namespace accessdelegation::server {
namespace {

// Bounds of max_receive_message_bytes. The largest valid request, with every field at its
// length limit, is under 3 KiB by the field limits in validation.h, and gRPC's own
// default limit is 4 MiB.
constexpr int kMinReceiveMessageBytes = 4 * 1024;
constexpr int kMaxReceiveMessageBytes = 4 * 1024 * 1024;
constexpr int kMaxWatchStreams = 1024;
constexpr int kMaxPollers = 4096;
// More outbox workers than this would mostly wait for pooled connections (at most 256).
constexpr int kMaxOutboxWorkers = 64;
// How often ended grants are marked and their emails queued. CheckAccess ignores an ended
// grant at once, so this only bounds how late the notices and change events are.
constexpr absl::Duration kGrantSweepInterval = absl::Minutes(1);
// The services whose health follows the database's. The empty name is the server as a
// whole, which standard health probes ask about.
constexpr const char* kHealthServices[] = {"", "accessdelegation.v1.Accounts",
                                           "accessdelegation.v1.AccessDelegation",
                                           "accessdelegation.v1.AccessHistory",
                                           "accessdelegation.v1.Operations"};

AccountsService::Options AccountsOptions(const Config& config) {
  AccountsService::Options options;
  options.session_ttl = config.session_ttl;
  options.default_phone_region = config.default_phone_region;
  options.sign_in_policy.delay_after_failures = config.sign_in_delay_after_failures;
  options.sign_in_policy.base_delay = config.sign_in_base_delay;
  options.sign_in_policy.lockout_after_failures = config.sign_in_lockout_after_failures;
  options.sign_in_policy.lockout = config.sign_in_lockout;
  return options;
}

// Returns the retention settings of the background purge. A throttle row matters for as
// long as BeginSignIn counts its failures, which is sign_in_lockout.
storage::PurgeOptions RetentionOptions(const Config& config) {
  storage::PurgeOptions options;
  options.request_id_retention = config.request_id_retention;
  options.sign_in_failure_lifetime = config.sign_in_lockout;
  return options;
}

RetryPolicy MailRetryPolicy(const Config& config) {
  RetryPolicy policy;
  policy.base = config.mail_retry_base;
  policy.max_attempts = config.mail_max_attempts;
  return policy;
}

AccessHistoryService::Options AccessHistoryOptions(const Config& config) {
  AccessHistoryService::Options options;
  options.page_token_key = PageTokenKeyFromSecretFile(config.secret_key_file);
  options.max_watch_streams = config.max_watch_streams;
  return options;
}

bool IsLoopbackAddress(const std::string& address) {
  return absl::StartsWith(address, "127.") || absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:") || absl::StartsWith(address, "unix:");
}

absl::Status ValidateConfig(const Config& config) {
  if (config.listen_address.empty()) {
    return absl::InvalidArgumentError("listen_address is empty; set it to host:port");
  }
  if (config.database_url.empty()) {
    return absl::InvalidArgumentError(
        "database_url is empty; set it to a PostgreSQL URL such as "
        "postgresql://user@127.0.0.1:5432/accessdelegation");
  }
  if (config.database_pool_size < 1 || config.database_pool_size > 256) {
    return absl::InvalidArgumentError("database_pool_size must be between 1 and 256");
  }
  if (config.database_acquire_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("database_acquire_timeout must be positive, such as 1s");
  }
  if (config.password_hash_threads < 1 || config.password_hash_queue < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("password_hash_threads and password_hash_queue must be at least 1, got ",
                     config.password_hash_threads, " and ", config.password_hash_queue));
  }
  if (config.grant_cache_entries < 1) {
    return absl::InvalidArgumentError(absl::StrCat("grant_cache_entries must be at least 1, got ",
                                                   config.grant_cache_entries));
  }
  if (config.max_receive_message_bytes < kMinReceiveMessageBytes ||
      config.max_receive_message_bytes > kMaxReceiveMessageBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_receive_message_bytes must be between ", kMinReceiveMessageBytes,
                     " and ", kMaxReceiveMessageBytes, "; got ", config.max_receive_message_bytes));
  }
  if (config.max_watch_streams < 1 || config.max_watch_streams > kMaxWatchStreams) {
    return absl::InvalidArgumentError(absl::StrCat("max_watch_streams must be between 1 and ",
                                                   kMaxWatchStreams, "; got ",
                                                   config.max_watch_streams));
  }
  if (config.rpc_min_pollers < 1 || config.rpc_max_pollers < config.rpc_min_pollers ||
      config.rpc_max_pollers > kMaxPollers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rpc_min_pollers and rpc_max_pollers must satisfy 1 <= rpc_min_pollers <= "
        "rpc_max_pollers <= ",
        kMaxPollers, "; got ", config.rpc_min_pollers, " and ", config.rpc_max_pollers));
  }
  if (absl::Status status = ValidateMailConfig(config); !status.ok()) return status;
  if (!absl::StartsWith(config.portal_base_url, "https://") &&
      !absl::StartsWith(config.portal_base_url, "http://")) {
    return absl::InvalidArgumentError(
        "portal_base_url must start with https:// or http://, such as https://portal.example.org");
  }
  if (config.invitation_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("invitation_ttl must be positive, such as 168h");
  }
  if (config.session_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("session_ttl must be positive, such as 12h");
  }
  if (config.session_idle_timeout <= kSessionTouchPrecision) {
    return absl::InvalidArgumentError(absl::StrCat(
        "session_idle_timeout must be longer than ", absl::FormatDuration(kSessionTouchPrecision),
        ", the interval at which session use is recorded, or a session in use can expire; got ",
        absl::FormatDuration(config.session_idle_timeout), "; set it to such as 30m"));
  }
  if (config.request_id_retention <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("request_id_retention must be positive, such as 24h");
  }
  if (config.sign_in_delay_after_failures < 0 || config.sign_in_lockout_after_failures < 0 ||
      config.peer_sign_in_failure_limit < 0 || config.peer_token_failure_limit < 0 ||
      config.invitations_per_owner_per_day < 0) {
    return absl::InvalidArgumentError(
        "sign_in_delay_after_failures, sign_in_lockout_after_failures, "
        "peer_sign_in_failure_limit, peer_token_failure_limit and "
        "invitations_per_owner_per_day must be 0 (no limit) or positive");
  }
  if (config.sign_in_base_delay <= absl::ZeroDuration() ||
      config.sign_in_lockout <= absl::ZeroDuration() ||
      config.peer_limit_window <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "sign_in_base_delay, sign_in_lockout and peer_limit_window must be positive, such as "
        "1s, 15m and 15m");
  }
  if (config.secret_key_file.empty()) {
    return absl::InvalidArgumentError("secret_key_file is empty; set it to a file path");
  }
  if (config.default_phone_region.size() != 2) {
    return absl::InvalidArgumentError(
        "default_phone_region must be a two-letter ISO 3166-1 code such as US");
  }
  if (config.outbox_poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("outbox_poll_interval must be positive");
  }
  if (config.outbox_workers < 1 || config.outbox_workers > kMaxOutboxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat("outbox_workers must be between 1 and ",
                                                   kMaxOutboxWorkers, "; got ",
                                                   config.outbox_workers));
  }
  if (config.health_check_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("health_check_interval must be positive");
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls_cert_file and tls_key_file go together; set both for TLS or neither");
  }
  const bool tls = !config.tls_cert_file.empty();
  if (!tls && !config.tls_client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "tls_client_ca_file needs TLS; set tls_cert_file and tls_key_file too");
  }
  if (!tls && !config.allow_insecure_plaintext && !IsLoopbackAddress(config.listen_address)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen_address ", config.listen_address,
        " is not loopback, and plaintext would expose tokens on the network; set "
        "tls_cert_file and tls_key_file, or allow_insecure_plaintext behind a TLS proxy"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPemFile(const std::string& setting, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat(setting, ": cannot read ", path, "; check the path and permissions"));
  }
  std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (content.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(setting, ": ", path, " is not a PEM file"));
  }
  return content;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> BuildCredentials(const Config& config) {
  if (config.tls_cert_file.empty()) return grpc::InsecureServerCredentials();

  absl::StatusOr<std::string> cert = ReadPemFile("tls_cert_file", config.tls_cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile("tls_key_file", config.tls_key_file);
  if (!key.ok()) return key.status();

  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  if (!config.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> client_ca =
        ReadPemFile("tls_client_ca_file", config.tls_client_ca_file);
    if (!client_ca.ok()) return client_ca.status();
    options.pem_root_certs = *std::move(client_ca);
    // A client certificate is optional, because end users authenticate with session
    // tokens; one that is presented must verify against the CA.
    options.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

PasswordHasher::Options PasswordHasherOptions(const Config& config) {
  PasswordHasher::Options options;
  options.threads = config.password_hash_threads;
  options.max_queued = config.password_hash_queue;
  return options;
}

GrantView::Options GrantViewOptions(const Config& config) {
  GrantView::Options options;
  options.max_entries = static_cast<size_t>(config.grant_cache_entries);
  return options;
}

// Feeds the listener's notifications to `view` and logs connection changes.
storage::ChangeListener::Handlers ListenerHandlers(GrantView& view) {
  storage::ChangeListener::Handlers handlers;
  handlers.on_grant_change = [&view](const std::string& owner_id, const std::string& delegate_id) {
    view.OnGrantChange(owner_id, delegate_id);
  };
  handlers.on_account_change = [&view](const std::string& account_id) {
    view.OnAccountChange(account_id);
  };
  handlers.on_reset = [&view](const absl::Status& status) {
    if (status.ok()) {
      spdlog::info("listening for grant changes; the grant view starts empty");
    } else {
      spdlog::warn("listening for grant changes failed, so checks read the database until "
                   "the listener reconnects: {}",
                   status.ToString());
    }
    view.OnListenerReset(status);
  };
  handlers.on_position = [&view](uint64_t position, bool covers_handled) {
    view.OnPosition(position, covers_handled);
  };
  return handlers;
}

class ServerImpl final : public Server {
 public:
  ServerImpl(std::unique_ptr<storage::Store> store, std::unique_ptr<storage::Store> read_store,
             std::unique_ptr<SecretBox> secret_box, std::unique_ptr<Authenticator> authenticator,
             std::unique_ptr<MailTransport> mail_transport, std::string page_token_key,
             const Config& config)
      : config_(config),
        store_(std::move(store)),
        read_store_(std::move(read_store)),
        grant_view_(store_.get(), read_store_.get(), GrantViewOptions(config)),
        change_listener_(config.database_url, ListenerHandlers(grant_view_)),
        password_hasher_(PasswordHasherOptions(config)),
        secret_box_(std::move(secret_box)),
        authenticator_(std::move(authenticator)),
        sign_in_peers_("failed sign-ins", config.peer_sign_in_failure_limit,
                       config.peer_limit_window),
        token_peers_("unknown or dead invitation tokens", config.peer_token_failure_limit,
                     config.peer_limit_window),
        accounts_(store_.get(), &grant_view_, &password_hasher_, authenticator_.get(),
                  AccountsOptions(config), &sign_in_peers_, &token_peers_),
        access_delegation_(
            store_.get(), &grant_view_, &password_hasher_, authenticator_.get(), secret_box_.get(),
            {config.invitation_ttl, config.portal_base_url, config.invitations_per_owner_per_day},
            &token_peers_),
        access_history_(store_.get(), authenticator_.get(), AccessHistoryOptions(config)),
        operations_(store_.get(), authenticator_.get(), std::move(page_token_key)),
        deliverer_(store_.get(), secret_box_.get(), std::move(mail_transport), config.mail_from,
                   config.outbox_poll_interval, config.outbox_workers, MailRetryPolicy(config),
                   &metrics_),
        grant_sweeper_(store_.get(), config.portal_base_url, kGrantSweepInterval,
                       kGrantExpiryWarning, RetentionOptions(config)) {
    grant_view_.SetFenceRequester([this] { change_listener_.RequestFence(); });
    store_->SetEmailQueuedListener([this] { deliverer_.Wake(); });
  }

  ~ServerImpl() override {
    Shutdown(absl::ZeroDuration());
    Wait();
  }

  absl::Status Listen(std::shared_ptr<grpc::ServerCredentials> credentials) {
    if (!config_.metrics_address.empty()) {
      if (absl::Status status = metrics_.Serve(config_.metrics_address); !status.ok()) {
        return status;
      }
    }

    // Referencing the health messages links their descriptors in, so that reflection
    // can describe grpc.health.v1.Health; gRPC's built-in service serves it.
    grpc::health::v1::HealthCheckRequest::descriptor();
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    InstallProtobufLogHandler();
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_.listen_address, std::move(credentials), &port_);
    builder.SetMaxReceiveMessageSize(config_.max_receive_message_bytes);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS,
                                config_.rpc_min_pollers);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                                config_.rpc_max_pollers);
    builder.RegisterService(&accounts_);
    builder.RegisterService(&access_delegation_);
    builder.RegisterService(&access_history_);
    builder.RegisterService(&operations_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    std::vector<std::string> services = {"grpc.health.v1.Health",
                                         "grpc.reflection.v1alpha.ServerReflection"};
    for (const char* name : kHealthServices) {
      if (*name != '\0') services.emplace_back(name);
    }
    interceptors.push_back(std::make_unique<CallInterceptorFactory>(&metrics_, services));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.listen_address,
                                                 "; is the port in use or the host wrong?"));
    }

    CheckHealth();
    health_thread_ = std::thread([this] { MonitorHealth(); });
    deliverer_.Start();
    grant_sweeper_.Start();
    return absl::OkStatus();
  }

  int port() const override { return port_; }
  int metrics_port() const override { return metrics_.port(); }

  void Shutdown(absl::Duration grace) override {
    {
      absl::MutexLock lock(&mutex_);
      if (shutting_down_) return;
      shutting_down_ = true;
    }
    spdlog::info("shutting down: health is NOT_SERVING, new calls are rejected, in-flight "
                 "calls have {} to finish",
                 absl::FormatDuration(grace));
    if (health_thread_.joinable()) health_thread_.join();
    access_history_.BeginShutdown();
    if (server_ != nullptr) {
      SetHealth(false);
      server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
    }
    deliverer_.Stop();
    grant_sweeper_.Stop();
    spdlog::info("server on port {} stopped", port_);
  }

  void Wait() override {
    if (server_ != nullptr) server_->Wait();
  }

 private:
  void SetHealth(bool serving) {
    grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
    for (const char* service : kHealthServices) health->SetServingStatus(service, serving);
  }

  // Sets health from whether the database responds and refreshes the gauges that mirror
  // it and the grant view. Logs each change of health once.
  void CheckHealth() {
    metrics_.SetGrantViewSize(grant_view_.size(), grant_view_.options().max_entries);
    absl::StatusOr<storage::StoreStats> stats = store_->ReadStats();
    const bool serving = stats.ok();
    if (serving) metrics_.Update(*stats);
    if (serving != serving_) {
      if (serving) {
        spdlog::info("database answers; health is SERVING");
      } else {
        spdlog::error("database check failed; health is NOT_SERVING: {}",
                      stats.status().ToString());
      }
      serving_ = serving;
    }
    SetHealth(serving);
  }

  void MonitorHealth() {
    while (true) {
      {
        absl::MutexLock lock(&mutex_);
        if (mutex_.AwaitWithTimeout(absl::Condition(&shutting_down_),
                                    config_.health_check_interval)) {
          return;
        }
      }
      CheckHealth();
    }
  }

  const Config config_;
  Metrics metrics_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Store> read_store_;  // Null without read_database_url.
  GrantView grant_view_;
  // Declared after grant_view_, so that it stops before the view it feeds is destroyed.
  storage::ChangeListener change_listener_;
  PasswordHasher password_hasher_;
  std::unique_ptr<SecretBox> secret_box_;
  std::unique_ptr<Authenticator> authenticator_;
  PeerThrottle sign_in_peers_;
  PeerThrottle token_peers_;
  AccountsService accounts_;
  AccessDelegationService access_delegation_;
  AccessHistoryService access_history_;
  OperationsService operations_;
  MailDeliverer deliverer_;
  GrantSweeper grant_sweeper_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::thread health_thread_;
  // Written only by CheckHealth, which runs on the start-up thread and then only on the
  // health thread.
  std::optional<bool> serving_;

  absl::Mutex mutex_;
  bool shutting_down_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace

int DefaultPasswordHashThreads() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const Config& config) {
  if (absl::Status status = ValidateConfig(config); !status.ok()) return status;
  if (absl::Status status = InitializeCrypto(); !status.ok()) return status;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = BuildCredentials(config);
  if (!credentials.ok()) return credentials.status();

  absl::StatusOr<ServiceTokens> service_tokens = ServiceTokens::LoadFile(config.service_token_file);
  if (!service_tokens.ok()) return service_tokens.status();
  const size_t service_token_count = service_tokens->size();
  if (service_token_count == 0) {
    spdlog::warn("no service tokens configured: CreateAccount and CheckAccess will reject "
                 "every call; set --service_token_file");
  }

  std::error_code error;
  const std::filesystem::path key_directory =
      std::filesystem::path(config.secret_key_file).parent_path();
  if (!key_directory.empty()) std::filesystem::create_directories(key_directory, error);
  absl::StatusOr<SecretBox> secret_box = SecretBox::LoadOrCreate(config.secret_key_file);
  if (!secret_box.ok()) return secret_box.status();
  absl::StatusOr<std::string> page_token_key = DerivePageTokenKey(config.secret_key_file);
  if (!page_token_key.ok()) return page_token_key.status();
  absl::StatusOr<std::unique_ptr<MailTransport>> mail_transport = CreateMailTransport(config);
  if (!mail_transport.ok()) return mail_transport.status();

  if (config.apply_migrations) {
    const std::string& migrate_url =
        config.migrate_database_url.empty() ? config.database_url : config.migrate_database_url;
    absl::StatusOr<std::vector<int>> applied = storage::ApplyMigrations(migrate_url);
    if (!applied.ok()) return applied.status();
    spdlog::info("database schema is current; migrations applied now: {}",
                 applied->empty() ? std::string("none") : absl::StrJoin(*applied, ", "));
  }
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::OpenPostgresStore(config.database_url, config.database_pool_size,
                                 config.database_acquire_timeout);
  if (!store.ok()) return store.status();
  std::unique_ptr<storage::Store> read_store;
  if (!config.read_database_url.empty()) {
    absl::StatusOr<std::unique_ptr<storage::Store>> standby =
        storage::OpenPostgresStore(config.read_database_url, config.database_pool_size,
                                   config.database_acquire_timeout);
    if (!standby.ok()) return standby.status();
    read_store = *std::move(standby);
  }

  auto authenticator = std::make_unique<Authenticator>(store->get(), *std::move(service_tokens),
                                                       !config.tls_client_ca_file.empty(),
                                                       config.session_idle_timeout);
  auto server = std::make_unique<ServerImpl>(
      *std::move(store), std::move(read_store), std::make_unique<SecretBox>(*std::move(secret_box)),
      std::move(authenticator), *std::move(mail_transport), *std::move(page_token_key), config);
  if (absl::Status status = server->Listen(*std::move(credentials)); !status.ok()) return status;
  spdlog::info("serving on {} (port {}, {}{}), {} service token(s), mail to {}, metrics {}",
               config.listen_address, server->port(),
               config.tls_cert_file.empty() ? "plaintext" : "TLS",
               config.tls_client_ca_file.empty() ? "" : " with client certificates",
               service_token_count,
               config.mail_transport == "smtp" ? config.smtp_url : config.mail_dir,
               server->metrics_port() == 0
                   ? std::string("off")
                   : absl::StrCat("on port ", server->metrics_port(), " at /metrics"));
  return server;
}

}  // namespace accessdelegation::server
