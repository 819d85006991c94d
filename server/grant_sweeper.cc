#include "server/grant_sweeper.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/time/clock.h"
#include "server/emails.h"

namespace accessdelegation::server {
namespace {

// The most rounds of one SweepOnce, so a store that keeps reporting work cannot hold the
// thread forever; the next run picks up the rest.
constexpr int kMaxRoundsPerSweep = 100;

storage::Actor SystemActor() {
  storage::Actor actor;
  actor.kind = "system";
  actor.id = "";
  actor.request_id = "-";
  actor.peer = "grant-sweeper";
  return actor;
}

}  // namespace

GrantSweeper::GrantSweeper(storage::Store* store, std::string portal_base_url,
                           absl::Duration interval, absl::Duration warning_window,
                           storage::PurgeOptions retention)
    : store_(store),
      portal_base_url_(std::move(portal_base_url)),
      interval_(interval),
      warning_window_(warning_window),
      retention_(retention) {}

GrantSweeper::~GrantSweeper() { Stop(); }

void GrantSweeper::Start() { thread_ = std::thread([this] { Run(); }); }

void GrantSweeper::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<storage::SweepResult> GrantSweeper::SweepOnce(absl::Time now) {
  storage::SweepOptions options;
  options.now = now;
  options.warning_window = warning_window_;
  options.compose_expired = [this](const storage::GrantEmailContext& context) {
    return GrantExpiredEmails(context, portal_base_url_);
  };
  options.compose_expiring = [this](const storage::GrantEmailContext& context) {
    return GrantExpiringEmails(context, portal_base_url_);
  };

  storage::SweepResult total;
  for (int round = 0; round < kMaxRoundsPerSweep; ++round) {
    absl::StatusOr<storage::SweepResult> result =
        store_->SweepExpiredGrants(SystemActor(), options);
    if (!result.ok()) return result.status();
    total.expired += result->expired;
    total.notified += result->notified;
    total.warned += result->warned;
    if (result->expired == 0 && result->notified == 0 && result->warned == 0) break;
  }
  return total;
}

absl::StatusOr<storage::PurgeResult> GrantSweeper::PurgeOnce(absl::Time now) {
  storage::PurgeOptions options = retention_;
  options.now = now;

  storage::PurgeResult total;
  for (int round = 0; round < kMaxRoundsPerSweep; ++round) {
    absl::StatusOr<storage::PurgeResult> result = store_->PurgeStaleRecords(options);
    if (!result.ok()) return result.status();
    total.request_ids += result->request_ids;
    total.sign_in_throttles += result->sign_in_throttles;
    total.sessions += result->sessions;
    if (result->request_ids == 0 && result->sign_in_throttles == 0 && result->sessions == 0) {
      break;
    }
  }
  return total;
}

void GrantSweeper::Run() {
  while (true) {
    absl::StatusOr<storage::SweepResult> result = SweepOnce(absl::Now());
    if (!result.ok()) {
      spdlog::warn("grant sweep failed: {}", result.status().ToString());
    } else if (result->expired + result->notified + result->warned > 0) {
      spdlog::info("grant sweep: {} grants expired, {} expiry notices and {} warnings queued",
                   result->expired, result->notified, result->warned);
    }

    absl::StatusOr<storage::PurgeResult> purged = PurgeOnce(absl::Now());
    if (!purged.ok()) {
      spdlog::warn("purge of stale records failed: {}", purged.status().ToString());
    } else if (purged->request_ids + purged->sign_in_throttles + purged->sessions > 0) {
      spdlog::info("purged {} request ids, {} sign-in throttles and {} ended sessions",
                   purged->request_ids, purged->sign_in_throttles, purged->sessions);
    }

    absl::MutexLock lock(&mutex_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return stopping_; };
    if (mutex_.AwaitWithTimeout(absl::Condition(&stopping), interval_)) return;
  }
}

}  // namespace accessdelegation::server
