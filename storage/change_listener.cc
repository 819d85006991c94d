#include "storage/change_listener.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/pg_errors.h"

namespace accessdelegation::storage {
namespace {

constexpr absl::Duration kMinReconnectDelay = absl::Milliseconds(50);
constexpr absl::Duration kMaxReconnectDelay = absl::Seconds(2);

// After this many notifications the listener returns freed memory to the system. A burst
// of changes, such as a bulk load of a million grants, arrives while a fence waits for its
// result, and libpq keeps every notification of it in memory until the result is in. The
// freed blocks would otherwise stay in the process (about 130 MB for a million changes,
// measured with glibc 2.36).
constexpr int kTrimAfterNotifications = 10000;

// Reads the WAL insert position and queues the fence notification in one autocommit
// transaction. The position is read before the notification enters the queue, which
// happens at commit.
constexpr char kFenceSql[] =
    "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint, pg_notify($1, $2)";

std::string NewFenceChannel() {
  std::random_device random;
  return absl::StrCat("accessdelegation_fence_", getpid(), "_", random(), random());
}

// Parses "g <owner> <delegate> <position>" or "a <account> <position>" and calls the
// matching handler. Payloads of another shape are ignored.
// Returns whether a handler ran.
bool Dispatch(const ChangeListener::Handlers& handlers, const std::string& payload) {
  const std::vector<std::string> parts = absl::StrSplit(payload, ' ');
  if (parts.size() == 4 && parts[0] == "g") {
    handlers.on_grant_change(parts[1], parts[2]);
    return true;
  }
  if (parts.size() == 3 && parts[0] == "a") {
    handlers.on_account_change(parts[1]);
    return true;
  }
  return false;
}

// Receiver forwards the notifications of one channel to a callback.
class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection& connection, const std::string& channel,
           std::function<void(const std::string&)> on_payload)
      : pqxx::notification_receiver(connection, channel), on_payload_(std::move(on_payload)) {}

  void operator()(const std::string& payload, int backend_pid) override { on_payload_(payload); }

 private:
  std::function<void(const std::string&)> on_payload_;
};

// Session is one connection with its LISTENs.
struct Session {
  std::unique_ptr<pqxx::connection> connection;
  std::unique_ptr<Receiver> changes;
  std::unique_ptr<Receiver> fences;

  ~Session() {
    // Receivers unregister from the connection, so they go first.
    changes.reset();
    fences.reset();
  }
};

}  // namespace

ChangeListener::ChangeListener(std::string database_url, Handlers handlers,
                               absl::Duration fence_interval)
    : database_url_(std::move(database_url)),
      handlers_(std::move(handlers)),
      fence_interval_(fence_interval),
      fence_channel_(NewFenceChannel()) {
  if (pipe2(wake_fds_, O_NONBLOCK | O_CLOEXEC) != 0) wake_fds_[0] = wake_fds_[1] = -1;
  thread_ = std::thread([this] { Run(); });
}

ChangeListener::~ChangeListener() {
  stopping_.store(true);
  Wake();
  thread_.join();
  if (wake_fds_[0] >= 0) close(wake_fds_[0]);
  if (wake_fds_[1] >= 0) close(wake_fds_[1]);
}

void ChangeListener::RequestFence() {
  if (!fence_requested_.exchange(true)) Wake();
}

void ChangeListener::Wake() {
  if (wake_fds_[1] < 0) return;
  const char byte = 0;
  // A full pipe already wakes the thread, so a failed write loses nothing.
  [[maybe_unused]] ssize_t written = write(wake_fds_[1], &byte, 1);
}

void ChangeListener::Run() {
  absl::Duration reconnect_delay = kMinReconnectDelay;
  std::unique_ptr<Session> session;
  // The position read by the fence whose notification is awaited, and its sequence number.
  std::optional<std::pair<int64_t, uint64_t>> pending_fence;
  int64_t fence_sequence = 0;
  // Whether a change arrived after the pending fence read its position.
  bool changed_during_fence = false;
  int notifications_since_trim = 0;
  absl::Time next_fence = absl::InfinitePast();

  while (!stopping_.load()) {
    try {
      if (session == nullptr) {
        pending_fence.reset();
        session = std::make_unique<Session>();
        session->connection = std::make_unique<pqxx::connection>(database_url_);
        pqxx::nontransaction(*session->connection)
            .exec(absl::StrCat("SET application_name = '", kListenerApplicationName, "'"));
        session->changes = std::make_unique<Receiver>(
            *session->connection, kChangeChannel,
            [&](const std::string& payload) {
              ++notifications_since_trim;
              if (Dispatch(handlers_, payload)) changed_during_fence = true;
            });
        session->fences = std::make_unique<Receiver>(
            *session->connection, fence_channel_, [&](const std::string& payload) {
              int64_t sequence = 0;
              if (pending_fence.has_value() && absl::SimpleAtoi(payload, &sequence) &&
                  sequence == pending_fence->first) {
                handlers_.on_position(pending_fence->second, !changed_during_fence);
                pending_fence.reset();
              }
            });
        // The receivers' LISTENs have taken effect: any change committed from here on
        // arrives, and what came before is unknown.
        handlers_.on_reset(absl::OkStatus());
        reconnect_delay = kMinReconnectDelay;
        next_fence = absl::InfinitePast();
      }

      const absl::Time now = absl::Now();
      if (!pending_fence.has_value() && (fence_requested_.exchange(false) || now >= next_fence)) {
        ++fence_sequence;
        const pqxx::row row =
            pqxx::nontransaction(*session->connection)
                .exec_params1(kFenceSql, fence_channel_, std::to_string(fence_sequence));
        pending_fence.emplace(fence_sequence, static_cast<uint64_t>(row[0].as<int64_t>()));
        changed_during_fence = false;
        next_fence = now + fence_interval_;
      }

      // Notifications that arrived with the fence's result are buffered already.
      session->connection->get_notifs();

      pollfd fds[2] = {{session->connection->sock(), POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
      const int timeout_ms = static_cast<int>(
          absl::ToInt64Milliseconds(std::max(next_fence - absl::Now(), absl::ZeroDuration())));
      if (poll(fds, 2, pending_fence.has_value() ? 1000 : timeout_ms) < 0 && errno != EINTR) {
        throw pqxx::broken_connection("poll failed");
      }
      if (fds[1].revents & POLLIN) {
        char buffer[64];
        while (read(wake_fds_[0], buffer, sizeof(buffer)) > 0) {
        }
      }
      session->connection->get_notifs();
      if (!session->connection->is_open()) throw pqxx::broken_connection("connection closed");
      if (notifications_since_trim >= kTrimAfterNotifications) {
        malloc_trim(0);
        notifications_since_trim = 0;
      }
    } catch (...) {
      if (stopping_.load()) break;
      session.reset();
      handlers_.on_reset(StatusFromCurrentException("listening for changes"));
      absl::SleepFor(reconnect_delay);
      reconnect_delay = std::min(reconnect_delay * 2, kMaxReconnectDelay);
    }
  }
}

}  // namespace accessdelegation::storage
