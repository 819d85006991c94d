// Makes absl::Mutex and absl::CondVar visible to ThreadSanitizer in a build whose abseil
// comes uninstrumented from Debian.
//
// ThreadSanitizer learns of synchronization by intercepting pthread calls and by the
// instrumentation of atomic operations. Debian's abseil is built without it, and its Mutex
// waits on futexes directly, so every lock taken through absl::Mutex, by our code and by
// gRPC, is invisible: each access guarded by one looks like a race.
//
// This file, linked into every executable of a ThreadSanitizer build (see CMakeLists.txt),
// defines the public locking members of absl::Mutex and absl::CondVar itself. The dynamic
// linker binds every caller, including libgrpc and libabsl, to these definitions, because an
// executable's symbols come first. Each one calls the library's own definition, found with
// dlsym(RTLD_NEXT), and reports the lock to ThreadSanitizer: __tsan_release on the mutex
// before it is given up, __tsan_acquire after it is taken. That is the happens-before edge a
// lock provides; lock-order checks are not modelled.
//
// absl::Mutex evaluates a waiter's Condition in whichever thread holds the mutex at the
// time, inside the library and after the waiter has given the mutex up. Each Condition is
// therefore wrapped so that its evaluation itself acquires and releases the mutex's
// happens-before edge.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace {

#define ACCESSDELEGATION_STRINGIFY_INNER(x) #x
#define ACCESSDELEGATION_STRINGIFY(x) ACCESSDELEGATION_STRINGIFY_INNER(x)

// Returns the library's definition of the member whose mangled name, after the
// "_ZN4absl<inline namespace>" prefix, is `suffix`. Aborts when there is none, since a
// build that silently lost a lock would report races that do not exist.
void* NextDefinition(const char* suffix) {
  const char* inline_namespace = ACCESSDELEGATION_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string symbol = "_ZN4absl" + std::to_string(std::strlen(inline_namespace)) +
                             inline_namespace + suffix;
  void* definition = dlsym(RTLD_NEXT, symbol.c_str());
  if (definition == nullptr) {
    std::fprintf(stderr, "absl_mutex_tsan: %s is not defined by any library loaded after the "
                         "executable\n", symbol.c_str());
    std::abort();
  }
  return definition;
}

template <typename Function>
Function Next(const char* suffix) {
  return reinterpret_cast<Function>(NextDefinition(suffix));
}

// A Condition whose evaluation is ordered, for ThreadSanitizer, with every other holder of
// `mutex`. It must outlive the call that it is passed to, as the original must.
class AnnotatedCondition {
 public:
  // Another thread may evaluate the condition and read these fields. The release here and
  // the acquire in Evaluate order that read after this constructor for ThreadSanitizer.
  AnnotatedCondition(const absl::Condition& original, absl::Mutex* mutex)
      : original_(original), mutex_(mutex), condition_(&Evaluate, this) {
    __tsan_release(this);
  }

  const absl::Condition& get() const { return condition_; }

 private:
  static bool Evaluate(void* self) {
    __tsan_acquire(self);
    auto* annotated = static_cast<AnnotatedCondition*>(self);
    __tsan_acquire(annotated->mutex_);
    const bool result = annotated->original_.Eval();
    __tsan_release(annotated->mutex_);
    return result;
  }

  const absl::Condition& original_;
  absl::Mutex* mutex_;
  absl::Condition condition_;
};

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const auto next = Next<void (*)(Mutex*)>("5Mutex4LockEv");
  next(this);
  __tsan_acquire(this);
}

void Mutex::ReaderLock() {
  static const auto next = Next<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  next(this);
  __tsan_acquire(this);
}

bool Mutex::TryLock() {
  static const auto next = Next<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  const bool locked = next(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static const auto next = Next<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  const bool locked = next(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static const auto next = Next<void (*)(Mutex*)>("5Mutex6UnlockEv");
  __tsan_release(this);
  next(this);
}

void Mutex::ReaderUnlock() {
  static const auto next = Next<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  __tsan_release(this);
  next(this);
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto next =
      Next<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  next(this, AnnotatedCondition(cond, this).get());
  __tsan_acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto next =
      Next<void (*)(Mutex*, const Condition&)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  next(this, AnnotatedCondition(cond, this).get());
  __tsan_acquire(this);
}

// The timed forms hold the mutex on return whether or not the condition became true.
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto next = Next<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool result = next(this, AnnotatedCondition(cond, this).get(), timeout);
  __tsan_acquire(this);
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto next = Next<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool result = next(this, AnnotatedCondition(cond, this).get(), deadline);
  __tsan_acquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto next = Next<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool result = next(this, AnnotatedCondition(cond, this).get(), timeout);
  __tsan_acquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto next = Next<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool result = next(this, AnnotatedCondition(cond, this).get(), deadline);
  __tsan_acquire(this);
  return result;
}

// Await gives the mutex up while it waits and holds it again on return.
void Mutex::Await(const Condition& cond) {
  static const auto next =
      Next<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  __tsan_release(this);
  next(this, AnnotatedCondition(cond, this).get());
  __tsan_acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto next = Next<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_release(this);
  const bool result = next(this, AnnotatedCondition(cond, this).get(), timeout);
  __tsan_acquire(this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto next = Next<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  __tsan_release(this);
  const bool result = next(this, AnnotatedCondition(cond, this).get(), deadline);
  __tsan_acquire(this);
  return result;
}

// A condition variable wait gives up and retakes the mutex it is passed, as Await does.
void CondVar::Wait(Mutex* mu) {
  static const auto next = Next<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  next(this, mu);
  __tsan_acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto next = Next<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  const bool result = next(this, mu, timeout);
  __tsan_acquire(mu);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto next = Next<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  const bool result = next(this, mu, deadline);
  __tsan_acquire(mu);
  return result;
}

ABSL_NAMESPACE_END
}  // namespace absl
