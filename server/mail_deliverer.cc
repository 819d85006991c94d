#include "server/mail_deliverer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
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
                             absl::Duration poll_interval, RetryPolicy retry_policy,
                             Metrics* metrics)
    : store_(store),
      secret_box_(secret_box),
      transport_(std::move(transport)),
      from_address_(std::move(from_address)),
      poll_interval_(poll_interval),
      retry_policy_(retry_policy),
      metrics_(metrics) {}

MailDeliverer::~MailDeliverer() { Stop(); }

void MailDeliverer::Start() { thread_ = std::thread([this] { Run(); }); }

void MailDeliverer::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

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
  for (const storage::QueuedEmail& queued : *batch) {
    const absl::Status status = Deliver(queued);
    if (status.ok()) {
      ++delivered;
      if (metrics_ != nullptr) metrics_->RecordEmailDelivered();
      spdlog::info("outbox: delivered email {} (outbox id {}, attempt {})",
                   queued.email.message_id, queued.id, queued.attempts + 1);
      const absl::Status marked = store_->MarkEmailDelivered(queued.id);
      if (!marked.ok()) {
        spdlog::warn("outbox: email {} was delivered but not marked; it will be sent again "
                     "after the claim lease: {}",
                     queued.email.message_id, marked.ToString());
      }
      continue;
    }
    RecordFailure(queued, status);
  }
  return delivered;
}

void MailDeliverer::Run() {
  spdlog::info("outbox: delivering to {}", transport_->Describe());

  while (true) {
    const int delivered = DeliverBatch();
    absl::MutexLock lock(&mutex_);
    // A full batch suggests more are waiting, so look again at once.
    if (delivered < kBatchSize) {
      mutex_.AwaitWithTimeout(absl::Condition(&stopping_), poll_interval_);
    }
    if (stopping_) break;
  }
  spdlog::info("outbox: stopped");
}

}  // namespace accessdelegation::server
