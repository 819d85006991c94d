#ifndef ACCESSDELEGATION_SERVER_MAIL_DELIVERER_H_
#define ACCESSDELEGATION_SERVER_MAIL_DELIVERER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/mail_transport.h"
#include "server/metrics.h"
#include "server/secrets.h"
#include "storage/store.h"

namespace accessdelegation::server {

// RetryPolicy says when the deliverer tries a failed email again and when it gives up.
struct RetryPolicy {
  // Delay after the first failure; each further failure doubles it, up to max_delay.
  absl::Duration base = absl::Seconds(30);
  absl::Duration max_delay = absl::Hours(1);
  // Failed attempts after which the email is marked dead.
  int max_attempts = 8;

  // Returns the delay before the next attempt after `failures` (at least 1) failed ones:
  // base * 2^(failures - 1), capped at max_delay.
  absl::Duration DelayAfter(int failures) const;
};

// Minimum time between two log lines about failing to claim emails.
inline constexpr absl::Duration kClaimFailureLogInterval = absl::Seconds(30);

// Delivered emails of a batch are marked together in one transaction: at the end of the
// batch, or before the next send once the oldest unmarked one has waited this long. The
// bound keeps a slow transport from holding marks back toward the claim lease (one
// minute), after which another worker would claim and send the email again.
inline constexpr absl::Duration kMaxMarkDelay = absl::Seconds(1);

// MailDeliverer delivers the outbox in the background: each of its worker threads claims
// a batch of queued emails, hands each to the transport, and marks it delivered, failed or
// dead. The claims of the workers, and of other server processes, never share an email.
//
// Delivery is at least once: a crash between sending and marking sends the email again
// after the claim lease. Delivered emails of a batch are marked together, at the end of the
// batch or after kMaxMarkDelay, so such a crash can send up to a batch again. A failed
// email is retried after RetryPolicy::DelayAfter. It is marked dead, and then waits for an
// operator's RetryEmail, after max_attempts failures or at once when the transport reports
// a permanent rejection (FAILED_PRECONDITION).
//
// An idle worker looks for emails every poll interval, and at once after Wake.
// Thread-safe.
class MailDeliverer {
 public:
  // `metrics` may be null; otherwise it must outlive the deliverer. `workers` must be at
  // least 1. The transport's Send is called from up to `workers` threads at once.
  MailDeliverer(storage::Store* store, const SecretBox* secret_box,
                std::unique_ptr<MailTransport> transport, std::string from_address,
                absl::Duration poll_interval, int workers, RetryPolicy retry_policy,
                Metrics* metrics);
  ~MailDeliverer();

  MailDeliverer(const MailDeliverer&) = delete;
  MailDeliverer& operator=(const MailDeliverer&) = delete;

  // Starts the worker threads. Call once.
  void Start() ABSL_LOCKS_EXCLUDED(mutex_);

  // Lets each worker finish its current batch and stops them all. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mutex_);

  // Makes one idle worker look for emails now instead of at the end of its poll interval.
  // Call after committing a write that queued an email. It only takes a mutex and does
  // not wait for delivery.
  void Wake() ABSL_LOCKS_EXCLUDED(mutex_);

  // Claims and delivers one batch now; returns how many emails it delivered.
  int DeliverBatch();

 private:
  absl::Status Deliver(const storage::QueuedEmail& queued);
  void RecordFailure(const storage::QueuedEmail& queued, const absl::Status& status);
  // Marks the emails of `delivered` delivered in one transaction and clears the list.
  void MarkDelivered(std::vector<const storage::QueuedEmail*>& delivered);
  void Run() ABSL_LOCKS_EXCLUDED(mutex_);
  bool StoppingOrWoken() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  storage::Store* const store_;
  const SecretBox* const secret_box_;
  const std::unique_ptr<MailTransport> transport_;
  const std::string from_address_;
  const absl::Duration poll_interval_;
  const int workers_;
  const RetryPolicy retry_policy_;
  Metrics* const metrics_;

  // Returns whether this claim failure should be logged: the first of a run of failures,
  // then at most one per kClaimFailureLogInterval, so that a database outage does not
  // write a line per poll. Counts the failure.
  bool CountClaimFailure(absl::Time now) ABSL_LOCKS_EXCLUDED(mutex_);
  // Ends a run of claim failures; returns how long it was (0 when there was none).
  int EndClaimFailures() ABSL_LOCKS_EXCLUDED(mutex_);

  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // Wake calls not yet taken by a worker, at most workers_: more would only make workers
  // claim again with nothing new to find.
  int pending_wakes_ ABSL_GUARDED_BY(mutex_) = 0;
  int claim_failures_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Time last_claim_failure_log_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_MAIL_DELIVERER_H_
