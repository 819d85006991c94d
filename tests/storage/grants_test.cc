#include <gtest/gtest.h>

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "storage/store.h"
#include "tests/storage/store_test_base.h"

namespace accessdelegation::storage {
namespace {

TEST_F(DelegationTest, FindGrantReturnsLiveGrant) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();

  absl::StatusOr<std::optional<GrantRecord>> found = store_->FindGrant(owner_.id, invitee_.id);
  absl::StatusOr<std::optional<GrantRecord>> reversed = store_->FindGrant(invitee_.id, owner_.id);

  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, confirmation->grant.id);
  EXPECT_EQ((*found)->access_level, v1::ACCESS_LEVEL_FULL);
  EXPECT_EQ((*found)->create_time, confirmation->grant.create_time);
  ASSERT_TRUE(reversed.ok()) << reversed.status();
  EXPECT_FALSE(reversed->has_value());
}

TEST_F(DelegationTest, FindGrantUsesLiveGrantIndex) {
  ASSERT_TRUE(InviteAcceptConfirm().ok());
  // With so few rows the planner would pick a sequential scan, so the test forbids it to
  // check that the lookup can use the index at all.
  pqxx::connection connection(database_->url());
  pqxx::work txn(connection);
  txn.exec0("SET LOCAL enable_seqscan = off");

  const pqxx::result plan = txn.exec(
      "EXPLAIN SELECT id FROM grants WHERE owner_account_id = gen_random_uuid() "
      "AND delegate_account_id = gen_random_uuid() AND revoke_time IS NULL");

  std::string text;
  for (const pqxx::row& row : plan) text += row[0].c_str();
  EXPECT_NE(text.find("grants_live_owner_delegate_idx"), std::string::npos) << text;
}

TEST_F(DelegationTest, ListGrantsOldestFirst) {
  absl::StatusOr<Confirmation> first = InviteAcceptConfirm();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<InvitationRecord> second = Invite(owner_, "carol@example.com", 2);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(
      store_->AcceptInvitation(kTestActor, TokenHash(2), other_.id, absl::Now(), RecordingComposer(), {}).ok());
  absl::StatusOr<Confirmation> second_confirmation =
      store_->ConfirmInvitation(kTestActor, owner_.id, second->id, std::nullopt, RecordingComposer(), {});
  ASSERT_TRUE(second_confirmation.ok()) << second_confirmation.status();

  absl::StatusOr<Page<GrantRecord>> grants = store_->ListGrants(owner_.id, v1::GRANT_STATE_ACTIVE, absl::Now(), PageRequest{1000, std::nullopt});

  ASSERT_TRUE(grants.ok()) << grants.status();
  ASSERT_EQ(grants->items.size(), 2u);
  EXPECT_EQ(grants->items[0].id, first->grant.id);
  EXPECT_EQ(grants->items[1].id, second_confirmation->grant.id);
  EXPECT_EQ(grants->items[1].delegate_email, "carol@example.com");
}

TEST_F(DelegationTest, UpdateGrantChangesLevel) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();

  absl::StatusOr<GrantRecord> updated =
      store_->UpdateGrant(kTestActor, owner_.id, confirmation->grant.id, std::nullopt, GrantUpdate{v1::ACCESS_LEVEL_APPOINTMENTS_ONLY}, NoGrantEmails(), {});
  absl::StatusOr<std::optional<GrantRecord>> found = store_->FindGrant(owner_.id, invitee_.id);

  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->access_level, v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  EXPECT_GT(updated->update_time, confirmation->grant.update_time);
  EXPECT_EQ(updated->create_time, confirmation->grant.create_time);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->access_level, v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
}

TEST_F(DelegationTest, UpdateGrantSameLevelKeepsUpdateTime) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();

  absl::StatusOr<GrantRecord> updated =
      store_->UpdateGrant(kTestActor, owner_.id, confirmation->grant.id, std::nullopt, GrantUpdate{v1::ACCESS_LEVEL_FULL}, NoGrantEmails(), {});

  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->update_time, confirmation->grant.update_time);
}

TEST_F(DelegationTest, UpdateGrantOtherOwnerNotFound) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();

  absl::StatusOr<GrantRecord> updated =
      store_->UpdateGrant(kTestActor, other_.id, confirmation->grant.id, std::nullopt, GrantUpdate{v1::ACCESS_LEVEL_APPOINTMENTS_ONLY}, NoGrantEmails(), {});

  EXPECT_EQ(updated.status().code(), absl::StatusCode::kNotFound) << updated.status();
}

TEST_F(DelegationTest, UpdateGrantUnspecifiedLevelInvalid) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();

  absl::StatusOr<GrantRecord> updated =
      store_->UpdateGrant(kTestActor, owner_.id, confirmation->grant.id, std::nullopt, GrantUpdate{v1::ACCESS_LEVEL_UNSPECIFIED}, NoGrantEmails(), {});

  EXPECT_EQ(updated.status().code(), absl::StatusCode::kInvalidArgument) << updated.status();
}

TEST_F(DelegationTest, RevokeGrantEndsAccess) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();

  const absl::Status revoked = store_->RevokeGrant(kTestActor, owner_.id, confirmation->grant.id, std::nullopt, NoGrantEmails(), {}).status();
  absl::StatusOr<std::optional<GrantRecord>> found = store_->FindGrant(owner_.id, invitee_.id);
  absl::StatusOr<Page<GrantRecord>> listed = store_->ListGrants(owner_.id, v1::GRANT_STATE_ACTIVE, absl::Now(), PageRequest{1000, std::nullopt});
  const absl::Status revoked_again = store_->RevokeGrant(kTestActor, owner_.id, confirmation->grant.id, std::nullopt, NoGrantEmails(), {}).status();
  absl::StatusOr<GrantRecord> updated =
      store_->UpdateGrant(kTestActor, owner_.id, confirmation->grant.id, std::nullopt, GrantUpdate{v1::ACCESS_LEVEL_FULL}, NoGrantEmails(), {});

  EXPECT_TRUE(revoked.ok()) << revoked;
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_FALSE(found->has_value());
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->items.empty());
  EXPECT_EQ(revoked_again.code(), absl::StatusCode::kNotFound) << revoked_again;
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kNotFound) << updated.status();
}

TEST_F(DelegationTest, ListGrantsByEndedState) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();
  ASSERT_TRUE(store_->RevokeGrant(kTestActor, owner_.id, confirmation->grant.id, std::nullopt,
                                  NoGrantEmails(), {})
                  .ok());
  const PageRequest all{1000, std::nullopt};

  absl::StatusOr<Page<GrantRecord>> revoked =
      store_->ListGrants(owner_.id, v1::GRANT_STATE_REVOKED, absl::Now(), all);
  absl::StatusOr<Page<GrantRecord>> left =
      store_->ListGrants(owner_.id, v1::GRANT_STATE_LEFT, absl::Now(), all);
  absl::StatusOr<Page<GrantRecord>> delegated =
      store_->ListDelegatedAccess(invitee_.id, v1::GRANT_STATE_REVOKED, absl::Now(), all);

  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_EQ(revoked->items.size(), 1u);
  EXPECT_EQ(revoked->items[0].id, confirmation->grant.id);
  EXPECT_EQ(revoked->items[0].state, v1::GRANT_STATE_REVOKED);
  ASSERT_TRUE(revoked->items[0].end_time.has_value());
  EXPECT_GE(*revoked->items[0].end_time, confirmation->grant.create_time);
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_TRUE(left->items.empty());
  ASSERT_TRUE(delegated.ok()) << delegated.status();
  ASSERT_EQ(delegated->items.size(), 1u);
  EXPECT_EQ(delegated->items[0].id, confirmation->grant.id);
}

TEST_F(DelegationTest, ListGrantsExpiredBeforeSweep) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();
  const absl::Time later = absl::Now() + absl::Hours(2);
  GrantUpdate update{v1::ACCESS_LEVEL_FULL};
  update.change_expire_time = true;
  // Whole microseconds, as PostgreSQL stores them.
  update.expire_time = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() + absl::Hours(1)));
  ASSERT_TRUE(store_->UpdateGrant(kTestActor, owner_.id, confirmation->grant.id, std::nullopt,
                                  update, NoGrantEmails(), {})
                  .ok());
  const PageRequest all{1000, std::nullopt};

  absl::StatusOr<Page<GrantRecord>> active_now =
      store_->ListGrants(owner_.id, v1::GRANT_STATE_ACTIVE, absl::Now(), all);
  absl::StatusOr<Page<GrantRecord>> active_later =
      store_->ListGrants(owner_.id, v1::GRANT_STATE_ACTIVE, later, all);
  absl::StatusOr<Page<GrantRecord>> expired_later =
      store_->ListGrants(owner_.id, v1::GRANT_STATE_EXPIRED, later, all);

  ASSERT_TRUE(active_now.ok()) << active_now.status();
  ASSERT_EQ(active_now->items.size(), 1u);
  EXPECT_EQ(active_now->items[0].state, v1::GRANT_STATE_ACTIVE);
  EXPECT_FALSE(active_now->items[0].end_time.has_value());
  ASSERT_TRUE(active_later.ok()) << active_later.status();
  EXPECT_TRUE(active_later->items.empty());
  ASSERT_TRUE(expired_later.ok()) << expired_later.status();
  ASSERT_EQ(expired_later->items.size(), 1u);
  EXPECT_EQ(expired_later->items[0].state, v1::GRANT_STATE_EXPIRED);
  EXPECT_EQ(expired_later->items[0].end_time, update.expire_time);
}

TEST_F(DelegationTest, ListGrantsMissingStateInvalid) {
  absl::StatusOr<Page<GrantRecord>> grants = store_->ListGrants(
      owner_.id, v1::GRANT_STATE_UNSPECIFIED, absl::Now(), PageRequest{10, std::nullopt});

  EXPECT_EQ(grants.status().code(), absl::StatusCode::kInvalidArgument) << grants.status();
}

TEST_F(DelegationTest, RevokeGrantOtherOwnerNotFound) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();

  const absl::Status revoked = store_->RevokeGrant(kTestActor, other_.id, confirmation->grant.id, std::nullopt, NoGrantEmails(), {}).status();

  EXPECT_EQ(revoked.code(), absl::StatusCode::kNotFound) << revoked;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM grants WHERE revoke_time IS NULL"), 1);
}

TEST_F(DelegationTest, InviteAgainAfterRevokeGrantsAgain) {
  absl::StatusOr<Confirmation> first = InviteAcceptConfirm();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(store_->RevokeGrant(kTestActor, owner_.id, first->grant.id, std::nullopt, NoGrantEmails(), {}).status().ok());

  absl::StatusOr<InvitationRecord> second = Invite(owner_, "bob@example.com", 2);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(
      store_->AcceptInvitation(kTestActor, TokenHash(2), invitee_.id, absl::Now(), RecordingComposer(), {}).ok());
  absl::StatusOr<Confirmation> confirmation =
      store_->ConfirmInvitation(kTestActor, owner_.id, second->id, std::nullopt, RecordingComposer(), {});

  ASSERT_TRUE(confirmation.ok()) << confirmation.status();
  EXPECT_NE(confirmation->grant.id, first->grant.id);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM grants"), 2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM grants WHERE revoke_time IS NULL"), 1);
}

}  // namespace
}  // namespace accessdelegation::storage
