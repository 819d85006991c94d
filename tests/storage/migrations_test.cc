#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "storage/embedded_migrations.h"
#include "storage/migration_files.h"
#include "storage/store.h"
#include "tests/storage/store_test_base.h"
#include "tests/support/test_database.h"

namespace accessdelegation::storage {
namespace {

using testing::TestDatabase;

std::vector<int> EmbeddedVersions() {
  std::vector<int> versions;
  for (const Migration& migration : EmbeddedMigrations()) versions.push_back(migration.version);
  return versions;
}

std::unique_ptr<TestDatabase> CreateDatabaseOrFail() {
  absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
  EXPECT_TRUE(database.ok()) << database.status();
  if (!database.ok()) return nullptr;
  return *std::move(database);
}

TEST(EmbeddedMigrationsTest, VersionsAscendFromOne) {
  const std::vector<int> versions = EmbeddedVersions();

  ASSERT_FALSE(versions.empty());
  EXPECT_EQ(versions.front(), 1);
  for (size_t i = 1; i < versions.size(); ++i) EXPECT_LT(versions[i - 1], versions[i]);
}

TEST(EmbeddedMigrationsTest, PassCheckMigrations) {
  const absl::Status status = CheckMigrations(EmbeddedMigrations());

  EXPECT_TRUE(status.ok()) << status;
}

TEST(ParseMigrationFileNameTest, ReadsVersionAndName) {
  absl::StatusOr<MigrationFileName> parsed = ParseMigrationFileName("0004_outbox_dead_letter.sql");

  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->version, 4);
  EXPECT_EQ(parsed->name, "outbox_dead_letter");
}

TEST(ParseMigrationFileNameTest, RejectsOtherForms) {
  for (const char* file_name :
       {"", ".sql", "0001.sql", "_initial.sql", "0001_.sql", "0001_initial.SQL", "0001-initial.sql",
        "0000_zero.sql", "1000000_big.sql", "99999999999999999999_x.sql", "x001_initial.sql",
        "0001_in itial.sql", "0001_initial.sql.bak"}) {
    absl::StatusOr<MigrationFileName> parsed = ParseMigrationFileName(file_name);

    ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << file_name;
    EXPECT_NE(parsed.status().message().find("NNNN_name.sql"), absl::string_view::npos)
        << parsed.status();
  }
}

TEST(CheckMigrationsTest, RejectsBrokenLists) {
  const Migration first{1, "initial", "CREATE TABLE t (id int);"};
  const std::vector<std::vector<Migration>> lists = {
      {},
      {first, {1, "again", "SELECT 1;"}},
      {{2, "second", "SELECT 1;"}, first},
      {first, {2, "blank", " \n\t"}},
      {first, {2, "bad-name", "SELECT 1;"}},
      {first, {2, "nul", absl::string_view("SELECT\0 1;", 10)}},
      {{0, "zero", "SELECT 1;"}},
  };
  for (const std::vector<Migration>& list : lists) {
    const absl::Status status = CheckMigrations(list);

    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << list.size();
  }
}

TEST(ApplyMigrationsTest, AppliesAllOnceThenNone) {
  std::unique_ptr<TestDatabase> database = CreateDatabaseOrFail();
  ASSERT_NE(database, nullptr);

  absl::StatusOr<std::vector<int>> first = ApplyMigrations(database->url());
  absl::StatusOr<std::vector<int>> second = ApplyMigrations(database->url());

  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, EmbeddedVersions());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->empty());
}

TEST(ApplyMigrationsTest, ConcurrentCallsApplyEachOnce) {
  std::unique_ptr<TestDatabase> database = CreateDatabaseOrFail();
  ASSERT_NE(database, nullptr);

  absl::StatusOr<std::vector<int>> results[2] = {std::vector<int>(), std::vector<int>()};
  std::thread first([&] { results[0] = ApplyMigrations(database->url()); });
  std::thread second([&] { results[1] = ApplyMigrations(database->url()); });
  first.join();
  second.join();

  ASSERT_TRUE(results[0].ok()) << results[0].status();
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  const bool first_applied = *results[0] == EmbeddedVersions() && results[1]->empty();
  const bool second_applied = *results[1] == EmbeddedVersions() && results[0]->empty();
  EXPECT_TRUE(first_applied || second_applied);
}

TEST(ApplyMigrationsTest, UnreachableDatabaseIsUnavailable) {
  // Port 1 on loopback has no PostgreSQL server.
  absl::StatusOr<std::vector<int>> applied =
      ApplyMigrations("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=5");

  EXPECT_EQ(applied.status().code(), absl::StatusCode::kUnavailable) << applied.status();
}

TEST(OpenPostgresStoreTest, WithoutMigrationsFailsPrecondition) {
  std::unique_ptr<TestDatabase> database = CreateDatabaseOrFail();
  ASSERT_NE(database, nullptr);

  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(database->url(), 2);

  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
}

TEST(OpenPostgresStoreTest, AfterMigrationsPings) {
  std::unique_ptr<TestDatabase> database = CreateDatabaseOrFail();
  ASSERT_NE(database, nullptr);
  ASSERT_TRUE(ApplyMigrations(database->url()).ok());

  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(database->url(), 2);

  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Ping().ok());
}

TEST(OpenPostgresStoreTest, UnreachableDatabaseIsUnavailable) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      OpenPostgresStore("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=5", 2);

  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

TEST(OpenPostgresStoreTest, ZeroPoolSizeIsInvalid) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      OpenPostgresStore("postgresql://postgres@127.0.0.1:1/postgres", 0);

  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << store.status();
}

TEST_F(StoreTest, ReconnectsAfterConnectionsAreTerminated) {
  ASSERT_TRUE(store_->Ping().ok());

  QueryInt(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  const absl::Status first = store_->Ping();
  const absl::Status second = store_->Ping();

  // The first call may still pick up the killed idle connection.
  EXPECT_TRUE(first.ok() || first.code() == absl::StatusCode::kUnavailable) << first;
  EXPECT_TRUE(second.ok()) << second;
}

TEST(TestDatabaseTest, UnsetVariableFailsPrecondition) {
  const char* saved = std::getenv(testing::kTestDatabaseUrlVariable);
  const std::string saved_value = saved == nullptr ? "" : saved;
  unsetenv(testing::kTestDatabaseUrlVariable);

  absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();

  if (saved != nullptr) setenv(testing::kTestDatabaseUrlVariable, saved_value.c_str(), 1);
  EXPECT_EQ(database.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(database.status().message().find(testing::kTestDatabaseUrlVariable),
            absl::string_view::npos);
}

TEST(TestDatabaseTest, ReplacesDatabaseNameInUrl) {
  EXPECT_EQ(testing::ReplaceDatabaseName("postgresql://u@h:5/postgres", "t"),
            "postgresql://u@h:5/t");
  EXPECT_EQ(testing::ReplaceDatabaseName("postgresql://u@h:5", "t"), "postgresql://u@h:5/t");
  EXPECT_EQ(testing::ReplaceDatabaseName("postgres://u@h/db?sslmode=disable", "t"),
            "postgres://u@h/t?sslmode=disable");
  EXPECT_EQ(testing::ReplaceDatabaseName("postgresql://h?user=u", "t"), "postgresql://h/t?user=u");
  EXPECT_EQ(testing::ReplaceDatabaseName("host=h dbname=postgres", "t"),
            "host=h dbname=postgres dbname=t");
}

TEST(TestDatabaseTest, DropsDatabaseOnDestruction) {
  std::unique_ptr<TestDatabase> database = CreateDatabaseOrFail();
  ASSERT_NE(database, nullptr);
  const std::string url = database->url();
  ASSERT_TRUE(ApplyMigrations(url).ok());

  database.reset();

  EXPECT_EQ(ApplyMigrations(url).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace accessdelegation::storage
