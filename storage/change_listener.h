#ifndef ACCESSDELEGATION_STORAGE_CHANGE_LISTENER_H_
#define ACCESSDELEGATION_STORAGE_CHANGE_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace accessdelegation::storage {

// The channel on which migration 0005 announces grant and account changes.
inline constexpr char kChangeChannel[] = "accessdelegation_changes";

// The application_name of the listener's connection, so that operators (and tests) can
// find it in pg_stat_activity.
inline constexpr char kListenerApplicationName[] = "accessdelegation-listener";

// ChangeListener receives the change notifications that the triggers of migration 0005
// send, on one dedicated PostgreSQL connection, and passes them to its handlers on its
// own thread, in commit order.
//
// Positions. A fence is a transaction on the listener's connection that reads the WAL
// insert position P and sends a notification to a channel only this listener uses.
// PostgreSQL delivers notifications in the order their transactions queued them, so once
// the fence's own notification arrives, every notification of a transaction that
// committed before P has been handled. on_position(P) then reports it. Fences run when
// RequestFence is called and every `fence_interval`.
//
// Connection loss. When the connection breaks, on_reset runs at once, since changes made
// while nobody listens are lost; the listener reconnects with back-off and runs on_reset
// again after LISTEN has taken effect and before any notification is handled.
//
// Thread-safe: RequestFence may be called from any thread. Handlers run on the
// listener's thread and must not block for long.
class ChangeListener {
 public:
  struct Handlers {
    // A grant row of this owner and delegate changed.
    std::function<void(const std::string& owner_id, const std::string& delegate_id)>
        on_grant_change;
    // An account was created, deleted or removed.
    std::function<void(const std::string& account_id)> on_account_change;
    // The connection broke or could not be opened (`status` says why), or it (re)started
    // listening (`status` OK).
    std::function<void(const absl::Status& status)> on_reset;
    // Every change committed before `position` (WAL bytes) has been handled. When
    // `covers_handled` is true, the reverse holds too: every change handled so far
    // committed before `position`, because none arrived while the fence was in flight.
    std::function<void(uint64_t position, bool covers_handled)> on_position;
  };

  // Starts the listener thread. `database_url` is a libpq URL or connection string of the
  // primary.
  ChangeListener(std::string database_url, Handlers handlers,
                 absl::Duration fence_interval = absl::Milliseconds(200));
  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;

  // Stops the thread and closes the connection.
  ~ChangeListener();

  // Asks for a fence as soon as possible; requests made while one is pending coalesce.
  void RequestFence();

 private:
  void Run();
  void Wake();

  const std::string database_url_;
  const Handlers handlers_;
  const absl::Duration fence_interval_;
  const std::string fence_channel_;  // Unique to this listener.

  std::atomic<bool> stopping_{false};
  std::atomic<bool> fence_requested_{false};
  int wake_fds_[2] = {-1, -1};  // A pipe that RequestFence and the destructor write to.
  std::thread thread_;
};

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_CHANGE_LISTENER_H_
