#include "tests/storage/store_test_base.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"

namespace accessdelegation::storage {

std::string TokenHash(int seed) {
  std::string hash(32, '\x5a');
  hash[0] = '\0';
  for (int i = 1; i <= 4; ++i) hash[i] = static_cast<char>((seed >> (8 * (i - 1))) & 0xff);
  return hash;
}

void StoreTest::SetUp() {
  absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database = testing::TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  database_ = *std::move(database);

  absl::StatusOr<std::vector<int>> applied = ApplyMigrations(database_->url());
  ASSERT_TRUE(applied.ok()) << applied.status();

  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(database_->url(), kPoolSize);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
}

Actor TestActor() {
  Actor actor;
  actor.kind = "service";
  actor.id = "storage-test";
  actor.request_id = "-";
  actor.peer = "local";
  return actor;
}

absl::StatusOr<AccountRecord> StoreTest::CreateAccount(const std::string& email) {
  NewAccount account;
  account.email = email;
  account.password_hash = "$argon2id$placeholder";
  account.first_name = "First";
  account.last_name = "Last";
  account.phone_e164 = "+14155550123";
  return store_->CreateAccount(TestActor(), account);
}

absl::StatusOr<InvitationRecord> StoreTest::Invite(const AccountRecord& owner,
                                                   const std::string& email, int token_seed,
                                                   absl::Duration ttl) {
  NewInvitation invitation;
  invitation.owner_account_id = owner.id;
  invitation.email = email;
  invitation.first_name = "Invited";
  invitation.last_name = "Person";
  invitation.access_level = v1::ACCESS_LEVEL_FULL;
  invitation.token_hash = TokenHash(token_seed);
  invitation.expire_time = absl::Now() + ttl;
  return store_->CreateInvitation(kTestActor, invitation, RecordingComposer(), {});
}

EmailComposer StoreTest::RecordingComposer() {
  return [this](const EmailContext& context) {
    {
      absl::MutexLock lock(&mu_);
      composed_.push_back(context);
    }
    OutboxEmail email;
    email.recipient = context.invitation.email;
    email.subject = absl::StrCat("Invitation ", context.invitation.id);
    email.body_text = absl::StrCat("Open ", kSecretPlaceholder);
    email.body_html = absl::StrCat("<p>Open ", kSecretPlaceholder, "</p>");
    email.sealed_secret = std::string("sealed\0secret", 13);
    return email;
  };
}

std::vector<EmailContext> StoreTest::composed() {
  absl::MutexLock lock(&mu_);
  return composed_;
}

std::vector<QueuedEmail> StoreTest::ClaimAll() {
  absl::StatusOr<std::vector<QueuedEmail>> emails = store_->ClaimEmails(1000);
  EXPECT_TRUE(emails.ok()) << emails.status();
  if (!emails.ok()) return {};
  return *std::move(emails);
}

int64_t StoreTest::QueryInt(const std::string& sql) {
  pqxx::connection connection(database_->url());
  pqxx::work txn(connection);
  return txn.exec1(sql)[0].as<int64_t>();
}

void StoreTest::ExecuteSql(const std::string& sql) {
  pqxx::connection connection(database_->url());
  pqxx::work txn(connection);
  txn.exec(sql);
  txn.commit();
}

void DelegationTest::SetUp() {
  StoreTest::SetUp();
  if (HasFatalFailure()) return;

  absl::StatusOr<AccountRecord> owner = CreateAccount("owner@example.com");
  ASSERT_TRUE(owner.ok()) << owner.status();
  owner_ = *std::move(owner);
  absl::StatusOr<AccountRecord> invitee = CreateAccount("bob@example.com");
  ASSERT_TRUE(invitee.ok()) << invitee.status();
  invitee_ = *std::move(invitee);
  absl::StatusOr<AccountRecord> other = CreateAccount("carol@example.com");
  ASSERT_TRUE(other.ok()) << other.status();
  other_ = *std::move(other);
}

absl::StatusOr<InvitationRecord> DelegationTest::InviteInvitee(absl::Duration ttl) {
  return Invite(owner_, "BOB@example.com", kInviteeToken, ttl);
}

absl::StatusOr<InvitationRecord> DelegationTest::Accept(const std::string& account_id,
                                                        absl::Time now) {
  return store_->AcceptInvitation(kTestActor, TokenHash(kInviteeToken), account_id, now, RecordingComposer(), {});
}

absl::StatusOr<Confirmation> DelegationTest::InviteAcceptConfirm() {
  absl::StatusOr<InvitationRecord> invitation = InviteInvitee();
  if (!invitation.ok()) return invitation.status();
  absl::StatusOr<InvitationRecord> accepted = Accept(invitee_.id);
  if (!accepted.ok()) return accepted.status();
  return store_->ConfirmInvitation(kTestActor, owner_.id, invitation->id, std::nullopt, RecordingComposer(), {});
}

}  // namespace accessdelegation::storage
