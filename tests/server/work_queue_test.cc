#include "server/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "absl/synchronization/notification.h"

namespace accessdelegation::server {
namespace {

TEST(WorkQueueTest, RunsScheduledTasks) {
  std::atomic<int> runs{0};
  absl::Notification done;
  WorkQueue queue(2, 10);

  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(queue.TrySchedule([&] {
      if (runs.fetch_add(1) + 1 == 5) done.Notify();
    }));
  }

  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(runs.load(), 5);
}

TEST(WorkQueueTest, RejectsTaskWhenQueueIsFull) {
  absl::Notification started;
  absl::Notification release;
  WorkQueue queue(1, 1);
  ASSERT_TRUE(queue.TrySchedule([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();
  ASSERT_TRUE(queue.TrySchedule([] {}));

  const bool queued = queue.TrySchedule([] {});

  release.Notify();
  EXPECT_FALSE(queued);
}

TEST(WorkQueueTest, DestructorRunsQueuedTasks) {
  std::atomic<int> runs{0};
  absl::Notification release;
  {
    WorkQueue queue(1, 10);
    ASSERT_TRUE(queue.TrySchedule([&] { release.WaitForNotification(); }));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue.TrySchedule([&] { runs.fetch_add(1); }));
    release.Notify();
  }

  EXPECT_EQ(runs.load(), 3);
}

}  // namespace
}  // namespace accessdelegation::server
