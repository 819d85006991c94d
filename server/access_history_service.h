#ifndef ACCESSDELEGATION_SERVER_ACCESS_HISTORY_SERVICE_H_
#define ACCESSDELEGATION_SERVER_ACCESS_HISTORY_SERVICE_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/access_history.grpc.pb.h"
#include "server/auth.h"
#include "storage/store.h"

namespace accessdelegation::server {

// Returns a 32-byte key for page tokens, derived with BLAKE2b from the key in
// `secret_key_file`, so that every server sharing that file accepts the others' tokens.
// When the file cannot be read, logs an error and returns a random key: tokens then work
// only on this server until it restarts.
std::string PageTokenKeyFromSecretFile(const std::string& secret_key_file);

// AccessHistoryService implements accessdelegation.v1.AccessHistory with gRPC's
// synchronous API. Each WatchAccessChanges stream holds one thread of the server's pool
// while it runs and polls the database every `watch_poll_interval`. At most
// `max_watch_streams` streams run at once, and one more fails with RESOURCE_EXHAUSTED.
class AccessHistoryService final : public v1::AccessHistory::Service {
 public:
  struct Options {
    std::string page_token_key;  // 32 bytes; see PageTokenKeyFromSecretFile.
    absl::Duration watch_poll_interval = absl::Milliseconds(100);
    int max_watch_streams = 32;
  };

  // `store` and `authenticator` must outlive the service.
  AccessHistoryService(storage::Store* store, const Authenticator* authenticator, Options options);

  grpc::Status ListAuditEvents(grpc::ServerContext* context,
                               const v1::ListAuditEventsRequest* request,
                               v1::ListAuditEventsResponse* response) override;
  grpc::Status WatchAccessChanges(
      grpc::ServerContext* context, const v1::WatchAccessChangesRequest* request,
      grpc::ServerWriter<v1::WatchAccessChangesResponse>* writer) override;

  // Ends every open WatchAccessChanges stream within one poll interval, with UNAVAILABLE
  // asking the client to resume from its last cursor, so that the streams do not hold a
  // shutdown for its whole grace period. New streams end the same way. Call when the
  // server begins to shut down.
  void BeginShutdown();

 private:
  absl::Status DoListAuditEvents(const grpc::ServerContext& context,
                                 const v1::ListAuditEventsRequest& request,
                                 v1::ListAuditEventsResponse& response);
  absl::Status DoWatchAccessChanges(grpc::ServerContext& context,
                                    const v1::WatchAccessChangesRequest& request,
                                    grpc::ServerWriter<v1::WatchAccessChangesResponse>& writer);

  // Returns the page token that continues `query` below event id `before_id`.
  std::string EncodePageToken(const storage::AuditEventQuery& query, int64_t before_id) const;

  // Returns the event id that `token` continues below. INVALID_ARGUMENT unless this
  // service issued the token for the same filters as `query`.
  absl::StatusOr<int64_t> DecodePageToken(const storage::AuditEventQuery& query,
                                          const std::string& token) const;

  storage::Store* const store_;
  const Authenticator* const authenticator_;
  const Options options_;
  std::atomic<int> watch_streams_{0};
  std::atomic<bool> shutting_down_{false};
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_ACCESS_HISTORY_SERVICE_H_
