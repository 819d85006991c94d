#ifndef ACCESSDELEGATION_SERVER_PASSWORD_HASHER_H_
#define ACCESSDELEGATION_SERVER_PASSWORD_HASHER_H_

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace accessdelegation::server {

// PasswordHasher runs Argon2id hashing and verification (server/secrets.h) on its own
// bounded pool of threads, which run at a lower scheduling priority than the RPC threads.
// Hashing is deliberately costly, so a burst of SignIn or SignUp calls queues here
// instead of taking every core from cheap calls such as CheckAccess.
//
// Each call blocks its caller until a worker has run it. When `max_queued` calls are
// already waiting, a call fails at once with RESOURCE_EXHAUSTED, which tells the client to
// retry after a short wait.
//
// Thread-safe.
class PasswordHasher {
 public:
  struct Options {
    int threads = 1;      // Workers; at least 1.
    int max_queued = 64;  // Calls that may wait for a worker; at least 1.
  };

  explicit PasswordHasher(Options options);
  PasswordHasher(const PasswordHasher&) = delete;
  PasswordHasher& operator=(const PasswordHasher&) = delete;

  // Finishes the queued calls and stops the workers.
  ~PasswordHasher();

  // Returns HashPassword(password). RESOURCE_EXHAUSTED when the queue is full; otherwise
  // as HashPassword.
  absl::StatusOr<std::string> Hash(const std::string& password);

  // Returns VerifyPassword(password, password_hash). RESOURCE_EXHAUSTED when the queue is
  // full.
  absl::StatusOr<bool> Verify(const std::string& password, const std::string& password_hash);

 private:
  // Runs `work` on a worker and returns when it has finished.
  absl::Status Run(const std::function<void()>& work) ABSL_LOCKS_EXCLUDED(mutex_);
  void Work() ABSL_LOCKS_EXCLUDED(mutex_);

  const Options options_;
  absl::Mutex mutex_;
  std::deque<const std::function<void()>*> queue_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_PASSWORD_HASHER_H_
