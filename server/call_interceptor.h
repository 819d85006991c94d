#ifndef ACCESSDELEGATION_SERVER_CALL_INTERCEPTOR_H_
#define ACCESSDELEGATION_SERVER_CALL_INTERCEPTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_interceptor.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "server/metrics.h"

namespace accessdelegation::server {

// The metadata key of the request id: read from the call if the caller sent one,
// otherwise generated, and sent back in the response's initial metadata.
inline constexpr char kRequestIdKey[] = "x-request-id";

// Adds a field to the access log line of the call running in `context`, such as the
// caller's kind or the id of a record the call touched. Fields must hold no secrets.
// A no-op for calls that the interceptor does not see.
void AnnotateCall(const grpc::ServerContextBase& context, absl::string_view key,
                  absl::string_view value);

// Marks the call running in `context` as ended by the server's shutdown. Its UNAVAILABLE
// status is then logged at info level with ended_by=shutdown, as an expected end rather
// than a server fault.
void MarkEndedByShutdown(const grpc::ServerContextBase& context);

// Returns the request id of the call running in `context`, or "-" if it has none.
std::string RequestIdOf(const grpc::ServerContextBase& context);

// The method name that logs and metrics give a call to a method the server does not
// serve, so that callers cannot add a metric series per made-up name.
inline constexpr char kUnknownMethod[] = "unknown";

// CallInterceptorFactory creates, for every call, an interceptor that assigns the
// request id, and on completion records the call in `metrics` and writes one access log
// line (method, code, duration, peer, request id and the call's annotations). The line is
// at error level for a server fault (INTERNAL, UNAVAILABLE, UNKNOWN, DATA_LOSS) other than
// the end of a call marked by MarkEndedByShutdown, at debug
// level for a successful CheckAccess or health check, and at info level otherwise.
// A request that fails to parse, such as one with invalid UTF-8 in a string field, gets
// INVALID_ARGUMENT naming the field in place of gRPC's INTERNAL with no message.
class CallInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` must outlive every call. `services` are the full names of the services the
  // server registers, such as "grpc.health.v1.Health"; calls to any other method are
  // logged and counted as kUnknownMethod.
  CallInterceptorFactory(Metrics* metrics, const std::vector<std::string>& services);

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  Metrics* const metrics_;
  // Paths of the served methods, such as "/grpc.health.v1.Health/Check".
  absl::flat_hash_set<std::string> known_methods_;
};

// Routes the protobuf library's log messages to the JSON server log instead of plain
// lines on stderr. A parse error is also kept for the interceptor of the call that hit it,
// which names the bad field in its status. Call once at start-up.
void InstallProtobufLogHandler();

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_CALL_INTERCEPTOR_H_
