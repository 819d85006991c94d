#ifndef ACCESSDELEGATION_SERVER_MAIL_DELIVERER_H_
#define ACCESSDELEGATION_SERVER_MAIL_DELIVERER_H_

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metrics.h"
#include "server/secrets.h"
#include "storage/store.h"

namespace accessdelegation::server {

// MailDeliverer delivers the outbox in the background: it claims queued emails, writes
// each to `mail_dir` as "<message-id>.eml", and marks it delivered.
//
// Delivery is at least once and idempotent: a file is written under a temporary name
// and renamed into place, so a crash between writing and marking leaves a complete file
// that the retry overwrites with the same content under the same name.
class MailDeliverer {
 public:
  // `metrics` may be null; otherwise it must outlive the deliverer.
  MailDeliverer(storage::Store* store, const SecretBox* secret_box, std::string mail_dir,
                std::string from_address, absl::Duration poll_interval, Metrics* metrics);
  ~MailDeliverer();

  MailDeliverer(const MailDeliverer&) = delete;
  MailDeliverer& operator=(const MailDeliverer&) = delete;

  // Starts the background thread. Call once.
  void Start();

  // Finishes the current batch and stops the thread. Idempotent.
  void Stop();

  // Claims and delivers one batch now; returns how many emails it delivered.
  int DeliverBatch();

 private:
  absl::Status Deliver(const storage::QueuedEmail& queued);
  void Run();

  storage::Store* const store_;
  const SecretBox* const secret_box_;
  const std::string mail_dir_;
  const std::string from_address_;
  const absl::Duration poll_interval_;
  Metrics* const metrics_;

  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_MAIL_DELIVERER_H_
