// A program for the ThreadSanitizer build that checks that the stage detects a race and
// sees absl::Mutex (see tools/sanitizers/absl_mutex_tsan.cc). Each mode runs two threads over
// one counter:
//   unguarded  no lock at all: ThreadSanitizer must report a data race
//   mutex      MutexLock around every increment
//   await      one thread waits with Mutex::Await for a flag that the other sets
//   condvar    the same with CondVar::Wait
// The last three must run without a report. Exits 0, or 2 on a bad mode or a wrong count.
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace {

constexpr int kIncrements = 10000;

int RunUnguarded() {
  int counter = 0;
  std::thread other([&counter] {
    for (int i = 0; i < kIncrements; ++i) ++counter;
  });
  for (int i = 0; i < kIncrements; ++i) ++counter;
  other.join();
  // The count may be short: the point of this mode is the race.
  return 0;
}

int RunMutex() {
  absl::Mutex mutex;
  int counter = 0;
  auto increment = [&] {
    for (int i = 0; i < kIncrements; ++i) {
      absl::MutexLock lock(&mutex);
      ++counter;
    }
  };
  std::thread other(increment);
  increment();
  other.join();
  return counter == 2 * kIncrements ? 0 : 2;
}

int RunAwait() {
  absl::Mutex mutex;
  int payload = 0;
  bool ready = false;
  std::thread producer([&] {
    absl::MutexLock lock(&mutex);
    payload = 42;
    ready = true;
  });
  int seen = 0;
  {
    absl::MutexLock lock(&mutex);
    mutex.Await(absl::Condition(&ready));
    seen = payload;
  }
  producer.join();
  return seen == 42 ? 0 : 2;
}

int RunCondVar() {
  absl::Mutex mutex;
  absl::CondVar changed;
  int payload = 0;
  bool ready = false;
  std::thread producer([&] {
    absl::MutexLock lock(&mutex);
    payload = 42;
    ready = true;
    changed.Signal();
  });
  int seen = 0;
  {
    absl::MutexLock lock(&mutex);
    while (!ready) changed.Wait(&mutex);
    seen = payload;
  }
  producer.join();
  return seen == 42 ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc == 2 ? argv[1] : "";
  if (std::strcmp(mode, "unguarded") == 0) return RunUnguarded();
  if (std::strcmp(mode, "mutex") == 0) return RunMutex();
  if (std::strcmp(mode, "await") == 0) return RunAwait();
  if (std::strcmp(mode, "condvar") == 0) return RunCondVar();
  std::fprintf(stderr, "usage: tsan_probe unguarded|mutex|await|condvar\n");
  return 2;
}
