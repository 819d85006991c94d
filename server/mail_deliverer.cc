#include "server/mail_deliverer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "server/eml.h"

namespace accessdelegation::server {
namespace {

constexpr int kBatchSize = 32;

}  // namespace

absl::Duration RetryPolicy::DelayAfter(int failures) const {
  absl::Duration delay = base;
  for (int i = 1; i < failures && delay < max_delay; ++i) delay *= 2;
  return std::min(delay, max_delay);
}

MailDeliverer::MailDeliverer(storage::Store* store, const SecretBox* secret_box,
                             std::unique_ptr<MailTransport> transport, std::string from_address,
                             absl::Duration poll_interval, int workers, RetryPolicy retry_policy,
                             Metrics* metrics)
    : store_(store),
      secret_box_(secret_box),
      transport_(std::move(transport)),
      from_address_(std::move(from_address)),
      poll_interval_(poll_interval),
      workers_(std::max(workers, 1)),
      retry_policy_(retry_policy),
      metrics_(metrics) {}

MailDeliverer::~MailDeliverer() { Stop(); }

void MailDeliverer::Start() {
  spdlog::info("outbox: delivering to {} with {} worker(s)", transport_->Describe(), workers_);
  absl::MutexLock lock(&mutex_);
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { Run(); });
}

void MailDeliverer::Stop() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (std::thread& thread : threads) thread.join();
  if (!threads.empty()) spdlog::info("outbox: stopped");
}

void MailDeliverer::Wake() {
  absl::MutexLock lock(&mutex_);
  pending_wakes_ = std::min(pending_wakes_ + 1, workers_);
}

bool MailDeliverer::StoppingOrWoken() const { return stopping_ || pending_wakes_ > 0; }

absl::Status MailDeliverer::Deliver(const storage::QueuedEmail& queued) {
  const storage::OutboxEmail& email = queued.email;
  EmlMessage message;
  message.message_id = absl::StrCat(email.message_id, "@accessdelegation");
  message.from = from_address_;
  message.to = email.recipient;
  message.subject = email.subject;
  message.body_text = email.body_text;
  message.body_html = email.body_html;
  message.date = queued.create_time;
  if (!email.sealed_secret.empty()) {
    absl::StatusOr<std::string> secret = secret_box_->Open(email.sealed_secret);
    if (!secret.ok()) return secret.status();
    message.body_text = absl::StrReplaceAll(message.body_text, {{storage::kSecretPlaceholder, *secret}});
    message.body_html = absl::StrReplaceAll(message.body_html, {{storage::kSecretPlaceholder, *secret}});
  }
  return transport_->Send(message, FormatEml(message));
}

void MailDeliverer::RecordFailure(const storage::QueuedEmail& queued, const absl::Status& status) {
  const int failures = queued.attempts + 1;
  const bool permanent = status.code() == absl::StatusCode::kFailedPrecondition;
  if (metrics_ != nullptr) metrics_->RecordEmailFailed();

  if (permanent || failures >= retry_policy_.max_attempts) {
    if (metrics_ != nullptr) metrics_->RecordEmailDead();
    spdlog::error("outbox: delivering email {} (outbox id {}) failed on attempt {}; giving up "
                  "as a dead letter{}: {}",
                  queued.email.message_id, queued.id, failures,
                  permanent ? " because the rejection is permanent" : "", status.ToString());
    const absl::Status marked = store_->MarkEmailDead(queued.id, std::string(status.message()));
    if (!marked.ok()) {
      spdlog::warn("outbox: marking email {} dead failed: {}", queued.email.message_id,
                   marked.ToString());
    }
    return;
  }

  const absl::Duration delay = retry_policy_.DelayAfter(failures);
  spdlog::error("outbox: delivering email {} (outbox id {}) failed on attempt {} of {}, "
                "retrying in {}: {}",
                queued.email.message_id, queued.id, failures, retry_policy_.max_attempts,
                absl::FormatDuration(delay), status.ToString());
  const absl::Status marked =
      store_->MarkEmailFailed(queued.id, std::string(status.message()), delay);
  if (!marked.ok()) {
    spdlog::warn("outbox: recording the failure of email {} failed: {}",
                 queued.email.message_id, marked.ToString());
  }
}

bool MailDeliverer::CountClaimFailure(absl::Time now) {
  absl::MutexLock lock(&mutex_);
  ++claim_failures_;
  if (claim_failures_ > 1 && now - last_claim_failure_log_ < kClaimFailureLogInterval) {
    return false;
  }
  last_claim_failure_log_ = now;
  return true;
}

int MailDeliverer::EndClaimFailures() {
  absl::MutexLock lock(&mutex_);
  const int failures = claim_failures_;
  claim_failures_ = 0;
  last_claim_failure_log_ = absl::InfinitePast();
  return failures;
}

int MailDeliverer::DeliverBatch() {
  absl::StatusOr<std::vector<storage::QueuedEmail>> batch = store_->ClaimEmails(kBatchSize);
  if (!batch.ok()) {
    if (CountClaimFailure(absl::Now())) {
      spdlog::warn("outbox: claiming emails failed; retrying every {}, logging at most every {}: {}",
                   absl::FormatDuration(poll_interval_),
                   absl::FormatDuration(kClaimFailureLogInterval), batch.status().ToString());
    }
    return 0;
  }
  if (const int failures = EndClaimFailures(); failures > 0) {
    spdlog::info("outbox: claiming emails works again after {} failed attempts", failures);
  }
  int delivered = 0;
  std::vector<const storage::QueuedEmail*> unmarked;
  absl::Time first_unmarked_time;
  for (const storage::QueuedEmail& queued : *batch) {
    if (!unmarked.empty() && absl::Now() - first_unmarked_time >= kMaxMarkDelay) {
      MarkDelivered(unmarked);
    }

    const absl::Status status = Deliver(queued);
    if (!status.ok()) {
      RecordFailure(queued, status);
      continue;
    }
    ++delivered;
    if (metrics_ != nullptr) metrics_->RecordEmailDelivered();
    spdlog::info("outbox: delivered email {} (outbox id {}, attempt {})", queued.email.message_id,
                 queued.id, queued.attempts + 1);
    if (unmarked.empty()) first_unmarked_time = absl::Now();
    unmarked.push_back(&queued);
  }
  MarkDelivered(unmarked);
  return delivered;
}

void MailDeliverer::MarkDelivered(std::vector<const storage::QueuedEmail*>& delivered) {
  if (delivered.empty()) return;

  std::vector<int64_t> ids;
  ids.reserve(delivered.size());
  for (const storage::QueuedEmail* queued : delivered) ids.push_back(queued->id);
  const absl::Status marked = store_->MarkEmailsDelivered(ids);
  if (!marked.ok()) {
    std::vector<absl::string_view> message_ids;
    message_ids.reserve(delivered.size());
    for (const storage::QueuedEmail* queued : delivered) {
      message_ids.push_back(queued->email.message_id);
    }
    spdlog::warn("outbox: {} email(s) {} were delivered but not marked; they will be sent "
                 "again after the claim lease: {}",
                 delivered.size(), absl::StrJoin(message_ids, ", "), marked.ToString());
  }
  delivered.clear();
}

void MailDeliverer::Run() {
  while (true) {
    const int delivered = DeliverBatch();
    absl::MutexLock lock(&mutex_);
    // A full batch suggests more are waiting, so look again at once.
    if (delivered < kBatchSize) {
      mutex_.AwaitWithTimeout(absl::Condition(this, &MailDeliverer::StoppingOrWoken),
                              poll_interval_);
    }
    if (stopping_) return;
    // The claim that follows covers every email committed before this point.
    if (pending_wakes_ > 0) --pending_wakes_;
  }
}

}  // namespace accessdelegation::server
