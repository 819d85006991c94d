#ifndef ACCESSDELEGATION_SERVER_WORK_QUEUE_H_
#define ACCESSDELEGATION_SERVER_WORK_QUEUE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace accessdelegation::server {

// WorkQueue runs tasks on its own fixed set of threads, oldest first. Handlers on gRPC's
// callback API use it for work that blocks, such as a database read, because blocking
// would stall the gRPC threads that serve every other call.
//
// Thread-safe.
class WorkQueue {
 public:
  // Starts `threads` workers (at least 1). At most `max_queued` tasks (at least 1) wait
  // for a worker.
  WorkQueue(int threads, size_t max_queued);
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Runs the tasks still queued, then stops the workers.
  ~WorkQueue();

  // Queues `task` and returns true, or returns false without queueing it when
  // `max_queued` tasks are waiting already.
  bool TrySchedule(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  void Work() ABSL_LOCKS_EXCLUDED(mutex_);

  const size_t max_queued_;
  absl::Mutex mutex_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_WORK_QUEUE_H_
