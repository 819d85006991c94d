#include "server/call_interceptor.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/logging.h>

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
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

// The field named by the last protobuf parse error on this thread, such as
// "accessdelegation.v1.SignInRequest.email"; empty when there is none. The request of a
// call is parsed on the thread that then runs its interceptor's POST_RECV_MESSAGE step.
thread_local std::string last_invalid_field;

// Returns the field named in protobuf's "String field '<name>' contains invalid UTF-8"
// message, or an empty string for any other message.
std::string InvalidUtf8Field(absl::string_view message) {
  constexpr absl::string_view kPrefix = "String field '";
  const size_t start = message.find(kPrefix);
  if (start == absl::string_view::npos) return "";
  const size_t name_start = start + kPrefix.size();
  const size_t name_end = message.find('\'', name_start);
  if (name_end == absl::string_view::npos) return "";
  return std::string(message.substr(name_start, name_end - name_start));
}

void HandleProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                       const std::string& message) {
  const std::string field = InvalidUtf8Field(message);
  std::vector<LogField> fields = {{"source", "protobuf"},
                                  {"file", filename == nullptr ? "-" : filename},
                                  {"line", std::to_string(line)},
                                  {"detail", message}};
  if (!field.empty()) {
    // A client's bad request, which the interceptor rejects with INVALID_ARGUMENT.
    last_invalid_field = field;
    LogWarning("request has invalid UTF-8", fields);
  } else if (level >= google::protobuf::LOGLEVEL_ERROR) {
    LogError("protobuf error", fields);
  } else if (level == google::protobuf::LOGLEVEL_WARNING) {
    LogWarning("protobuf warning", fields);
  } else {
    LogEvent("protobuf message", fields);
  }
}

// Returns the status for a request that failed to parse. `full_field` is the field of an
// invalid UTF-8 string, or empty when the cause is unknown.
grpc::Status UnparsableRequestStatus(absl::string_view method, absl::string_view full_field) {
  if (!full_field.empty()) {
    const size_t dot = full_field.rfind('.');
    const absl::string_view field =
        dot == absl::string_view::npos ? full_field : full_field.substr(dot + 1);
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat(field, " is not valid UTF-8; send text encoded as UTF-8"));
  }
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("the request is not a valid protobuf message for ", method,
                                   "; check the request encoding and field types"));
}

// The annotation that MarkEndedByShutdown adds.
constexpr char kEndedByKey[] = "ended_by";
constexpr char kEndedByShutdown[] = "shutdown";

bool IsServerFault(grpc::StatusCode code) {
  return code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::DATA_LOSS;
}

bool EndedByShutdown(const grpc::Status& status, const CallRecord& record) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  for (const LogField& field : record.annotations) {
    if (field.first == kEndedByKey && field.second == kEndedByShutdown) return true;
  }
  return false;
}

class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(grpc::experimental::ServerRpcInfo* info, Metrics* metrics, bool known_method)
      : info_(info),
        metrics_(metrics),
        method_(known_method ? info->method() : kUnknownMethod),
        start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      ReadRequestId(*methods->GetRecvInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // gRPC passes no message when the request failed to parse.
      unparsable_request_ = methods->GetRecvMessage() == nullptr;
      invalid_field_ = std::move(last_invalid_field);
      last_invalid_field.clear();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kRequestIdKey, request_id_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      // gRPC returns INTERNAL with no message for a request it cannot parse.
      if (unparsable_request_ && status.error_code() == grpc::StatusCode::INTERNAL) {
        status = UnparsableRequestStatus(method_, invalid_field_);
        methods->ModifySendStatus(status);
      }
      Finish(status);
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
    if (metrics_ != nullptr) metrics_->RecordRpc(method_, code, latency);

    LogLevel level = LogLevel::kInfo;
    if (IsServerFault(status.error_code()) && !EndedByShutdown(status, record)) {
      level = LogLevel::kError;
    } else if (status.ok() && IsHighVolume(method_)) {
      level = LogLevel::kDebug;
    }
    if (!IsLogged(level)) return;

    std::vector<LogField> fields = {
        {"method", method_},
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
  // The served method's path, or kUnknownMethod; it lives as long as the call.
  const char* const method_;
  const absl::Time start_;
  std::string request_id_;
  bool unparsable_request_ = false;
  std::string invalid_field_;
};

}  // namespace

void AnnotateCall(const grpc::ServerContextBase& context, absl::string_view key,
                  absl::string_view value) {
  Registry().Annotate(&context, {std::string(key), std::string(value)});
}

void MarkEndedByShutdown(const grpc::ServerContextBase& context) {
  AnnotateCall(context, kEndedByKey, kEndedByShutdown);
}

std::string RequestIdOf(const grpc::ServerContextBase& context) {
  return Registry().RequestId(&context);
}

CallInterceptorFactory::CallInterceptorFactory(Metrics* metrics,
                                               const std::vector<std::string>& services)
    : metrics_(metrics) {
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    if (service == nullptr) {
      LogWarning("service not in the descriptor pool; its calls are logged as unknown",
                 {{"service", name}});
      continue;
    }
    for (int i = 0; i < service->method_count(); ++i) {
      known_methods_.insert(absl::StrCat("/", name, "/", service->method(i)->name()));
    }
  }
}

grpc::experimental::Interceptor* CallInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const char* method = info->method();
  const bool known = method != nullptr && known_methods_.contains(absl::string_view(method));
  return new CallInterceptor(info, metrics_, known);
}

void InstallProtobufLogHandler() { google::protobuf::SetLogHandler(&HandleProtobufLog); }

}  // namespace accessdelegation::server
