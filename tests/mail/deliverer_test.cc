// Tests of MailDeliverer against a fresh database: several workers deliver every email
// once, Wake starts delivery before the poll interval ends, and a batch's marks are
// written before a slow batch ends and retried by sending again when they fail.

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/mail_deliverer.h"
#include "server/mail_transport.h"
#include "storage/store.h"
#include "tests/support/test_database.h"

namespace accessdelegation::mail_testing {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

// RecordingTransport writes emails into a directory as DirectoryTransport does, after a
// short pause that imitates the fsync of a real disk, and records which message ids
// were sent and by which threads.
class RecordingTransport final : public server::MailTransport {
 public:
  RecordingTransport(std::string directory, absl::Duration pause)
      : directory_transport_(std::move(directory)), pause_(pause) {}

  absl::Status Send(const server::EmlMessage& message, const std::string& rfc5322_text) override {
    absl::SleepFor(pause_);
    const absl::Status status = directory_transport_.Send(message, rfc5322_text);
    absl::MutexLock lock(&mutex_);
    ++sends_[message.message_id];
    threads_.insert(std::this_thread::get_id());
    return status;
  }

  std::string Describe() const override { return directory_transport_.Describe(); }

  // Returns the number of sends per message id.
  std::map<std::string, int> sends() const {
    absl::MutexLock lock(&mutex_);
    return sends_;
  }

  // Returns how many threads have called Send.
  size_t thread_count() const {
    absl::MutexLock lock(&mutex_);
    return threads_.size();
  }

 private:
  server::DirectoryTransport directory_transport_;
  const absl::Duration pause_;
  mutable absl::Mutex mutex_;
  std::map<std::string, int> sends_ ABSL_GUARDED_BY(mutex_);
  std::set<std::thread::id> threads_ ABSL_GUARDED_BY(mutex_);
};

class MailDelivererTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << "creating the test database failed: " << database.status()
                               << " (is ACCESSDELEGATION_TEST_DATABASE_URL set?)";
    database_ = *std::move(database);
    absl::StatusOr<std::vector<int>> applied = storage::ApplyMigrations(database_->url());
    ASSERT_TRUE(applied.ok()) << applied.status();
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenPostgresStore(database_->url(), 8);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);

    std::string pattern =
        (std::filesystem::temp_directory_path() / "mail-deliverer-XXXXXX").string();
    mail_dir_ = ::mkdtemp(pattern.data());
  }

  void TearDown() override {
    if (deliverer_ != nullptr) deliverer_->Stop();
    deliverer_.reset();
    store_.reset();
    database_.reset();
    if (!mail_dir_.empty()) std::filesystem::remove_all(mail_dir_);
  }

  // Starts a deliverer with `workers` threads whose transport pauses `pause` per email.
  // Stops and replaces the one started before, if any.
  void StartDeliverer(int workers, absl::Duration poll_interval, absl::Duration pause) {
    if (deliverer_ != nullptr) deliverer_->Stop();
    auto transport = std::make_unique<RecordingTransport>(mail_dir_.string(), pause);
    transport_ = transport.get();
    deliverer_ = std::make_unique<server::MailDeliverer>(
        store_.get(), nullptr, std::move(transport), "no-reply@portal.example.test",
        poll_interval, workers, server::RetryPolicy(), nullptr);
    deliverer_->Start();
  }

  // Queues `count` emails with random message ids and no sealed secret, as another server
  // process would, so that no listener of this test's store hears of them.
  void QueueEmails(int count) {
    pqxx::connection connection(database_->url());
    pqxx::work txn(connection);
    txn.exec("INSERT INTO outbox (message_id, recipient, subject, body_text, body_html) "
             "SELECT gen_random_uuid(), 'person' || i || '@example.org', 'Subject ' || i, "
             "'Text ' || i, '<p>Html ' || i || '</p>' FROM generate_series(1, " +
             std::to_string(count) + ") AS i");
    txn.commit();
  }

  void ExecuteSql(const std::string& sql) {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    txn.exec(sql);
  }

  int64_t UndeliveredCount() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    return txn.exec1("SELECT count(*) FROM outbox WHERE delivered_time IS NULL")[0].as<int64_t>();
  }

  // Waits until no email is undelivered; false after `timeout`.
  bool WaitForEmptyOutbox(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (UndeliveredCount() > 0) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return true;
  }

  std::set<std::string> QueuedMessageIds() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    std::set<std::string> ids;
    for (const pqxx::row& row : txn.exec("SELECT message_id::text FROM outbox")) {
      ids.insert(row[0].as<std::string>());
    }
    return ids;
  }

  std::unique_ptr<testing::TestDatabase> database_;
  std::unique_ptr<storage::Store> store_;
  std::filesystem::path mail_dir_;
  RecordingTransport* transport_ = nullptr;  // Owned by deliverer_.
  std::unique_ptr<server::MailDeliverer> deliverer_;
};

TEST_F(MailDelivererTest, WorkersDeliverEachEmailOnce) {
  constexpr int kEmails = 200;
  QueueEmails(kEmails);

  StartDeliverer(4, absl::Milliseconds(20), absl::Milliseconds(2));
  ASSERT_TRUE(WaitForEmptyOutbox(kWait)) << UndeliveredCount() << " emails are undelivered";
  deliverer_->Stop();

  const std::set<std::string> queued = QueuedMessageIds();
  ASSERT_EQ(queued.size(), static_cast<size_t>(kEmails));
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(mail_dir_)) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(absl::EndsWith(name, ".eml")) << "left over: " << name;
    files.insert(name.substr(0, name.size() - 4));
  }
  EXPECT_EQ(files, queued);
  const std::map<std::string, int> sends = transport_->sends();
  EXPECT_EQ(sends.size(), static_cast<size_t>(kEmails));
  for (const auto& [message_id, count] : sends) {
    EXPECT_EQ(count, 1) << message_id << " was sent " << count << " times";
  }
  EXPECT_GE(transport_->thread_count(), 2u) << "only one worker delivered";
}

TEST_F(MailDelivererTest, WakeDeliversBeforePollInterval) {
  // The first email is delivered by the first poll; the worker then waits a minute.
  QueueEmails(1);
  StartDeliverer(1, absl::Minutes(1), absl::ZeroDuration());
  ASSERT_TRUE(WaitForEmptyOutbox(kWait));
  QueueEmails(1);

  const absl::Time woken = absl::Now();
  deliverer_->Wake();
  const bool delivered = WaitForEmptyOutbox(absl::Seconds(5));

  EXPECT_TRUE(delivered) << "the email waited for the poll interval";
  EXPECT_LT(absl::Now() - woken, absl::Seconds(5));
  EXPECT_EQ(transport_->sends().size(), 2u);
}

TEST_F(MailDelivererTest, WithoutWakeEmailWaitsForPoll) {
  QueueEmails(1);
  StartDeliverer(2, absl::Minutes(1), absl::ZeroDuration());
  ASSERT_TRUE(WaitForEmptyOutbox(kWait));

  QueueEmails(1);
  absl::SleepFor(absl::Milliseconds(500));

  EXPECT_EQ(UndeliveredCount(), 1) << "an idle worker claimed without a poll or a wake";
}

TEST_F(MailDelivererTest, UnmarkedEmailIsLoggedAndSentAgain) {
  std::ostringstream log;
  auto log_sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(log_sink);
  // Makes every mark fail, as a database that fails between the send and the mark would.
  ExecuteSql(
      "CREATE FUNCTION reject_delivered_mark() RETURNS trigger LANGUAGE plpgsql AS $$ "
      "BEGIN IF NEW.delivered_time IS NOT NULL THEN RAISE EXCEPTION 'mark rejected'; END IF; "
      "RETURN NEW; END $$; "
      "CREATE TRIGGER reject_delivered_mark BEFORE UPDATE ON outbox FOR EACH ROW "
      "EXECUTE FUNCTION reject_delivered_mark()");
  QueueEmails(3);

  StartDeliverer(1, absl::Milliseconds(20), absl::ZeroDuration());
  const absl::Time deadline = absl::Now() + kWait;
  while (transport_->sends().size() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  deliverer_->Stop();
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), log_sink), sinks.end());
  const std::string logs = log.str();
  ASSERT_EQ(transport_->sends().size(), 3u);
  EXPECT_TRUE(absl::StrContains(logs, "were delivered but not marked")) << logs;
  EXPECT_EQ(UndeliveredCount(), 3);

  // Once the lease has run out and marks work again, the emails are sent again under the
  // same names.
  ExecuteSql("DROP TRIGGER reject_delivered_mark ON outbox; "
             "UPDATE outbox SET deliver_after = now()");
  StartDeliverer(1, absl::Milliseconds(20), absl::ZeroDuration());
  ASSERT_TRUE(WaitForEmptyOutbox(kWait));
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(mail_dir_)) {
    EXPECT_TRUE(absl::EndsWith(entry.path().filename().string(), ".eml")) << entry.path();
    ++files;
  }
  EXPECT_EQ(files, 3u);
  EXPECT_EQ(transport_->sends().size(), 3u);
}

TEST_F(MailDelivererTest, SlowBatchMarksBeforeItEnds) {
  // With 1 s per send, the first two emails have waited kMaxMarkDelay before the third
  // send, so they are marked about 2 s into a batch that takes 4 s.
  ASSERT_EQ(server::kMaxMarkDelay, absl::Seconds(1));
  QueueEmails(4);

  StartDeliverer(1, absl::Minutes(1), absl::Seconds(1));
  const absl::Time deadline = absl::Now() + kWait;
  while (UndeliveredCount() == 4 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const size_t sends_at_first_mark = transport_->sends().size();
  ASSERT_TRUE(WaitForEmptyOutbox(kWait));

  EXPECT_GE(sends_at_first_mark, 2u);
  EXPECT_LT(sends_at_first_mark, 4u) << "no email was marked before the batch ended";
}

TEST_F(MailDelivererTest, StopEndsEveryWorker) {
  StartDeliverer(8, absl::Minutes(1), absl::ZeroDuration());

  const absl::Time stop_start = absl::Now();
  deliverer_->Stop();
  deliverer_->Stop();

  EXPECT_LT(absl::Now() - stop_start, absl::Seconds(5));
}

}  // namespace
}  // namespace accessdelegation::mail_testing
