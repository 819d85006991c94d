// Feeds arbitrary bytes as request messages to every RPC of the four AccessDelegation
// services, in process. The first input byte picks the method. The second picks the caller:
// no credentials, a live session, a service token, or an unknown token. The rest is the
// serialized request, which gRPC parses as the method's request type before the handler
// runs. The services run as in the server binary, with its interceptor and message size
// limit, over an in-process channel (no socket). They run on FuzzStore rather than
// PostgreSQL: see fuzz_store.h for what that store simulates.
//
// Properties:
// - no crash and no sanitizer report;
// - every call ends within its deadline, so no handler hangs;
// - no call ends with UNKNOWN, which is what gRPC returns when a handler throws.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/logging.h"
#include "server/access_delegation_service.h"
#include "server/access_history_service.h"
#include "server/accounts_service.h"
#include "server/auth.h"
#include "server/call_interceptor.h"
#include "server/grant_view.h"
#include "server/metrics.h"
#include "server/operations_service.h"
#include "server/password_hasher.h"
#include "server/peer_throttle.h"
#include "server/secrets.h"
#include "tests/fuzz/fuzz_store.h"
#include "tests/fuzz/fuzz_support.h"

namespace accessdelegation::fuzz {
namespace {

constexpr char kSessionToken[] = "fuzz-session-token";
constexpr char kServiceToken[] = "fuzz-service-token";
// Fixed, so that saved inputs replay the same way.
constexpr char kSecretKey[] = "fedcba9876543210fedcba9876543210";
constexpr const char* kServices[] = {
    "accessdelegation.v1.Accounts", "accessdelegation.v1.AccessDelegation",
    "accessdelegation.v1.AccessHistory", "accessdelegation.v1.Operations"};
// The server binary's default limit (server/server.h).
constexpr int kMaxReceiveMessageBytes = 64 * 1024;
// The failure limit of both peer throttles. Every input comes from one peer, so the limit
// is far above what a fuzzing run reaches in a window, and no call stops at the throttle.
constexpr int kPeerFailureLimit = 1 << 30;

// Harness is the in-process server and a generic client of it, built once per process.
class Harness {
 public:
  Harness() {
    // Most inputs are malformed on purpose, so logs would only slow the run down.
    spdlog::set_level(spdlog::level::off);
    google::protobuf::SetLogHandler(nullptr);
    FUZZ_CHECK(server::InitializeCrypto().ok());

    const std::string key_path = MakeTemporaryDirectory() + "/secret.key";
    WriteFileOrDie(key_path, kSecretKey);
    absl::StatusOr<server::SecretBox> secret_box = server::SecretBox::LoadOrCreate(key_path);
    FUZZ_CHECK(secret_box.ok());
    secret_box_ = std::make_unique<server::SecretBox>(*std::move(secret_box));

    absl::StatusOr<server::ServiceTokens> service_tokens = server::ServiceTokens::Parse(
        "fuzz", absl::StrCat("fuzzer ", absl::BytesToHexString(server::HashToken(kServiceToken))));
    FUZZ_CHECK(service_tokens.ok());
    store_ = std::make_unique<FuzzStore>(server::HashToken(kSessionToken));
    authenticator_ = std::make_unique<server::Authenticator>(
        store_.get(), *std::move(service_tokens), /*accept_client_certificates=*/false,
        /*session_idle_timeout=*/absl::Minutes(30));

    // No change listener feeds the view, so it caches nothing and every check reads the
    // store. A short token_wait keeps checks that carry a consistency token from waiting
    // the server's 50 ms for a position that never arrives.
    server::GrantView::Options view_options;
    view_options.max_entries = 1024;
    view_options.token_wait = absl::Milliseconds(1);
    grant_view_ = std::make_unique<server::GrantView>(store_.get(), /*standby=*/nullptr,
                                                      view_options);
    server::PasswordHasher::Options hasher_options;
    hasher_options.threads = 1;
    hasher_options.max_queued = 4;
    password_hasher_ = std::make_unique<server::PasswordHasher>(hasher_options);
    sign_in_peers_ = std::make_unique<server::PeerThrottle>("failed sign-ins", kPeerFailureLimit,
                                                            absl::Minutes(1));
    token_peers_ = std::make_unique<server::PeerThrottle>("unknown or dead invitation tokens",
                                                          kPeerFailureLimit, absl::Minutes(1));

    server::AccountsService::Options accounts_options;
    accounts_options.session_ttl = absl::Hours(12);
    accounts_options.default_phone_region = "US";
    accounts_ = std::make_unique<server::AccountsService>(
        store_.get(), grant_view_.get(), password_hasher_.get(), authenticator_.get(),
        accounts_options, sign_in_peers_.get(), token_peers_.get());
    server::AccessDelegationService::Options access_options;
    access_options.invitation_ttl = absl::Hours(24 * 7);
    access_options.portal_base_url = "https://portal.invalid";
    access_options.invitations_per_owner_per_day = 50;  // The server's default.
    access_delegation_ = std::make_unique<server::AccessDelegationService>(
        store_.get(), grant_view_.get(), password_hasher_.get(), authenticator_.get(),
        secret_box_.get(), access_options, token_peers_.get());
    server::AccessHistoryService::Options history_options;
    history_options.page_token_key = std::string(32, 'k');
    access_history_ = std::make_unique<server::AccessHistoryService>(
        store_.get(), authenticator_.get(), history_options);
    operations_ = std::make_unique<server::OperationsService>(store_.get(), authenticator_.get(),
                                                              std::string(32, 'o'));

    grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
    builder.RegisterService(accounts_.get());
    builder.RegisterService(access_delegation_.get());
    builder.RegisterService(access_history_.get());
    builder.RegisterService(operations_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(std::make_unique<server::CallInterceptorFactory>(
        &metrics_, std::vector<std::string>(std::begin(kServices), std::end(kServices))));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    server_ = builder.BuildAndStart();
    FUZZ_CHECK(server_ != nullptr);
    stub_ = std::make_unique<grpc::GenericStub>(server_->InProcessChannel(grpc::ChannelArguments()));

    const google::protobuf::DescriptorPool* pool =
        google::protobuf::DescriptorPool::generated_pool();
    for (const char* service_name : kServices) {
      const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(service_name);
      FUZZ_CHECK(service != nullptr);
      for (int i = 0; i < service->method_count(); ++i) {
        methods_.push_back(absl::StrCat("/", service_name, "/", service->method(i)->name()));
      }
    }
  }

  // Sends `request` to method number `method_index` (modulo the method count) as the
  // caller that `caller_kind` picks and returns the call's status.
  grpc::Status Call(uint8_t method_index, uint8_t caller_kind, const grpc::ByteBuffer& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    switch (caller_kind % 4) {
      case 1:
        context.AddMetadata("authorization", absl::StrCat("Bearer ", kSessionToken));
        break;
      case 2:
        context.AddMetadata("authorization", absl::StrCat("Bearer ", kServiceToken));
        break;
      case 3:
        context.AddMetadata("authorization", "Bearer unknown-token");
        break;
      default:
        break;
    }

    grpc::ByteBuffer response;
    grpc::Status status;
    absl::Notification done;
    stub_->UnaryCall(&context, methods_[method_index % methods_.size()], grpc::StubOptions(),
                     &request, &response, [&](grpc::Status call_status) {
                       status = std::move(call_status);
                       done.Notify();
                     });
    done.WaitForNotification();
    return status;
  }

 private:
  server::Metrics metrics_;
  std::unique_ptr<server::SecretBox> secret_box_;
  std::unique_ptr<FuzzStore> store_;
  std::unique_ptr<server::Authenticator> authenticator_;
  std::unique_ptr<server::GrantView> grant_view_;
  std::unique_ptr<server::PasswordHasher> password_hasher_;
  std::unique_ptr<server::PeerThrottle> sign_in_peers_;
  std::unique_ptr<server::PeerThrottle> token_peers_;
  std::unique_ptr<server::AccountsService> accounts_;
  std::unique_ptr<server::AccessDelegationService> access_delegation_;
  std::unique_ptr<server::AccessHistoryService> access_history_;
  std::unique_ptr<server::OperationsService> operations_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::vector<std::string> methods_;
};

}  // namespace
}  // namespace accessdelegation::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Never destroyed: libFuzzer may exit from any thread, and gRPC's threads outlive main.
  static auto* const harness = new accessdelegation::fuzz::Harness();
  if (size < 2) return 0;

  grpc::Slice slice(data + 2, size - 2);
  const grpc::ByteBuffer request(&slice, 1);
  const grpc::Status status = harness->Call(data[0], data[1], request);
  FUZZ_CHECK(status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED);
  FUZZ_CHECK(status.error_code() != grpc::StatusCode::UNKNOWN);
  return 0;
}
