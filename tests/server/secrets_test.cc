#include "server/secrets.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

namespace accessdelegation::server {
namespace {

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitializeCrypto().ok()); }
};

TEST_F(SecretsTest, TokensAreUrlSafeAndDistinct) {
  std::set<std::string> tokens;

  for (int i = 0; i < 100; ++i) tokens.insert(NewToken());

  EXPECT_EQ(tokens.size(), 100u);
  for (const std::string& token : tokens) {
    EXPECT_EQ(token.size(), 43u);
    EXPECT_EQ(token.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
  }
}

TEST_F(SecretsTest, HashTokenIsSha256) {
  EXPECT_EQ(ToHex(HashToken("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(SecretsTest, UuidHasVersionFourForm) {
  const std::string uuid = NewUuid();

  ASSERT_EQ(uuid.size(), 36u);
  EXPECT_EQ(uuid[14], '4');
  EXPECT_NE(std::string("89ab").find(uuid[19]), std::string::npos);
}

TEST_F(SecretsTest, PasswordVerifiesOnlyItself) {
  absl::StatusOr<std::string> hash = HashPassword("correct horse battery");
  ASSERT_TRUE(hash.ok()) << hash.status();

  EXPECT_EQ(hash->find("correct horse"), std::string::npos);
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(VerifyPassword("correct horse battery", *hash));
  EXPECT_FALSE(VerifyPassword("correct horse batterY", *hash));
}

TEST_F(SecretsTest, SecretBoxRoundTripsAndPersistsItsKey) {
  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("secrets_test_" + NewToken());
  std::filesystem::create_directories(directory);
  const std::string path = (directory / "secret.key").string();

  absl::StatusOr<SecretBox> created = SecretBox::LoadOrCreate(path);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string sealed = created->Seal("the token");
  absl::StatusOr<SecretBox> reloaded = SecretBox::LoadOrCreate(path);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  absl::StatusOr<std::string> opened = reloaded->Open(sealed);

  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "the token");
  EXPECT_EQ(sealed.find("the token"), std::string::npos);
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::filesystem::remove_all(directory);
}

TEST_F(SecretsTest, SecretBoxRejectsAlteredCiphertext) {
  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("secrets_test_" + NewToken());
  std::filesystem::create_directories(directory);
  absl::StatusOr<SecretBox> box = SecretBox::LoadOrCreate((directory / "key").string());
  ASSERT_TRUE(box.ok()) << box.status();
  std::string sealed = box->Seal("the token");

  sealed.back() ^= 1;

  EXPECT_EQ(box->Open(sealed).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(box->Open("short").status().code(), absl::StatusCode::kDataLoss);
  std::filesystem::remove_all(directory);
}

TEST_F(SecretsTest, SecretBoxRejectsKeyFileOfWrongSize) {
  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("secrets_test_" + NewToken());
  std::filesystem::create_directories(directory);
  const std::string path = (directory / "key").string();
  std::ofstream(path) << "too short";

  EXPECT_EQ(SecretBox::LoadOrCreate(path).status().code(), absl::StatusCode::kInvalidArgument);
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace accessdelegation::server
