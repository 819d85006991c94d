#include "server/mail_deliverer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "server/eml.h"

namespace accessdelegation::server {
namespace {

constexpr int kBatchSize = 32;
constexpr absl::Duration kRetryDelay = absl::Seconds(30);

absl::Status WriteFileAtomically(const std::string& directory, const std::string& name,
                                 const std::string& content) {
  const std::string final_path = absl::StrCat(directory, "/", name);
  const std::string temporary_path = absl::StrCat(directory, "/.", name, ".tmp");
  const int fd = ::open(temporary_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", temporary_path, ": ", std::strerror(errno)));
  }
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t result = ::write(fd, content.data() + written, content.size() - written);
    if (result < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot write ", temporary_path, ": ", std::strerror(error)));
    }
    written += static_cast<size_t>(result);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(temporary_path.c_str(), final_path.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot move mail into place at ", final_path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

MailDeliverer::MailDeliverer(storage::Store* store, const SecretBox* secret_box,
                             std::string mail_dir, std::string from_address,
                             absl::Duration poll_interval, Metrics* metrics)
    : store_(store),
      secret_box_(secret_box),
      mail_dir_(std::move(mail_dir)),
      from_address_(std::move(from_address)),
      poll_interval_(poll_interval),
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
  return WriteFileAtomically(mail_dir_, absl::StrCat(email.message_id, ".eml"),
                             FormatEml(message));
}

int MailDeliverer::DeliverBatch() {
  absl::StatusOr<std::vector<storage::QueuedEmail>> batch = store_->ClaimEmails(kBatchSize);
  if (!batch.ok()) {
    spdlog::warn("outbox: claiming emails failed: {}", batch.status().ToString());
    return 0;
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
        spdlog::warn("outbox: email {} was delivered but not marked; it will be written "
                     "again under the same name: {}",
                     queued.email.message_id, marked.ToString());
      }
      continue;
    }
    if (metrics_ != nullptr) metrics_->RecordEmailFailed();
    spdlog::error("outbox: delivering email {} (outbox id {}) failed, retrying in {}: {}",
                  queued.email.message_id, queued.id, absl::FormatDuration(kRetryDelay),
                  status.ToString());
    const absl::Status marked =
        store_->MarkEmailFailed(queued.id, std::string(status.message()), kRetryDelay);
    if (!marked.ok()) {
      spdlog::warn("outbox: recording the failure of email {} failed: {}",
                   queued.email.message_id, marked.ToString());
    }
  }
  return delivered;
}

void MailDeliverer::Run() {
  std::error_code error;
  std::filesystem::create_directories(mail_dir_, error);
  if (error) spdlog::error("outbox: cannot create mail directory {}: {}", mail_dir_, error.message());
  spdlog::info("outbox: delivering to {}", mail_dir_);

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
