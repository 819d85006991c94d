#include "server/peer_throttle.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/call_interceptor.h"
#include "server/logging.h"
#include "storage/retry_delay.h"

namespace accessdelegation::server {
namespace {

// Peers beyond this many trigger a sweep of ended windows on the next failure.
constexpr size_t kSweepThreshold = 10000;

}  // namespace

std::string PeerAddressOf(const grpc::ServerContextBase& context) {
  const std::string peer = context.peer();
  if (!absl::StartsWith(peer, "ipv4:") && !absl::StartsWith(peer, "ipv6:")) return peer;
  const size_t port_colon = peer.rfind(':');
  const size_t scheme_colon = peer.find(':');
  if (port_colon == std::string::npos || port_colon == scheme_colon) return peer;
  return peer.substr(scheme_colon + 1, port_colon - scheme_colon - 1);
}

PeerThrottle::PeerThrottle(std::string description, int max_failures, absl::Duration window)
    : description_(std::move(description)), max_failures_(max_failures), window_(window) {}

absl::Status PeerThrottle::Check(const std::string& peer, absl::Time now) const {
  if (max_failures_ <= 0) return absl::OkStatus();
  absl::MutexLock lock(&mutex_);
  auto it = windows_.find(peer);
  if (it == windows_.end()) return absl::OkStatus();
  const absl::Time window_end = it->second.start + window_;
  if (window_end <= now || it->second.failures < max_failures_) return absl::OkStatus();
  return storage::ResourceExhaustedWithRetry(
      absl::StrCat("too many ", description_, " from this network address"), window_end - now, now);
}

bool PeerThrottle::RecordFailure(const std::string& peer, absl::Time now) {
  if (max_failures_ <= 0) return false;
  absl::MutexLock lock(&mutex_);
  if (windows_.size() >= kSweepThreshold) DropEndedWindows(now);
  Window& window = windows_[peer];
  if (window.failures == 0 || window.start + window_ <= now) {
    window.start = now;
    window.failures = 0;
  }
  ++window.failures;
  return window.failures == max_failures_;
}

void PeerThrottle::DropEndedWindows(absl::Time now) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (it->second.start + window_ <= now) {
      windows_.erase(it++);
    } else {
      ++it;
    }
  }
}

void RecordPeerFailure(const grpc::ServerContextBase& context, PeerThrottle& throttle,
                       const std::string& peer) {
  if (!throttle.RecordFailure(peer, absl::Now())) return;
  LogWarning(absl::StrCat("peer address reached its limit of ", throttle.description()),
             {{"request_id", RequestIdOf(context)}, {"peer", peer}});
}

}  // namespace accessdelegation::server
