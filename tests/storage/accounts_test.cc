#include <gtest/gtest.h>

#include <string>

#include "absl/time/time.h"
#include "storage/store.h"
#include "tests/storage/store_test_base.h"

namespace accessdelegation::storage {
namespace {

// A time with a non-zero microsecond part, to check that times round-trip exactly.
const absl::Time kSessionExpireTime = absl::FromUnixMicros(1900000000123457);

TEST_F(StoreTest, CreateAccountReturnsStoredFields) {
  absl::StatusOr<AccountRecord> account = CreateAccount("Alice@Example.com");

  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(account->id.size(), 36u);
  EXPECT_EQ(account->email, "Alice@Example.com");
  EXPECT_EQ(account->first_name, "First");
  EXPECT_EQ(account->last_name, "Last");
  EXPECT_EQ(account->phone_e164, "+14155550123");
  EXPECT_LT(absl::AbsDuration(account->create_time - absl::Now()), absl::Minutes(1));
}

TEST_F(StoreTest, CreateAccountSameEmailOtherCaseAlreadyExists) {
  ASSERT_TRUE(CreateAccount("alice@example.com").ok());

  absl::StatusOr<AccountRecord> duplicate = CreateAccount("ALICE@Example.COM");

  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kAlreadyExists) << duplicate.status();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM accounts"), 1);
}

TEST_F(StoreTest, FindCredentialsByLowerCaseEmail) {
  absl::StatusOr<AccountRecord> account = CreateAccount("Alice@Example.com");
  ASSERT_TRUE(account.ok()) << account.status();

  absl::StatusOr<Credentials> credentials = store_->FindCredentials("alice@example.com");

  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->account_id, account->id);
  EXPECT_EQ(credentials->password_hash, "$argon2id$placeholder");
}

TEST_F(StoreTest, FindCredentialsUnknownEmailNotFound) {
  absl::StatusOr<Credentials> credentials = store_->FindCredentials("nobody@example.com");

  EXPECT_EQ(credentials.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, GetAccountReturnsCreatedAccount) {
  absl::StatusOr<AccountRecord> created = CreateAccount("alice@example.com");
  ASSERT_TRUE(created.ok()) << created.status();

  absl::StatusOr<AccountRecord> read = store_->GetAccount(created->id);

  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->id, created->id);
  EXPECT_EQ(read->email, created->email);
  EXPECT_EQ(read->create_time, created->create_time);
}

TEST_F(StoreTest, GetAccountUnknownIdNotFound) {
  absl::StatusOr<AccountRecord> account =
      store_->GetAccount("00000000-0000-0000-0000-000000000000");

  EXPECT_EQ(account.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, SessionFoundUntilExpireTime) {
  absl::StatusOr<AccountRecord> account = CreateAccount("alice@example.com");
  ASSERT_TRUE(account.ok()) << account.status();
  ASSERT_TRUE(store_->CreateSession(TokenHash(1), account->id, kSessionExpireTime).ok());

  absl::StatusOr<std::string> before =
      store_->FindSession(TokenHash(1), kSessionExpireTime - absl::Microseconds(1));
  absl::StatusOr<std::string> at = store_->FindSession(TokenHash(1), kSessionExpireTime);

  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, account->id);
  EXPECT_EQ(at.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, SessionOtherTokenNotFound) {
  absl::StatusOr<AccountRecord> account = CreateAccount("alice@example.com");
  ASSERT_TRUE(account.ok()) << account.status();
  ASSERT_TRUE(store_->CreateSession(TokenHash(1), account->id, kSessionExpireTime).ok());

  absl::StatusOr<std::string> found = store_->FindSession(TokenHash(2), absl::Now());

  EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, EndedSessionNotFound) {
  absl::StatusOr<AccountRecord> account = CreateAccount("alice@example.com");
  ASSERT_TRUE(account.ok()) << account.status();
  ASSERT_TRUE(store_->CreateSession(TokenHash(1), account->id, kSessionExpireTime).ok());

  const absl::Status ended = store_->EndSession(TokenHash(1));
  const absl::Status ended_again = store_->EndSession(TokenHash(1));
  absl::StatusOr<std::string> found = store_->FindSession(TokenHash(1), absl::Now());

  EXPECT_TRUE(ended.ok()) << ended;
  EXPECT_TRUE(ended_again.ok()) << ended_again;
  EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, GetSessionReportsEndTime) {
  absl::StatusOr<AccountRecord> account = CreateAccount("alice@example.com");
  ASSERT_TRUE(account.ok()) << account.status();
  ASSERT_TRUE(store_->CreateSession(TokenHash(1), account->id, kSessionExpireTime).ok());
  absl::StatusOr<SessionRecord> live = store_->GetSession(TokenHash(1));

  ASSERT_TRUE(store_->EndSession(TokenHash(1)).ok());
  absl::StatusOr<SessionRecord> ended = store_->GetSession(TokenHash(1));

  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_FALSE(live->end_time.has_value());
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_TRUE(ended->end_time.has_value());
  EXPECT_EQ(ended->account_id, account->id);
}

TEST_F(StoreTest, CreateSessionUnknownAccountNotFound) {
  const absl::Status status = store_->CreateSession(
      TokenHash(1), "00000000-0000-0000-0000-000000000000", kSessionExpireTime);

  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
}

TEST_F(StoreTest, CreateSessionSameTokenAlreadyExists) {
  absl::StatusOr<AccountRecord> account = CreateAccount("alice@example.com");
  ASSERT_TRUE(account.ok()) << account.status();
  ASSERT_TRUE(store_->CreateSession(TokenHash(1), account->id, kSessionExpireTime).ok());

  const absl::Status status = store_->CreateSession(TokenHash(1), account->id, kSessionExpireTime);

  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
}

TEST_F(StoreTest, SignUpWithInvitationUsesInvitedEmail) {
  absl::StatusOr<AccountRecord> owner = CreateAccount("owner@example.com");
  ASSERT_TRUE(owner.ok()) << owner.status();
  ASSERT_TRUE(Invite(*owner, "Bob@Example.com", 1).ok());
  NewAccount account;
  account.email = "ignored@example.com";
  account.password_hash = "hash";
  account.first_name = "Bob";
  account.last_name = "Builder";

  absl::StatusOr<AccountRecord> created =
      store_->SignUpWithInvitation(TestActor(), TokenHash(1), account, absl::Now());

  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->email, "Bob@Example.com");
  EXPECT_EQ(created->first_name, "Bob");
  EXPECT_TRUE(store_->FindCredentials("bob@example.com").ok());
  EXPECT_EQ(store_->FindCredentials("ignored@example.com").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, SignUpWithUsedTokenNotFound) {
  absl::StatusOr<AccountRecord> owner = CreateAccount("owner@example.com");
  ASSERT_TRUE(owner.ok()) << owner.status();
  ASSERT_TRUE(Invite(*owner, "bob@example.com", 1).ok());
  NewAccount account;
  account.password_hash = "hash";
  ASSERT_TRUE(store_->SignUpWithInvitation(TestActor(), TokenHash(1), account, absl::Now()).ok());

  absl::StatusOr<AccountRecord> again =
      store_->SignUpWithInvitation(TestActor(), TokenHash(1), account, absl::Now());

  EXPECT_EQ(again.status().code(), absl::StatusCode::kNotFound) << again.status();
}

TEST_F(StoreTest, SignUpWithExistingEmailAlreadyExists) {
  absl::StatusOr<AccountRecord> owner = CreateAccount("owner@example.com");
  ASSERT_TRUE(owner.ok()) << owner.status();
  ASSERT_TRUE(CreateAccount("BOB@example.com").ok());
  ASSERT_TRUE(Invite(*owner, "bob@example.com", 1).ok());
  NewAccount account;
  account.password_hash = "hash";

  absl::StatusOr<AccountRecord> created =
      store_->SignUpWithInvitation(TestActor(), TokenHash(1), account, absl::Now());

  EXPECT_EQ(created.status().code(), absl::StatusCode::kAlreadyExists) << created.status();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM invitations WHERE signup_used"), 0);
}

TEST_F(StoreTest, SignUpWithExpiredInvitationNotFound) {
  absl::StatusOr<AccountRecord> owner = CreateAccount("owner@example.com");
  ASSERT_TRUE(owner.ok()) << owner.status();
  ASSERT_TRUE(Invite(*owner, "bob@example.com", 1, absl::Hours(1)).ok());
  NewAccount account;
  account.password_hash = "hash";

  absl::StatusOr<AccountRecord> created = store_->SignUpWithInvitation(
      TestActor(), TokenHash(1), account, absl::Now() + absl::Hours(2));

  EXPECT_EQ(created.status().code(), absl::StatusCode::kNotFound) << created.status();
}

TEST_F(StoreTest, SignUpWithUnknownTokenNotFound) {
  NewAccount account;
  account.password_hash = "hash";

  absl::StatusOr<AccountRecord> created =
      store_->SignUpWithInvitation(TestActor(), TokenHash(99), account, absl::Now());

  EXPECT_EQ(created.status().code(), absl::StatusCode::kNotFound) << created.status();
}

}  // namespace
}  // namespace accessdelegation::storage
