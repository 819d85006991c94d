#ifndef ACCESSDELEGATION_SERVER_RPC_SUPPORT_H_
#define ACCESSDELEGATION_SERVER_RPC_SUPPORT_H_

#include "absl/strings/string_view.h"

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/resources.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "storage/store.h"

namespace accessdelegation::server {

// Returns `status` as a grpc::Status: the code numbers of the two libraries match, and
// the message is copied. A retry delay payload (see storage/retry_delay.h) becomes a
// google.rpc.Status with a RetryInfo detail in the status details.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Returns the outcome of handler `method` as a grpc::Status. The call interceptor logs
// it with the call's annotations (see AnnotateCall). Server faults (UNAVAILABLE, INTERNAL,
// UNKNOWN, DATA_LOSS) are logged here in full and reach the caller with a generic message
// and the request id.
grpc::Status CompleteRpc(const grpc::ServerContextBase& context, absl::string_view method,
                         const absl::Status& status);

// Returns `status` with its message replaced when its code is `code`; other statuses
// pass through unchanged. Turns the store's codes into messages for API callers.
absl::Status RewordStatus(const absl::Status& status, absl::StatusCode code,
                          absl::string_view message);

void ToProto(absl::Time time, google::protobuf::Timestamp* timestamp);
void ToProto(const storage::AccountRecord& record, v1::Account* account);
void ToProto(const storage::InvitationRecord& record, v1::Invitation* invitation);
void ToProto(const storage::GrantRecord& record, v1::Grant* grant);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_RPC_SUPPORT_H_
