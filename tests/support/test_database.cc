#include "tests/support/test_database.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <pqxx/pqxx>
#include <random>

#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace accessdelegation::testing {
namespace {

// Returns a database name that no other test process picks: the process id, a counter,
// and random bits for processes that reuse an id.
std::string NewDatabaseName() {
  static std::atomic<int> counter{0};
  std::random_device random;
  return absl::StrFormat("accessdelegation_test_%d_%d_%08x", getpid(), counter++, random());
}

// Creates the roles that tools/dev/pg.sh creates. Concurrent test processes may race to
// create them, so a duplicate is fine.
constexpr char kCreateRolesSql[] = R"sql(
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'accessdelegation_app') THEN
    CREATE ROLE accessdelegation_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'accessdelegation_server') THEN
    CREATE ROLE accessdelegation_server LOGIN IN ROLE accessdelegation_app;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN NULL;
END;
$$
)sql";

}  // namespace

std::string ReplaceUserName(const std::string& base_url, const std::string& user) {
  const bool is_url =
      absl::StartsWith(base_url, "postgresql://") || absl::StartsWith(base_url, "postgres://");
  if (!is_url) return absl::StrCat(base_url, " user=", user, " password=''");

  const size_t authority_start = base_url.find("://") + 3;
  const size_t authority_end = std::min(base_url.find_first_of("/?", authority_start),
                                        base_url.size());
  const size_t at = base_url.find('@', authority_start);
  const size_t host_start = (at != std::string::npos && at < authority_end) ? at + 1
                                                                            : authority_start;
  return absl::StrCat(base_url.substr(0, authority_start), user, "@",
                      base_url.substr(host_start));
}

absl::StatusOr<std::string> TestDatabase::ApplicationUrl() const {
  try {
    pqxx::connection connection(admin_url_);
    pqxx::nontransaction txn(connection);
    txn.exec0(kCreateRolesSql);
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat("creating the application roles failed: ",
                                            error.what()));
  }
  return ReplaceUserName(url_, kApplicationLoginRole);
}

std::string ReplaceDatabaseName(const std::string& base_url, const std::string& database_name) {
  const bool is_url =
      absl::StartsWith(base_url, "postgresql://") || absl::StartsWith(base_url, "postgres://");
  if (!is_url) {
    // In a key=value connection string a later keyword overrides an earlier one.
    return absl::StrCat(base_url, " dbname=", database_name);
  }

  const size_t authority_start = base_url.find("://") + 3;
  const size_t path_or_query = base_url.find_first_of("/?", authority_start);
  const std::string authority =
      base_url.substr(0, path_or_query == std::string::npos ? base_url.size() : path_or_query);
  std::string query;
  const size_t query_start = base_url.find('?', authority_start);
  if (query_start != std::string::npos) query = base_url.substr(query_start);
  return absl::StrCat(authority, "/", database_name, query);
}

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create() {
  const char* admin_url = std::getenv(kTestDatabaseUrlVariable);
  if (admin_url == nullptr || admin_url[0] == '\0') {
    return absl::FailedPreconditionError(absl::StrCat(
        kTestDatabaseUrlVariable,
        " is not set. Set it to a libpq URL of a database on a PostgreSQL cluster where the "
        "user may CREATE DATABASE, for example "
        "postgresql://postgres@127.0.0.1:54329/postgres."));
  }

  const std::string name = NewDatabaseName();
  try {
    // CREATE DATABASE cannot run inside a transaction block, hence the nontransaction.
    pqxx::connection connection(admin_url);
    pqxx::nontransaction txn(connection);
    // Identifiers cannot be statement parameters; the name is generated above and quoted.
    txn.exec0(absl::StrCat("CREATE DATABASE ", txn.quote_name(name), " TEMPLATE template0"));
  } catch (const pqxx::broken_connection& error) {
    return absl::UnavailableError(absl::StrCat("cannot connect to the test cluster named by ",
                                               kTestDatabaseUrlVariable, ": ", error.what()));
  } catch (const std::exception& error) {
    return absl::InternalError(
        absl::StrCat("creating test database ", name, " failed: ", error.what()));
  }
  return absl::WrapUnique(new TestDatabase(admin_url, name, ReplaceDatabaseName(admin_url, name)));
}

TestDatabase::TestDatabase(std::string admin_url, std::string name, std::string url)
    : admin_url_(std::move(admin_url)), name_(std::move(name)), url_(std::move(url)) {}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection connection(admin_url_);
    pqxx::nontransaction txn(connection);
    txn.exec0(absl::StrCat("DROP DATABASE IF EXISTS ", txn.quote_name(name_), " WITH (FORCE)"));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "dropping test database %s failed: %s\n", name_.c_str(), error.what());
  }
}

}  // namespace accessdelegation::testing
