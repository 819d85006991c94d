#ifndef ACCESSDELEGATION_SERVER_PEER_THROTTLE_H_
#define ACCESSDELEGATION_SERVER_PEER_THROTTLE_H_

#include <grpcpp/server_context.h>

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace accessdelegation::server {

// Returns the network address of the call's peer without its port, such as
// "127.0.0.1" or "[::1]", so that one client's connections share a count. Other
// peers, such as Unix sockets, are returned whole.
std::string PeerAddressOf(const grpc::ServerContextBase& context);

// PeerThrottle limits the failures of one kind (wrong passwords, dead
// invitation tokens) per peer address: after `max_failures` failures in a
// window of `window` that started with the peer's first failure, the peer is
// refused until the window ends.
//
// The counts live in this process's memory only. Each server replica counts on
// its own, so N replicas behind a load balancer allow up to N times the limit,
// and a restart clears the counts. Per-account limits that must hold across
// replicas are kept in the database (Store::BeginSignIn). Thread-safe.
class PeerThrottle {
 public:
  // `description` names the failures in messages, such as "failed sign-ins".
  // `max_failures` of 0 or less disables the limit.
  PeerThrottle(std::string description, int max_failures, absl::Duration window);

  // Returns RESOURCE_EXHAUSTED with a retry delay (see storage/retry_delay.h)
  // while `peer` is at its limit, and OK otherwise.
  absl::Status Check(const std::string& peer, absl::Time now) const;

  // Counts a failure of `peer`. Returns true when this failure reached the
  // limit.
  bool RecordFailure(const std::string& peer, absl::Time now);

  const std::string& description() const { return description_; }

 private:
  struct Window {
    absl::Time start;
    int failures = 0;
  };

  // Drops the windows that ended by `now`, so that the map holds only recent
  // peers.
  void DropEndedWindows(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const std::string description_;
  const int max_failures_;
  const absl::Duration window_;
  mutable absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Window> windows_ ABSL_GUARDED_BY(mutex_);
};

// Counts a failure of the call's `peer` in `throttle` now, and logs a warning
// with the request id and peer when this failure reaches the limit.
void RecordPeerFailure(const grpc::ServerContextBase& context, PeerThrottle& throttle,
                       const std::string& peer);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_PEER_THROTTLE_H_
