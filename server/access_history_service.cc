#include "server/access_history_service.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/call_interceptor.h"
#include "server/rpc_support.h"
#include "server/validation.h"

namespace accessdelegation::server {
namespace {

// The status message that ends a watch stream when the server shuts down.
constexpr absl::string_view kShuttingDownMessage =
    "the server is shutting down; call WatchAccessChanges again, on this or another server, "
    "with after_cursor set to the last cursor you processed";

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 200;
constexpr int kWatchBatchSize = 100;
// Actor ids are account UUIDs, service names from the token file, or "mtls:" and a
// certificate's common name (at most 64 characters by RFC 5280).
constexpr size_t kMaxActorIdBytes = 256;
// Page tokens and cursors that this service issues are far shorter.
constexpr size_t kMaxPageTokenBytes = 256;
constexpr size_t kMaxCursorBytes = 32;
constexpr char kBadPageTokenMessage[] =
    "page_token is invalid: pass next_page_token from the previous response, with the same "
    "filters";
constexpr char kBadCursorMessage[] =
    "after_cursor is invalid: pass empty, \"0\" or a cursor from a previous response";

// The message that BLAKE2b, keyed with the secret key, hashes into the page-token key, so
// that this key differs from any other key derived from the same secret.
constexpr char kPageTokenKeyContext[] = "accessdelegation.v1.page_token";

std::string Base64UrlEncode(const std::string& bytes) {
  std::string text(
      sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(text.data(), text.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  text.resize(text.size() - 1);  // The terminating NUL.
  return text;
}

std::optional<std::string> Base64UrlDecode(const std::string& text) {
  std::string bytes(text.size(), '\0');
  size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(),
                        text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  bytes.resize(length);
  return bytes;
}

// Returns the text that a page token's MAC covers: the filters and the position.
std::string PageTokenPayload(const storage::AuditEventQuery& query, int64_t before_id) {
  const auto micros = [](const std::optional<absl::Time>& time) {
    return time.has_value() ? absl::StrCat(absl::ToUnixMicros(*time)) : std::string("-");
  };
  return absl::StrCat("audit-events/v1\n", query.owner_account_id, "\n", query.actor_id, "\n",
                      micros(query.start_time), "\n", micros(query.end_time), "\n", before_id);
}

v1::ActorKind ActorKindFromText(const std::string& kind) {
  if (kind == "account") return v1::ACTOR_KIND_ACCOUNT;
  if (kind == "service") return v1::ACTOR_KIND_SERVICE;
  if (kind == "system") return v1::ACTOR_KIND_SYSTEM;
  return v1::ACTOR_KIND_UNSPECIFIED;
}

v1::GrantChangeType GrantChangeTypeFromText(const std::string& change) {
  if (change == "CREATED") return v1::GRANT_CHANGE_TYPE_CREATED;
  if (change == "LEVEL_CHANGED") return v1::GRANT_CHANGE_TYPE_LEVEL_CHANGED;
  if (change == "REVOKED") return v1::GRANT_CHANGE_TYPE_REVOKED;
  if (change == "EXPIRED") return v1::GRANT_CHANGE_TYPE_EXPIRED;
  return v1::GRANT_CHANGE_TYPE_UNSPECIFIED;
}

void AuditEventToProto(const storage::AuditEventRecord& record, bool include_peer,
                       v1::AuditEvent* event) {
  event->set_id(record.id);
  ToProto(record.event_time, event->mutable_event_time());
  event->set_actor_kind(ActorKindFromText(record.actor_kind));
  event->set_actor_id(record.actor_id);
  event->set_owner_account_id(record.owner_account_id);
  event->set_action(record.action);
  event->set_target_type(record.target_type);
  event->set_target_id(record.target_id);
  event->set_before_json(record.before_json);
  event->set_after_json(record.after_json);
  event->set_request_id(record.request_id);
  if (include_peer) event->set_peer(record.peer);
}

void GrantChangeToProto(const storage::GrantChangeRecord& record,
                        v1::WatchAccessChangesResponse* change) {
  change->set_cursor(absl::StrCat(record.id));
  ToProto(record.change_time, change->mutable_change_time());
  change->set_change(GrantChangeTypeFromText(record.change));
  change->set_grant_id(record.grant_id);
  change->set_owner_account_id(record.owner_account_id);
  change->set_delegate_account_id(record.delegate_account_id);
  change->set_access_level(record.access_level);
}

// StreamSlot takes one of `max` places counted by `count` for as long as it lives, when
// one is free.
class StreamSlot {
 public:
  StreamSlot(std::atomic<int>* count, int max) : count_(count) {
    acquired_ = count_->fetch_add(1) < max;
  }
  ~StreamSlot() { count_->fetch_sub(1); }
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;

  bool acquired() const { return acquired_; }

 private:
  std::atomic<int>* count_;
  bool acquired_ = false;
};

// Returns the audit query that `request` asks for, with the owner a session caller may
// read filled in, but without paging.
absl::StatusOr<storage::AuditEventQuery> QueryFor(const Caller& caller,
                                                  const v1::ListAuditEventsRequest& request) {
  storage::AuditEventQuery query;
  if (!request.owner_account_id().empty()) {
    if (absl::Status status = ValidateUuid("owner_account_id", request.owner_account_id());
        !status.ok()) {
      return status;
    }
    query.owner_account_id = absl::AsciiStrToLower(request.owner_account_id());
  }
  if (caller.kind == Caller::Kind::kSession) {
    if (!query.owner_account_id.empty() && query.owner_account_id != caller.account_id) {
      return absl::PermissionDeniedError(
          "owner_account_id: a session may read only its own account's audit events");
    }
    query.owner_account_id = caller.account_id;
  }
  if (absl::Status status = ValidateOptionalText("actor_id", request.actor_id(), kMaxActorIdBytes);
      !status.ok()) {
    return status;
  }
  query.actor_id = request.actor_id();
  if (request.has_start_time()) {
    absl::StatusOr<absl::Time> start_time = ValidateTimestamp("start_time", request.start_time());
    if (!start_time.ok()) return start_time.status();
    query.start_time = *start_time;
  }
  if (request.has_end_time()) {
    absl::StatusOr<absl::Time> end_time = ValidateTimestamp("end_time", request.end_time());
    if (!end_time.ok()) return end_time.status();
    query.end_time = *end_time;
  }
  if (query.start_time.has_value() && query.end_time.has_value() &&
      *query.end_time < *query.start_time) {
    return absl::InvalidArgumentError("end_time: must not be before start_time");
  }
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size: must be 0 (for the default of 50) or more");
  }
  query.limit =
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  return query;
}

// Returns the authenticated caller, who may hold a session or a service token.
absl::StatusOr<Caller> RequireSessionOrService(const Authenticator& authenticator,
                                               const grpc::ServerContext& context) {
  absl::StatusOr<Caller> caller = authenticator.RequireSession(context);
  if (absl::IsPermissionDenied(caller.status())) return authenticator.RequireService(context);
  return caller;
}

}  // namespace

std::string PageTokenKeyFromSecretFile(const std::string& secret_key_file) {
  std::string key(crypto_auth_KEYBYTES, '\0');
  std::ifstream file(secret_key_file, std::ios::binary);
  const std::string secret((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
  if (!file.good() && !file.eof()) {
    spdlog::error(
        "cannot read {} to derive the page-token key; page tokens will work only on "
        "this server until it restarts",
        secret_key_file);
    crypto_auth_keygen(reinterpret_cast<unsigned char*>(key.data()));
    return key;
  }
  if (secret.empty()) {
    spdlog::error(
        "{} is empty, so the page-token key is random; page tokens will work only on "
        "this server until it restarts",
        secret_key_file);
    crypto_auth_keygen(reinterpret_cast<unsigned char*>(key.data()));
    return key;
  }
  crypto_generichash(reinterpret_cast<unsigned char*>(key.data()), key.size(),
                     reinterpret_cast<const unsigned char*>(kPageTokenKeyContext),
                     sizeof(kPageTokenKeyContext) - 1,
                     reinterpret_cast<const unsigned char*>(secret.data()),
                     std::min<size_t>(secret.size(), crypto_generichash_KEYBYTES_MAX));
  return key;
}

AccessHistoryService::AccessHistoryService(storage::Store* store,
                                           const Authenticator* authenticator, Options options)
    : store_(store), authenticator_(authenticator), options_(std::move(options)) {}

std::string AccessHistoryService::EncodePageToken(const storage::AuditEventQuery& query,
                                                  int64_t before_id) const {
  const std::string payload = PageTokenPayload(query, before_id);
  std::string mac(crypto_auth_BYTES, '\0');
  crypto_auth(reinterpret_cast<unsigned char*>(mac.data()),
              reinterpret_cast<const unsigned char*>(payload.data()), payload.size(),
              reinterpret_cast<const unsigned char*>(options_.page_token_key.data()));
  return absl::StrCat(before_id, ".", Base64UrlEncode(mac));
}

absl::StatusOr<int64_t> AccessHistoryService::DecodePageToken(const storage::AuditEventQuery& query,
                                                              const std::string& token) const {
  if (token.size() > kMaxPageTokenBytes) return absl::InvalidArgumentError(kBadPageTokenMessage);
  const std::vector<std::string> parts = absl::StrSplit(token, absl::MaxSplits('.', 1));
  int64_t before_id = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &before_id) || before_id <= 0) {
    return absl::InvalidArgumentError(kBadPageTokenMessage);
  }
  const std::optional<std::string> mac = Base64UrlDecode(parts[1]);
  if (!mac.has_value() || mac->size() != crypto_auth_BYTES) {
    return absl::InvalidArgumentError(kBadPageTokenMessage);
  }
  const std::string payload = PageTokenPayload(query, before_id);
  if (crypto_auth_verify(reinterpret_cast<const unsigned char*>(mac->data()),
                         reinterpret_cast<const unsigned char*>(payload.data()), payload.size(),
                         reinterpret_cast<const unsigned char*>(options_.page_token_key.data())) !=
      0) {
    return absl::InvalidArgumentError(kBadPageTokenMessage);
  }
  return before_id;
}

grpc::Status AccessHistoryService::ListAuditEvents(grpc::ServerContext* context,
                                                   const v1::ListAuditEventsRequest* request,
                                                   v1::ListAuditEventsResponse* response) {
  return CompleteRpc(*context, "ListAuditEvents", DoListAuditEvents(*context, *request, *response));
}

absl::Status AccessHistoryService::DoListAuditEvents(const grpc::ServerContext& context,
                                                     const v1::ListAuditEventsRequest& request,
                                                     v1::ListAuditEventsResponse& response) {
  absl::StatusOr<Caller> caller = RequireSessionOrService(*authenticator_, context);
  if (!caller.ok()) return caller.status();
  absl::StatusOr<storage::AuditEventQuery> query = QueryFor(*caller, request);
  if (!query.ok()) return query.status();
  if (!request.page_token().empty()) {
    absl::StatusOr<int64_t> before_id = DecodePageToken(*query, request.page_token());
    if (!before_id.ok()) return before_id.status();
    query->before_id = *before_id;
  }

  // One row beyond the page tells whether another page follows.
  const int page_size = query->limit;
  query->limit = page_size + 1;
  absl::StatusOr<std::vector<storage::AuditEventRecord>> events = store_->ListAuditEvents(*query);
  if (!events.ok()) return events.status();

  const bool more = static_cast<int>(events->size()) > page_size;
  if (more) events->resize(page_size);
  const bool include_peer = caller->kind == Caller::Kind::kService;
  for (const storage::AuditEventRecord& event : *events) {
    AuditEventToProto(event, include_peer, response.add_events());
  }
  if (more) {
    query->limit = page_size;
    response.set_next_page_token(EncodePageToken(*query, events->back().id));
  }
  return absl::OkStatus();
}

grpc::Status AccessHistoryService::WatchAccessChanges(
    grpc::ServerContext* context, const v1::WatchAccessChangesRequest* request,
    grpc::ServerWriter<v1::WatchAccessChangesResponse>* writer) {
  const absl::Status status = DoWatchAccessChanges(*context, *request, *writer);
  // The end of a stream at shutdown is expected and its message names the next step for the
  // client. It skips CompleteRpc, which replaces the message of every UNAVAILABLE status.
  if (absl::IsUnavailable(status) && status.message() == kShuttingDownMessage) {
    MarkEndedByShutdown(*context);
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(kShuttingDownMessage));
  }
  return CompleteRpc(*context, "WatchAccessChanges", status);
}

absl::Status AccessHistoryService::DoWatchAccessChanges(
    grpc::ServerContext& context, const v1::WatchAccessChangesRequest& request,
    grpc::ServerWriter<v1::WatchAccessChangesResponse>& writer) {
  absl::StatusOr<Caller> caller = authenticator_->RequireService(context);
  if (!caller.ok()) return caller.status();
  StreamSlot slot(&watch_streams_, options_.max_watch_streams);
  if (!slot.acquired()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "WatchAccessChanges: this server already runs ", options_.max_watch_streams,
        " streams, its maximum; retry later with backoff, or share one stream among the "
        "readers of a back end"));
  }

  int64_t cursor = 0;
  if (request.after_cursor().empty()) {
    absl::StatusOr<int64_t> latest = store_->LatestGrantChangeId();
    if (!latest.ok()) return latest.status();
    cursor = *latest;
  } else if (request.after_cursor().size() > kMaxCursorBytes ||
             !absl::SimpleAtoi(request.after_cursor(), &cursor) || cursor < 0) {
    return absl::InvalidArgumentError(kBadCursorMessage);
  }
  // Sends the initial metadata now, so the client sees the stream open before any change.
  writer.SendInitialMetadata();

  while (!context.IsCancelled()) {
    if (shutting_down_.load(std::memory_order_relaxed)) {
      return absl::UnavailableError(kShuttingDownMessage);
    }
    absl::StatusOr<std::vector<storage::GrantChangeRecord>> changes =
        store_->ListGrantChanges(cursor, kWatchBatchSize);
    if (!changes.ok()) return changes.status();
    for (const storage::GrantChangeRecord& change : *changes) {
      v1::WatchAccessChangesResponse response;
      GrantChangeToProto(change, &response);
      if (!writer.Write(response)) return absl::CancelledError("the client closed the stream");
      cursor = change.id;
    }
    if (static_cast<int>(changes->size()) < kWatchBatchSize) {
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(options_.watch_poll_interval));
    }
  }
  return absl::CancelledError("the call was cancelled");
}

void AccessHistoryService::BeginShutdown() {
  shutting_down_.store(true, std::memory_order_relaxed);
}

}  // namespace accessdelegation::server
