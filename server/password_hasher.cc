#include "server/password_hasher.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/secrets.h"

namespace accessdelegation::server {
namespace {

// The nice value of the workers: above the RPC threads' 0, so that the scheduler prefers
// the RPC threads when both are runnable.
constexpr int kWorkerNiceness = 10;

}  // namespace

PasswordHasher::PasswordHasher(Options options) : options_(options) {
  const int threads = std::max(1, options_.threads);
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

PasswordHasher::~PasswordHasher() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

absl::StatusOr<std::string> PasswordHasher::Hash(const std::string& password) {
  absl::StatusOr<std::string> hash;
  absl::Status status = Run([&] { hash = HashPassword(password); });
  if (!status.ok()) return status;
  return hash;
}

absl::StatusOr<bool> PasswordHasher::Verify(const std::string& password,
                                            const std::string& password_hash) {
  bool matches = false;
  absl::Status status = Run([&] { matches = VerifyPassword(password, password_hash); });
  if (!status.ok()) return status;
  return matches;
}

absl::Status PasswordHasher::Run(const std::function<void()>& work) {
  // Set under mutex_ by the worker once `work` has returned.
  bool done = false;
  const std::function<void()> task = [&] {
    work();
    absl::MutexLock lock(&mutex_);
    done = true;
  };

  absl::MutexLock lock(&mutex_);
  if (static_cast<int>(queue_.size()) >= std::max(1, options_.max_queued)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server is busy checking passwords (", queue_.size(),
        " calls waiting); retry after a short wait"));
  }
  queue_.push_back(&task);
  mutex_.Await(absl::Condition(&done));
  return absl::OkStatus();
}

void PasswordHasher::Work() {
  // Linux applies a nice value per thread when given the thread id.
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kWorkerNiceness);

  while (true) {
    const std::function<void()>* task = nullptr;
    {
      absl::MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || !queue_.empty();
      };
      mutex_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;
      task = queue_.front();
      queue_.pop_front();
    }
    (*task)();
  }
}

}  // namespace accessdelegation::server
