// The application role that the server runs as: it reads and writes rows, appends to the
// audit trail, and can change neither the audit trail nor the schema.

#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "gtest/gtest.h"
#include "absl/time/clock.h"
#include "storage/store.h"
#include "tests/support/test_database.h"

namespace accessdelegation::storage {
namespace {

// What RunAsApplication returns for SQLSTATE 42501, insufficient_privilege, which "must be
// owner" errors use too. libpqxx 6.4 throws pqxx::insufficient_privilege for it.
constexpr char kInsufficientPrivilege[] = "insufficient_privilege";

constexpr char kInsertAuditEventSql[] = R"sql(
INSERT INTO audit_events (actor_kind, actor_id, action, target_type, target_id, request_id, peer)
VALUES ('system', 'privileges-test', 'test.event', 'test', 'target', 'request', 'peer')
)sql";

class PrivilegesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    ASSERT_TRUE(ApplyMigrations(database_->url()).ok());
    absl::StatusOr<std::string> application_url = database_->ApplicationUrl();
    ASSERT_TRUE(application_url.ok()) << application_url.status();
    application_ = std::make_unique<pqxx::connection>(*application_url);
  }

  void TearDown() override {
    application_.reset();
    database_.reset();
  }

  // Runs `sql` as the application role in its own transaction. Returns "" when it
  // succeeded, kInsufficientPrivilege when the role lacked a privilege, and the error
  // message for any other failure.
  std::string RunAsApplication(const std::string& sql) {
    try {
      pqxx::work txn(*application_);
      txn.exec(sql);
      txn.commit();
      return "";
    } catch (const pqxx::insufficient_privilege&) {
      return kInsufficientPrivilege;
    } catch (const pqxx::sql_error& error) {
      return error.what();
    }
  }

  std::unique_ptr<testing::TestDatabase> database_;
  std::unique_ptr<pqxx::connection> application_;
};

TEST_F(PrivilegesTest, ApplicationAppendsAndReadsAuditEvents) {
  EXPECT_EQ(RunAsApplication(kInsertAuditEventSql), "");
  EXPECT_EQ(RunAsApplication("SELECT count(*) FROM audit_events"), "");
}

TEST_F(PrivilegesTest, ApplicationCannotUpdateAuditEvents) {
  ASSERT_EQ(RunAsApplication(kInsertAuditEventSql), "");

  EXPECT_EQ(RunAsApplication("UPDATE audit_events SET action = 'forged'"),
            kInsufficientPrivilege);
}

TEST_F(PrivilegesTest, ApplicationCannotDeleteAuditEvents) {
  ASSERT_EQ(RunAsApplication(kInsertAuditEventSql), "");

  EXPECT_EQ(RunAsApplication("DELETE FROM audit_events"), kInsufficientPrivilege);
  EXPECT_EQ(RunAsApplication("TRUNCATE audit_events"), kInsufficientPrivilege);
}

TEST_F(PrivilegesTest, ApplicationCannotRewriteGrantChanges) {
  EXPECT_EQ(RunAsApplication("DELETE FROM grant_changes"), kInsufficientPrivilege);
  EXPECT_EQ(RunAsApplication("UPDATE grant_changes SET change = 'REVOKED'"),
            kInsufficientPrivilege);
}

TEST_F(PrivilegesTest, ApplicationCannotChangeTheSchema) {
  EXPECT_EQ(RunAsApplication("CREATE TABLE intruder (id int)"), kInsufficientPrivilege);
  EXPECT_EQ(RunAsApplication("ALTER TABLE accounts ADD COLUMN intruder text"),
            kInsufficientPrivilege);
  EXPECT_EQ(RunAsApplication("DROP TABLE grants"), kInsufficientPrivilege);
  EXPECT_EQ(RunAsApplication("DROP TRIGGER audit_events_append_only ON audit_events"),
            kInsufficientPrivilege);
  EXPECT_EQ(RunAsApplication("CREATE FUNCTION intruder() RETURNS int LANGUAGE sql RETURN 1"),
            kInsufficientPrivilege);
}

TEST_F(PrivilegesTest, ApplicationCannotRecordMigrations) {
  EXPECT_EQ(RunAsApplication("SELECT version FROM schema_migrations"), "");
  EXPECT_EQ(RunAsApplication("INSERT INTO schema_migrations (version, name) VALUES (999, 'x')"),
            kInsufficientPrivilege);
}

TEST_F(PrivilegesTest, StoreWorksAsApplication) {
  absl::StatusOr<std::string> application_url = database_->ApplicationUrl();
  ASSERT_TRUE(application_url.ok()) << application_url.status();

  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(*application_url, 2);

  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Ping().ok());
  EXPECT_TRUE((*store)->ReadStats().ok());
  PurgeOptions purge;
  purge.now = absl::Now();
  absl::StatusOr<PurgeResult> purged = (*store)->PurgeStaleRecords(purge);
  EXPECT_TRUE(purged.ok()) << purged.status();
}

}  // namespace
}  // namespace accessdelegation::storage
