#ifndef ACCESSDELEGATION_STORAGE_CONNECTION_POOL_H_
#define ACCESSDELEGATION_STORAGE_CONNECTION_POOL_H_

#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace accessdelegation::storage {

// ConnectionPool lends out at most `max_size` PostgreSQL connections, opening them on
// demand. A lease returns its connection on destruction. A connection that broke, or that
// the holder discarded, is closed on return, and a new one is opened on a later Acquire.
//
// Thread-safe. Every lease must be destroyed before the pool.
//
//   ConnectionPool pool(url, 4, PrepareStatements);
//   absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
//   if (!lease.ok()) return lease.status();
//   pqxx::work txn(lease->connection());
class ConnectionPool {
 public:
  // Runs once on every newly opened connection, before its first lease; used to register
  // prepared statements. It may throw pqxx exceptions, which fail that Acquire.
  using Initializer = std::function<void(pqxx::connection&)>;

  // How long Acquire waits for a lease to end unless the constructor sets otherwise.
  static constexpr absl::Duration kDefaultAcquireTimeout = absl::Seconds(1);

  // Lease is the exclusive use of one pooled connection until it is destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    pqxx::connection& connection() const { return *connection_; }

    // Closes the connection when the lease ends instead of returning it for reuse. Call
    // it after the connection broke or its state is unknown.
    void Discard() { discard_ = true; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> connection);
    void Return();

    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<pqxx::connection> connection_;
    bool discard_ = false;
  };

  // `database_url` is a libpq URL or connection string; WithConnectionDefaults adds a
  // connect timeout and TCP keepalives to it. `max_size` must be at least 1. Acquire waits
  // at most `acquire_timeout` for a lease to end.
  ConnectionPool(std::string database_url, int max_size, Initializer initialize,
                 absl::Duration acquire_timeout = kDefaultAcquireTimeout);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Returns an idle connection, or opens one if fewer than max_size are open, or else
  // blocks until a lease ends. UNAVAILABLE if a new connection cannot be opened (libpq
  // gives up after the URL's connect_timeout) or if no lease ends within the acquire
  // timeout; an initializer failure maps as StatusFromCurrentException does.
  absl::StatusOr<Lease> Acquire() ABSL_LOCKS_EXCLUDED(mu_);

  // Usage is a snapshot of the pool's use since it was created.
  struct Usage {
    int max_size = 0;
    int leased = 0;        // Connections lent out now.
    int64_t waits = 0;     // Acquires that had to wait for a lease to end.
    absl::Duration wait_time;  // Total time those Acquires waited.
  };

  Usage GetUsage() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<Lease> OpenConnection() ABSL_LOCKS_EXCLUDED(mu_);
  void Release(std::unique_ptr<pqxx::connection> connection, bool discard) ABSL_LOCKS_EXCLUDED(mu_);
  void ForgetConnection() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string database_url_;
  const int max_size_;
  const Initializer initialize_;
  const absl::Duration acquire_timeout_;

  mutable absl::Mutex mu_;
  absl::CondVar released_;  // Signaled when a connection is returned or closed.
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  // Connections that are idle, leased, or being opened.
  int open_count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t waits_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration wait_time_ ABSL_GUARDED_BY(mu_);
};

// Returns `database_url` with libpq settings that make a lost or silent database server
// fail calls in seconds rather than hang them: connect_timeout=2 (libpq's minimum),
// TCP keepalives every 5 seconds after 10 idle seconds, and tcp_user_timeout=10000 ms.
// A setting that the URL already has is kept. `database_url` is a postgres:// or
// postgresql:// URL, or a key=value connection string.
std::string WithConnectionDefaults(const std::string& database_url);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_CONNECTION_POOL_H_
