#ifndef ACCESSDELEGATION_SERVER_GRANT_SWEEPER_H_
#define ACCESSDELEGATION_SERVER_GRANT_SWEEPER_H_

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace accessdelegation::server {

// How long before a grant's expire_time its owner and delegate get the "about to expire"
// emails.
inline constexpr absl::Duration kGrantExpiryWarning = absl::Hours(72);

// GrantSweeper runs the store's upkeep in the background. Store::SweepExpiredGrants marks
// grants past their expire_time as expired (audited as the system) and queues the
// "expired" and "about to expire" emails, each once. CheckAccess and the lists do not wait
// for it: they treat a grant past its expire_time as gone at once. Store::PurgeStaleRecords
// then deletes request_ids, sign-in throttles and sessions that no longer matter.
//
//   GrantSweeper sweeper(store, portal_base_url, absl::Minutes(1));
//   sweeper.Start();
//   ...
//   sweeper.Stop();
class GrantSweeper {
 public:
  // `store` must outlive the sweeper. `interval` is the pause between runs. `retention`
  // sets what PurgeOnce deletes; its `now` is ignored.
  GrantSweeper(storage::Store* store, std::string portal_base_url, absl::Duration interval,
               absl::Duration warning_window = kGrantExpiryWarning,
               storage::PurgeOptions retention = {});
  ~GrantSweeper();

  GrantSweeper(const GrantSweeper&) = delete;
  GrantSweeper& operator=(const GrantSweeper&) = delete;

  // Starts the background thread. Call once.
  void Start();

  // Finishes the current run and stops the thread. Idempotent.
  void Stop();

  // Sweeps now, as of `now`, until nothing is left; returns the totals. Errors are the
  // store's.
  absl::StatusOr<storage::SweepResult> SweepOnce(absl::Time now);

  // Purges stale records as of `now` until nothing is left; returns the totals. Errors
  // are the store's.
  absl::StatusOr<storage::PurgeResult> PurgeOnce(absl::Time now);

 private:
  void Run();

  storage::Store* const store_;
  const std::string portal_base_url_;
  const absl::Duration interval_;
  const absl::Duration warning_window_;
  const storage::PurgeOptions retention_;

  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_GRANT_SWEEPER_H_
