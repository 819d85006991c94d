#include "server/call_interceptor.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/logging.h"
#include "server/secrets.h"

namespace accessdelegation::server {
namespace {

// The longest request id taken from a caller; longer or non-printable ones are replaced
// with a generated id, so that a caller cannot flood or forge log lines.
constexpr size_t kMaxRequestIdLength = 64;

// CallRecord is what the access log line reports about a running call.
struct CallRecord {
  std::string request_id;
  std::vector<LogField> annotations;
};

// Calls in flight, by their server context. Handlers annotate them by context, which is
// all they have; the interceptor creates and removes the entries.
class CallRegistry {
 public:
  void Add(const grpc::ServerContextBase* context, std::string request_id) {
    absl::MutexLock lock(&mutex_);
    calls_[context].request_id = std::move(request_id);
  }

  void Annotate(const grpc::ServerContextBase* context, LogField field) {
    absl::MutexLock lock(&mutex_);
    auto it = calls_.find(context);
    if (it != calls_.end()) it->second.annotations.push_back(std::move(field));
  }

  std::string RequestId(const grpc::ServerContextBase* context) {
    absl::MutexLock lock(&mutex_);
    auto it = calls_.find(context);
    return it == calls_.end() ? "-" : it->second.request_id;
  }

  CallRecord Remove(const grpc::ServerContextBase* context) {
    absl::MutexLock lock(&mutex_);
    auto it = calls_.find(context);
    if (it == calls_.end()) return {};
    CallRecord record = std::move(it->second);
    calls_.erase(it);
    return record;
  }

 private:
  absl::Mutex mutex_;
  absl::flat_hash_map<const grpc::ServerContextBase*, CallRecord> calls_ ABSL_GUARDED_BY(mutex_);
};

CallRegistry& Registry() {
  // Never destroyed, so that calls finishing during process exit still find it.
  static auto* registry = new CallRegistry();
  return *registry;
}

bool IsUsableRequestId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",           "CANCELLED",         "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",    "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",   "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < static_cast<int>(std::size(kNames)) ? kNames[index] : "UNKNOWN";
}

// Methods called far more often than the others, whose successful calls are logged at
// debug level so that they do not flood the log. Their failures are logged as any
// call's, and the metrics count every call.
constexpr absl::string_view kHighVolumeMethods[] = {
    "/accessdelegation.v1.AccessDelegation/CheckAccess", "/grpc.health.v1.Health/Check"};

bool IsHighVolume(absl::string_view method) {
  for (absl::string_view high_volume : kHighVolumeMethods) {
    if (method == high_volume) return true;
  }
  return false;
}

bool IsServerFault(grpc::StatusCode code) {
  return code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::DATA_LOSS;
}

class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(grpc::experimental::ServerRpcInfo* info, Metrics* metrics)
      : info_(info), metrics_(metrics), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      ReadRequestId(*methods->GetRecvInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kRequestIdKey, request_id_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Finish(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void ReadRequestId(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
    auto it = metadata.find(kRequestIdKey);
    if (it != metadata.end()) {
      const absl::string_view sent(it->second.data(), it->second.size());
      if (IsUsableRequestId(sent)) request_id_ = std::string(sent);
    }
    if (request_id_.empty()) request_id_ = NewUuid();
    Registry().Add(info_->server_context(), request_id_);
  }

  void Finish(const grpc::Status& status) {
    const absl::Duration latency = absl::Now() - start_;
    const char* code = CodeName(status.error_code());
    CallRecord record = Registry().Remove(info_->server_context());
    if (metrics_ != nullptr) metrics_->RecordRpc(info_->method(), code, latency);

    LogLevel level = LogLevel::kInfo;
    if (IsServerFault(status.error_code())) {
      level = LogLevel::kError;
    } else if (status.ok() && IsHighVolume(info_->method())) {
      level = LogLevel::kDebug;
    }
    if (!IsLogged(level)) return;

    std::vector<LogField> fields = {
        {"method", info_->method()},
        {"code", code},
        {"duration_ms", std::to_string(absl::ToDoubleMilliseconds(latency))},
        {"request_id", request_id_.empty() ? "-" : request_id_},
        {"peer", info_->server_context()->peer()}};
    for (LogField& field : record.annotations) fields.push_back(std::move(field));
    if (level == LogLevel::kError) {
      fields.emplace_back("error", status.error_message());
      LogError("call failed", fields);
    } else {
      Log(level, "call finished", fields);
    }
  }

  grpc::experimental::ServerRpcInfo* const info_;
  Metrics* const metrics_;
  const absl::Time start_;
  std::string request_id_;
};

}  // namespace

void AnnotateCall(const grpc::ServerContextBase& context, absl::string_view key,
                  absl::string_view value) {
  Registry().Annotate(&context, {std::string(key), std::string(value)});
}

std::string RequestIdOf(const grpc::ServerContextBase& context) {
  return Registry().RequestId(&context);
}

grpc::experimental::Interceptor* CallInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new CallInterceptor(info, metrics_);
}

}  // namespace accessdelegation::server
