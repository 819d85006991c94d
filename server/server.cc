#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "server/access_delegation_service.h"
#include "server/accounts_service.h"
#include "server/auth.h"
#include "server/mail_deliverer.h"
#include "server/secrets.h"
#include "storage/store.h"

namespace accessdelegation::server {
namespace {

constexpr char kMailFrom[] = "Patient Portal <no-reply@portal.invalid>";
constexpr int kMaxMessageBytes = 64 * 1024;

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
  if (config.mail_dir.empty()) return absl::InvalidArgumentError("mail_dir is empty");
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
  return absl::OkStatus();
}

class ServerImpl final : public Server {
 public:
  ServerImpl(std::unique_ptr<storage::Store> store, std::unique_ptr<SecretBox> secret_box,
             std::unique_ptr<Authenticator> authenticator, const Config& config)
      : store_(std::move(store)),
        secret_box_(std::move(secret_box)),
        authenticator_(std::move(authenticator)),
        accounts_(store_.get(), authenticator_.get(),
                  {config.session_ttl, config.default_phone_region}),
        access_delegation_(store_.get(), authenticator_.get(), secret_box_.get(),
                           {config.invitation_ttl, config.portal_base_url}),
        deliverer_(store_.get(), secret_box_.get(), config.mail_dir, kMailFrom,
                   config.outbox_poll_interval) {}

  ~ServerImpl() override {
    Shutdown(absl::ZeroDuration());
    Wait();
  }

  absl::Status Listen(const std::string& address) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();

    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
    builder.RegisterService(&accounts_);
    builder.RegisterService(&access_delegation_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", address, "; is the port in use or the host wrong?"));
    }
    server_->GetHealthCheckService()->SetServingStatus(true);
    deliverer_.Start();
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Shutdown(absl::Duration grace) override {
    {
      absl::MutexLock lock(&mutex_);
      if (shut_down_) return;
      shut_down_ = true;
    }
    if (server_ != nullptr) {
      server_->GetHealthCheckService()->SetServingStatus(false);
      server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
    }
    deliverer_.Stop();
    spdlog::info("server on port {} stopped", port_);
  }

  void Wait() override {
    if (server_ != nullptr) server_->Wait();
  }

 private:
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<SecretBox> secret_box_;
  std::unique_ptr<Authenticator> authenticator_;
  AccountsService accounts_;
  AccessDelegationService access_delegation_;
  MailDeliverer deliverer_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  absl::Mutex mutex_;
  bool shut_down_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const Config& config) {
  if (absl::Status status = ValidateConfig(config); !status.ok()) return status;
  if (absl::Status status = InitializeCrypto(); !status.ok()) return status;

  absl::StatusOr<ServiceTokens> service_tokens = ServiceTokens::LoadFile(config.service_token_file);
  if (!service_tokens.ok()) return service_tokens.status();
  if (service_tokens->size() == 0) {
    spdlog::warn("no service tokens configured: CreateAccount and CheckAccess will reject "
                 "every call; set --service_token_file");
  }

  std::error_code error;
  const std::filesystem::path key_directory =
      std::filesystem::path(config.secret_key_file).parent_path();
  if (!key_directory.empty()) std::filesystem::create_directories(key_directory, error);
  absl::StatusOr<SecretBox> secret_box = SecretBox::LoadOrCreate(config.secret_key_file);
  if (!secret_box.ok()) return secret_box.status();

  if (config.apply_migrations) {
    absl::StatusOr<std::vector<int>> applied = storage::ApplyMigrations(config.database_url);
    if (!applied.ok()) return applied.status();
    spdlog::info("database schema is current; migrations applied now: {}",
                 applied->empty() ? std::string("none")
                                  : absl::StrJoin(*applied, ", "));
  }
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::OpenPostgresStore(config.database_url, config.database_pool_size);
  if (!store.ok()) return store.status();

  const size_t service_token_count = service_tokens->size();
  auto authenticator = std::make_unique<Authenticator>(store->get(), *std::move(service_tokens));
  auto server = std::make_unique<ServerImpl>(
      *std::move(store), std::make_unique<SecretBox>(*std::move(secret_box)),
      std::move(authenticator), config);
  if (absl::Status status = server->Listen(config.listen_address); !status.ok()) return status;
  spdlog::info("serving on {} (port {}), {} service token(s), mail to {}", config.listen_address,
               server->port(), service_token_count, config.mail_dir);
  return server;
}

}  // namespace accessdelegation::server
