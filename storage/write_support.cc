#include "storage/write_support.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "accessdelegation/v1/access_delegation.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "storage/pg_types.h"
#include "storage/postgres_store.h"

namespace accessdelegation::storage {
namespace {

// Inserts the key unless it exists. ON CONFLICT waits for a concurrent transaction that
// inserted the same key, so of racing retries exactly one proceeds to the write.
constexpr Statement kClaimIdempotencyKey = {"claim_idempotency_key", R"sql(
INSERT INTO idempotency_keys (caller, method, request_id, fingerprint)
VALUES ($1, $2, $3, $4)
ON CONFLICT (caller, method, request_id) DO NOTHING
RETURNING 1
)sql"};

constexpr Statement kSelectIdempotencyKey = {"select_idempotency_key", R"sql(
SELECT fingerprint, response
FROM idempotency_keys
WHERE caller = $1 AND method = $2 AND request_id = $3
)sql"};

constexpr Statement kStoreIdempotentResult = {"store_idempotent_result", R"sql(
UPDATE idempotency_keys SET response = $4
WHERE caller = $1 AND method = $2 AND request_id = $3
)sql"};

void TimeToProto(absl::Time time, google::protobuf::Timestamp* timestamp) {
  const int64_t micros = absl::ToUnixMicros(time);
  timestamp->set_seconds(micros / 1000000);
  timestamp->set_nanos(static_cast<int32_t>((micros % 1000000) * 1000));
}

absl::Time TimeFromProto(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixMicros(timestamp.seconds() * 1000000 + timestamp.nanos() / 1000);
}

// Records travel as the API's resources, with the version in the etag field as decimal
// text.
void ToResource(const InvitationRecord& record, v1::Invitation* invitation) {
  invitation->set_invitation_id(record.id);
  invitation->set_owner_account_id(record.owner_account_id);
  invitation->set_email(record.email);
  invitation->set_first_name(record.first_name);
  invitation->set_last_name(record.last_name);
  invitation->set_access_level(record.access_level);
  invitation->set_state(record.state);
  invitation->set_invitee_account_id(record.invitee_account_id);
  invitation->set_grant_id(record.grant_id);
  TimeToProto(record.create_time, invitation->mutable_create_time());
  TimeToProto(record.update_time, invitation->mutable_update_time());
  TimeToProto(record.expire_time, invitation->mutable_expire_time());
  invitation->set_etag(absl::StrCat(record.version));
  if (record.grant_expire_time.has_value()) {
    TimeToProto(*record.grant_expire_time, invitation->mutable_grant_expire_time());
  }
}

bool FromResource(const v1::Invitation& invitation, InvitationRecord* record) {
  record->id = invitation.invitation_id();
  record->owner_account_id = invitation.owner_account_id();
  record->email = invitation.email();
  record->first_name = invitation.first_name();
  record->last_name = invitation.last_name();
  record->access_level = invitation.access_level();
  record->state = invitation.state();
  record->invitee_account_id = invitation.invitee_account_id();
  record->grant_id = invitation.grant_id();
  record->create_time = TimeFromProto(invitation.create_time());
  record->update_time = TimeFromProto(invitation.update_time());
  record->expire_time = TimeFromProto(invitation.expire_time());
  if (invitation.has_grant_expire_time()) {
    record->grant_expire_time = TimeFromProto(invitation.grant_expire_time());
  }
  return absl::SimpleAtoi(invitation.etag(), &record->version);
}

void ToResource(const GrantRecord& record, v1::Grant* grant) {
  grant->set_grant_id(record.id);
  grant->set_owner_account_id(record.owner_account_id);
  grant->set_delegate_account_id(record.delegate_account_id);
  grant->set_delegate_email(record.delegate_email);
  grant->set_delegate_first_name(record.delegate_first_name);
  grant->set_delegate_last_name(record.delegate_last_name);
  grant->set_access_level(record.access_level);
  grant->set_invitation_id(record.invitation_id);
  TimeToProto(record.create_time, grant->mutable_create_time());
  TimeToProto(record.update_time, grant->mutable_update_time());
  grant->set_etag(absl::StrCat(record.version));
  if (record.expire_time.has_value()) {
    TimeToProto(*record.expire_time, grant->mutable_expire_time());
  }
  grant->set_owner_first_name(record.owner_first_name);
  grant->set_owner_last_name(record.owner_last_name);
  grant->set_state(record.state);
  if (record.end_time.has_value()) TimeToProto(*record.end_time, grant->mutable_end_time());
}

bool FromResource(const v1::Grant& grant, GrantRecord* record) {
  record->id = grant.grant_id();
  record->owner_account_id = grant.owner_account_id();
  record->delegate_account_id = grant.delegate_account_id();
  record->delegate_email = grant.delegate_email();
  record->delegate_first_name = grant.delegate_first_name();
  record->delegate_last_name = grant.delegate_last_name();
  record->access_level = grant.access_level();
  record->invitation_id = grant.invitation_id();
  record->create_time = TimeFromProto(grant.create_time());
  record->update_time = TimeFromProto(grant.update_time());
  if (grant.has_expire_time()) record->expire_time = TimeFromProto(grant.expire_time());
  record->owner_first_name = grant.owner_first_name();
  record->owner_last_name = grant.owner_last_name();
  record->state = grant.state();
  if (grant.has_end_time()) record->end_time = TimeFromProto(grant.end_time());
  return absl::SimpleAtoi(grant.etag(), &record->version);
}

// Returns `text` as a JSON string literal.
std::string JsonString(absl::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&quoted, "\\u%04x", static_cast<int>(c));
        } else {
          quoted += c;
        }
    }
  }
  quoted += "\"";
  return quoted;
}

std::string JsonTime(std::optional<absl::Time> time) {
  if (!time.has_value()) return "null";
  return JsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", *time, absl::UTCTimeZone()));
}

}  // namespace

void PrepareWriteSupportStatements(pqxx::connection& connection) {
  PrepareStatements(connection,
                    {kClaimIdempotencyKey, kSelectIdempotencyKey, kStoreIdempotentResult});
}

std::string SerializeResult(const InvitationRecord& invitation) {
  v1::Invitation resource;
  ToResource(invitation, &resource);
  return resource.SerializeAsString();
}

std::string SerializeResult(const GrantRecord& grant) {
  v1::Grant resource;
  ToResource(grant, &resource);
  return resource.SerializeAsString();
}

std::string SerializeResult(const Confirmation& confirmation) {
  v1::ConfirmInvitationResponse resource;
  ToResource(confirmation.invitation, resource.mutable_invitation());
  ToResource(confirmation.grant, resource.mutable_grant());
  return resource.SerializeAsString();
}

bool ParseResult(const std::string& bytes, InvitationRecord* invitation) {
  v1::Invitation resource;
  return resource.ParseFromString(bytes) && FromResource(resource, invitation);
}

bool ParseResult(const std::string& bytes, GrantRecord* grant) {
  v1::Grant resource;
  return resource.ParseFromString(bytes) && FromResource(resource, grant);
}

bool ParseResult(const std::string& bytes, Confirmation* confirmation) {
  v1::ConfirmInvitationResponse resource;
  return resource.ParseFromString(bytes) &&
         FromResource(resource.invitation(), &confirmation->invitation) &&
         FromResource(resource.grant(), &confirmation->grant);
}

absl::StatusOr<std::optional<std::string>> ClaimIdempotencyKey(pqxx::transaction_base& txn,
                                                               const IdempotencyKey& key) {
  if (key.request_id.empty()) return std::optional<std::string>();

  const pqxx::result claimed =
      txn.exec_prepared(kClaimIdempotencyKey.name, key.caller, key.method, key.request_id,
                        BytesParameter(key.fingerprint));
  if (!claimed.empty()) return std::optional<std::string>();

  const pqxx::result stored =
      txn.exec_prepared(kSelectIdempotencyKey.name, key.caller, key.method, key.request_id);
  if (stored.empty()) return absl::AbortedError("a concurrent request with this request_id failed; retry");
  if (ReadBytes(stored[0]["fingerprint"]) != key.fingerprint) {
    return absl::InvalidArgumentError(
        "request_id was used for a different request; send a new request_id for a new "
        "request, or resend the original request unchanged to retry it");
  }
  return std::optional<std::string>(ReadBytes(stored[0]["response"]));
}

void StoreIdempotentResult(pqxx::transaction_base& txn, const IdempotencyKey& key,
                           const std::string& result) {
  if (key.request_id.empty()) return;
  txn.exec_prepared0(kStoreIdempotentResult.name, key.caller, key.method, key.request_id,
                     BytesParameter(result));
}

const char* VersionParameter(const ExpectedVersion& version, std::string* storage) {
  if (!version.has_value()) return nullptr;
  *storage = absl::StrCat(*version);
  return storage->c_str();
}

std::string InvitationJson(const InvitationRecord& invitation) {
  return absl::StrCat(
      "{\"state\":", JsonString(InvitationStateText(invitation.state).value_or("")),
      ",\"access_level\":", JsonString(AccessLevelText(invitation.access_level).value_or("")),
      ",\"email\":", JsonString(invitation.email),
      ",\"first_name\":", JsonString(invitation.first_name),
      ",\"last_name\":", JsonString(invitation.last_name),
      ",\"invitee_account_id\":", JsonString(invitation.invitee_account_id),
      ",\"expire_time\":", JsonTime(invitation.expire_time),
      ",\"grant_expire_time\":", JsonTime(invitation.grant_expire_time),
      ",\"version\":", invitation.version, "}");
}

std::string GrantJson(const GrantRecord& grant) {
  return absl::StrCat(
      "{\"delegate_account_id\":", JsonString(grant.delegate_account_id),
      ",\"access_level\":", JsonString(AccessLevelText(grant.access_level).value_or("")),
      ",\"expire_time\":", JsonTime(grant.expire_time), ",\"version\":", grant.version, "}");
}

}  // namespace accessdelegation::storage
