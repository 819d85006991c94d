#include "server/rpc_support.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "google/rpc/status.pb.h"
#include "server/call_interceptor.h"
#include "server/logging.h"
#include "storage/retry_delay.h"

namespace accessdelegation::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const auto retry_info = status.GetPayload(storage::kRetryInfoTypeUrl);
  if (!retry_info.has_value()) return grpc::Status(code, std::string(status.message()));

  google::rpc::Status details;
  details.set_code(static_cast<int32_t>(status.code()));
  details.set_message(std::string(status.message()));
  google::protobuf::Any* any = details.add_details();
  any->set_type_url(storage::kRetryInfoTypeUrl);
  any->set_value(std::string(*retry_info));
  return grpc::Status(code, std::string(status.message()), details.SerializeAsString());
}

grpc::Status CompleteRpc(const grpc::ServerContextBase& context, absl::string_view method,
                         const absl::Status& status) {
  // Database and internal errors can name hosts, ports and SQL states, which callers
  // need not see: they get a generic message with the request id, and the log the detail.
  const bool unavailable = status.code() == absl::StatusCode::kUnavailable;
  if (!unavailable && status.code() != absl::StatusCode::kInternal &&
      status.code() != absl::StatusCode::kUnknown && status.code() != absl::StatusCode::kDataLoss) {
    return ToGrpcStatus(status);
  }
  const std::string request_id = RequestIdOf(context);
  LogError("call failed with a server error",
           {{"method", std::string(method)},
            {"request_id", request_id},
            {"error", status.ToString()}});
  const std::string message =
      unavailable
          ? absl::StrCat("the service is temporarily unavailable; retry later (request id ",
                         request_id, ")")
          : absl::StrCat("internal error; the server log has the details under request id ",
                         request_id);
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

absl::Status RewordStatus(const absl::Status& status, absl::StatusCode code,
                          absl::string_view message) {
  if (status.code() != code) return status;
  return absl::Status(code, message);
}

void ToProto(absl::Time time, google::protobuf::Timestamp* timestamp) {
  const int64_t micros = absl::ToUnixMicros(time);
  int64_t seconds = micros / 1000000;
  int64_t remainder = micros % 1000000;
  if (remainder < 0) {
    remainder += 1000000;
    --seconds;
  }
  timestamp->set_seconds(seconds);
  timestamp->set_nanos(static_cast<int32_t>(remainder * 1000));
}

void ToProto(const storage::AccountRecord& record, v1::Account* account) {
  account->set_account_id(record.id);
  account->set_email(record.email);
  account->set_first_name(record.first_name);
  account->set_last_name(record.last_name);
  account->set_phone_number(record.phone_e164);
  ToProto(record.create_time, account->mutable_create_time());
}

void ToProto(const storage::InvitationRecord& record, v1::Invitation* invitation) {
  invitation->set_invitation_id(record.id);
  invitation->set_owner_account_id(record.owner_account_id);
  invitation->set_email(record.email);
  invitation->set_first_name(record.first_name);
  invitation->set_last_name(record.last_name);
  invitation->set_access_level(record.access_level);
  invitation->set_state(record.state);
  invitation->set_invitee_account_id(record.invitee_account_id);
  invitation->set_grant_id(record.grant_id);
  ToProto(record.create_time, invitation->mutable_create_time());
  ToProto(record.update_time, invitation->mutable_update_time());
  ToProto(record.expire_time, invitation->mutable_expire_time());
}

void ToProto(const storage::GrantRecord& record, v1::Grant* grant) {
  grant->set_grant_id(record.id);
  grant->set_owner_account_id(record.owner_account_id);
  grant->set_delegate_account_id(record.delegate_account_id);
  grant->set_delegate_email(record.delegate_email);
  grant->set_delegate_first_name(record.delegate_first_name);
  grant->set_delegate_last_name(record.delegate_last_name);
  grant->set_access_level(record.access_level);
  grant->set_invitation_id(record.invitation_id);
  ToProto(record.create_time, grant->mutable_create_time());
  ToProto(record.update_time, grant->mutable_update_time());
  grant->set_state(record.state);
  if (record.end_time.has_value()) ToProto(*record.end_time, grant->mutable_end_time());
}

}  // namespace accessdelegation::server
