#ifndef ACCESSDELEGATION_TESTS_SUPPORT_TEST_DATABASE_H_
#define ACCESSDELEGATION_TESTS_SUPPORT_TEST_DATABASE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace accessdelegation::testing {

// Name of the environment variable that points tests at a PostgreSQL cluster.
inline constexpr char kTestDatabaseUrlVariable[] = "ACCESSDELEGATION_TEST_DATABASE_URL";

// TestDatabase is a fresh, empty database on the cluster named by the environment
// variable ACCESSDELEGATION_TEST_DATABASE_URL (a libpq URL to a database the user may
// CREATE DATABASE from, e.g. postgresql://postgres@127.0.0.1:54329/postgres). Dropped on
// destruction.
//
//   absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
//   ASSERT_TRUE(db.ok()) << db.status();
//   ApplyMigrations((*db)->url());
//
// Each instance has a unique name, so tests may run in parallel processes.
class TestDatabase {
 public:
  // Creates the database. FAILED_PRECONDITION with a clear message if the variable is
  // unset or empty; UNAVAILABLE if the cluster cannot be reached; INTERNAL if CREATE
  // DATABASE fails.
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create();

  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // URL of the new database: the variable's URL with the database name replaced.
  const std::string& url() const { return url_; }

  // Name of the new database.
  const std::string& name() const { return name_; }

  // Returns url() for the login role kApplicationLoginRole, a member of the group role
  // accessdelegation_app that migration 0007 grants row access to. Creates both roles on
  // the cluster if missing, as tools/dev/pg.sh does; the cluster must trust the login
  // role without a password, as clusters made by tools/dev/pg.sh do. INTERNAL if the
  // roles cannot be created.
  absl::StatusOr<std::string> ApplicationUrl() const;

  // Drops the database WITH (FORCE), which ends any connections still open to it. A
  // failure is printed to stderr and otherwise ignored.
  ~TestDatabase();

 private:
  TestDatabase(std::string admin_url, std::string name, std::string url);

  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// Login role of the server in tests and development; see TestDatabase::ApplicationUrl.
inline constexpr char kApplicationLoginRole[] = "accessdelegation_server";

// Returns `base_url` with its user name replaced by `user` and any password removed.
// `base_url` is either a postgres:// or postgresql:// URL or a key=value connection string.
std::string ReplaceUserName(const std::string& base_url, const std::string& user);

// Returns `base_url` with its database name replaced by `database_name`. `base_url` is
// either a postgres:// or postgresql:// URL or a key=value connection string.
std::string ReplaceDatabaseName(const std::string& base_url, const std::string& database_name);

}  // namespace accessdelegation::testing

#endif  // ACCESSDELEGATION_TESTS_SUPPORT_TEST_DATABASE_H_
