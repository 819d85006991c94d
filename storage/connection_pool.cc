#include "storage/connection_pool.h"

#include "absl/time/clock.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/pg_errors.h"

namespace accessdelegation::storage {

ConnectionPool::Lease::Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> connection)
    : pool_(pool), connection_(std::move(connection)) {}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      connection_(std::move(other.connection_)),
      discard_(other.discard_) {}

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Return();
    pool_ = std::exchange(other.pool_, nullptr);
    connection_ = std::move(other.connection_);
    discard_ = other.discard_;
  }
  return *this;
}

ConnectionPool::Lease::~Lease() { Return(); }

void ConnectionPool::Lease::Return() {
  if (pool_ == nullptr || connection_ == nullptr) return;
  pool_->Release(std::move(connection_), discard_);
  pool_ = nullptr;
}

ConnectionPool::ConnectionPool(std::string database_url, int max_size, Initializer initialize,
                               absl::Duration acquire_timeout)
    : database_url_(WithConnectionDefaults(database_url)),
      max_size_(max_size),
      initialize_(std::move(initialize)),
      acquire_timeout_(acquire_timeout) {}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (idle_.empty() && open_count_ >= max_size_) {
      const absl::Time wait_start = absl::Now();
      const absl::Time deadline = wait_start + acquire_timeout_;
      bool timed_out = false;
      while (idle_.empty() && open_count_ >= max_size_ && !timed_out) {
        timed_out = released_.WaitWithDeadline(&mu_, deadline);
      }
      ++waits_;
      wait_time_ += absl::Now() - wait_start;
      if (idle_.empty() && open_count_ >= max_size_) {
        return absl::UnavailableError(absl::StrCat(
            "no database connection became free within ", absl::FormatDuration(acquire_timeout_),
            ": all ", max_size_,
            " are busy; the database may be slow, or raise --database_pool_size"));
      }
    }

    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
    ++open_count_;
  }
  // The slot is reserved; connecting takes a network round trip, so it runs unlocked.
  return OpenConnection();
}

ConnectionPool::Usage ConnectionPool::GetUsage() const {
  absl::MutexLock lock(&mu_);
  Usage usage;
  usage.max_size = max_size_;
  usage.leased = open_count_ - static_cast<int>(idle_.size());
  usage.waits = waits_;
  usage.wait_time = wait_time_;
  return usage;
}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::OpenConnection() {
  std::unique_ptr<pqxx::connection> connection;
  try {
    connection = std::make_unique<pqxx::connection>(database_url_);
  } catch (const pqxx::broken_connection& error) {
    ForgetConnection();
    return absl::UnavailableError(
        absl::StrCat("cannot connect to the database: ", FirstLine(error.what())));
  } catch (...) {
    ForgetConnection();
    return StatusFromCurrentException("connecting to the database");
  }

  try {
    initialize_(*connection);
  } catch (...) {
    ForgetConnection();
    return StatusFromCurrentException("initializing a database connection");
  }
  return Lease(this, std::move(connection));
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> connection, bool discard) {
  if (discard || !connection->is_open()) {
    connection.reset();
    ForgetConnection();
    return;
  }
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(connection));
  released_.Signal();
}

void ConnectionPool::ForgetConnection() {
  absl::MutexLock lock(&mu_);
  --open_count_;
  released_.Signal();
}

namespace {

struct ConnectionSetting {
  const char* key;
  const char* value;
};

constexpr ConnectionSetting kConnectionDefaults[] = {
    {"connect_timeout", "2"},   {"keepalives", "1"},          {"keepalives_idle", "10"},
    {"keepalives_interval", "5"}, {"keepalives_count", "2"}, {"tcp_user_timeout", "10000"},
};

bool IsUrl(absl::string_view database_url) {
  return absl::StartsWith(database_url, "postgresql://") ||
         absl::StartsWith(database_url, "postgres://");
}

// Returns whether the URL's query or the key=value string sets `key`.
bool HasSetting(absl::string_view database_url, absl::string_view key) {
  if (IsUrl(database_url)) {
    const size_t query = database_url.find('?');
    if (query == absl::string_view::npos) return false;
    for (absl::string_view pair : absl::StrSplit(database_url.substr(query + 1), '&')) {
      if (pair.substr(0, pair.find('=')) == key) return true;
    }
    return false;
  }
  for (absl::string_view pair : absl::StrSplit(database_url, ' ', absl::SkipEmpty())) {
    if (absl::StripAsciiWhitespace(pair.substr(0, pair.find('='))) == key) return true;
  }
  return false;
}

}  // namespace

std::string WithConnectionDefaults(const std::string& database_url) {
  std::string result = database_url;
  const bool url = IsUrl(database_url);
  for (const ConnectionSetting& setting : kConnectionDefaults) {
    if (HasSetting(database_url, setting.key)) continue;
    if (url) {
      absl::StrAppend(&result, result.find('?') == std::string::npos ? "?" : "&", setting.key,
                      "=", setting.value);
    } else {
      absl::StrAppend(&result, result.empty() ? "" : " ", setting.key, "=", setting.value);
    }
  }
  return result;
}

}  // namespace accessdelegation::storage
