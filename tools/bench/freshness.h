#ifndef ACCESSDELEGATION_TOOLS_BENCH_FRESHNESS_H_
#define ACCESSDELEGATION_TOOLS_BENCH_FRESHNESS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"

namespace accessdelegation::bench {

// LiveGrant is a grant that allows PERMISSION_VIEW_APPOINTMENTS until it is revoked.
struct LiveGrant {
  std::string grant_id;
  std::string delegate_account_id;
  std::string owner_account_id;
};

// FreshnessSettings configure MeasureFreshness.
struct FreshnessSettings {
  // Service token for RevokeGrant on server A and CheckAccess on server B.
  std::string service_token;
  // Revokes per pass; each pass uses its own grants.
  int revokes = 200;
  // How long B may keep answering "allowed" after a revoke before the revoke counts as
  // never seen.
  absl::Duration give_up_after = absl::Seconds(5);
  absl::Duration call_timeout = absl::Seconds(10);
};

// FreshnessResult is the outcome of one pass of MeasureFreshness.
struct FreshnessResult {
  // Whether this pass sent the consistency token; false for the pass without it.
  bool with_token = false;
  // False when the pass asked for the token but the API has no consistency_token field
  // yet, in which case nothing was measured.
  bool available = true;
  int revokes = 0;
  // CheckAccess answers "allowed" from B to checks sent after A's revoke reply.
  int64_t stale_answers = 0;
  // Revokes after which B still answered "allowed" at give_up_after.
  int64_t never_denied = 0;
  // Failed calls and grants that B did not allow before the revoke.
  int64_t errors = 0;
  // Time from A's revoke reply to B's first "denied" answer, which includes one
  // CheckAccess round trip.
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

// Returns whether RevokeGrantResponse and CheckAccessRequest both have a string field
// named consistency_token in the compiled API. MeasureFreshness passes the token through
// protobuf reflection, so no code changes when the field is added.
bool ConsistencyTokenAvailable();

// Revokes settings.revokes grants one after another through server A and, after each
// revoke's reply, polls CheckAccess on server B until B answers "denied". Runs a pass
// without the consistency token on the first settings.revokes grants, then, when
// ConsistencyTokenAvailable(), a pass with it on the next ones. `grants` needs
// 2 * settings.revokes entries; fewer give shorter passes. Each revoked grant stays revoked.
std::vector<FreshnessResult> MeasureFreshness(const FreshnessSettings& settings,
                                              const std::shared_ptr<grpc::Channel>& server_a,
                                              const std::shared_ptr<grpc::Channel>& server_b,
                                              const std::vector<LiveGrant>& grants);

}  // namespace accessdelegation::bench

#endif  // ACCESSDELEGATION_TOOLS_BENCH_FRESHNESS_H_
