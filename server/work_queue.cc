#include "server/work_queue.h"

#include <algorithm>
#include <utility>

namespace accessdelegation::server {

WorkQueue::WorkQueue(int threads, size_t max_queued) : max_queued_(std::max<size_t>(max_queued, 1)) {
  const int count = std::max(threads, 1);
  workers_.reserve(count);
  for (int i = 0; i < count; ++i) workers_.emplace_back([this] { Work(); });
}

WorkQueue::~WorkQueue() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

bool WorkQueue::TrySchedule(std::function<void()> task) {
  absl::MutexLock lock(&mutex_);
  if (tasks_.size() >= max_queued_) return false;
  tasks_.push_back(std::move(task));
  return true;
}

void WorkQueue::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || !tasks_.empty();
      };
      mutex_.Await(absl::Condition(&ready));
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace accessdelegation::server
