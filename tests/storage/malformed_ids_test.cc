#include <gtest/gtest.h>

#include <string>

#include "absl/time/clock.h"
#include "storage/store.h"
#include "tests/storage/store_test_base.h"

namespace accessdelegation::storage {
namespace {

// Ids that are not UUIDs, including ones PostgreSQL would reject with a cast error.
const char* const kMalformedIds[] = {
    "",
    "not-a-uuid",
    "00000000-0000-0000-0000-00000000000",    // One digit short.
    "00000000-0000-0000-0000-0000000000000",  // One digit long.
    "0000000000000000000000000000000000000",  // No hyphens.
    "g0000000-0000-0000-0000-000000000000",   // Not hexadecimal.
    "00000000-0000-0000-0000-000000000000'",  // Quote.
};

TEST_F(DelegationTest, MalformedIdsAreNotFound) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();
  const std::string& invitation_id = confirmation->invitation.id;
  const std::string& grant_id = confirmation->grant.id;

  for (const char* id : kMalformedIds) {
    SCOPED_TRACE(std::string("id: \"") + id + "\"");
    AccountRecord malformed_owner = owner_;
    malformed_owner.id = id;
    EXPECT_EQ(store_->GetAccount(id).status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(store_->CreateSession(TokenHash(50), id, absl::Now()).code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(store_->ConfirmInvitation(kTestActor, owner_.id, id, std::nullopt, RecordingComposer(), {}).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(store_->ConfirmInvitation(kTestActor, id, invitation_id, std::nullopt, RecordingComposer(), {}).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(store_->DenyInvitation(kTestActor, owner_.id, id, std::nullopt, RecordingComposer(), {}).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(store_->DenyInvitation(kTestActor, id, invitation_id, std::nullopt, RecordingComposer(), {}).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(store_->UpdateGrant(kTestActor, owner_.id, id, std::nullopt, GrantUpdate{v1::ACCESS_LEVEL_FULL}, NoGrantEmails(), {}).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(store_->UpdateGrant(kTestActor, id, grant_id, std::nullopt, GrantUpdate{v1::ACCESS_LEVEL_FULL}, NoGrantEmails(), {}).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(store_->RevokeGrant(kTestActor, owner_.id, id, std::nullopt, NoGrantEmails(), {}).status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(store_->RevokeGrant(kTestActor, id, grant_id, std::nullopt, NoGrantEmails(), {}).status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(
        store_->AcceptInvitation(kTestActor, TokenHash(kInviteeToken), id, absl::Now(), RecordingComposer(), {})
            .status()
            .code(),
        absl::StatusCode::kNotFound);
    EXPECT_EQ(Invite(malformed_owner, "dave@example.com", 51).status().code(),
              absl::StatusCode::kNotFound);

    absl::StatusOr<std::optional<GrantRecord>> grant = store_->FindGrant(id, invitee_.id);
    ASSERT_TRUE(grant.ok()) << grant.status();
    EXPECT_FALSE(grant->has_value());
    absl::StatusOr<std::optional<GrantRecord>> reversed = store_->FindGrant(owner_.id, id);
    ASSERT_TRUE(reversed.ok()) << reversed.status();
    EXPECT_FALSE(reversed->has_value());
    absl::StatusOr<Page<GrantRecord>> grants = store_->ListGrants(id, v1::GRANT_STATE_ACTIVE, absl::Now(), PageRequest{1000, std::nullopt});
    ASSERT_TRUE(grants.ok()) << grants.status();
    EXPECT_TRUE(grants->items.empty());
    absl::StatusOr<Page<InvitationRecord>> invitations =
        store_->ListInvitations(id, v1::INVITATION_STATE_UNSPECIFIED, absl::Now(), PageRequest{1000, std::nullopt});
    ASSERT_TRUE(invitations.ok()) << invitations.status();
    EXPECT_TRUE(invitations->items.empty());
  }

  // Nothing above changed the confirmed invitation or its grant.
  EXPECT_EQ(QueryInt("SELECT count(*) FROM grants WHERE revoke_time IS NULL"), 1);
}

TEST_F(DelegationTest, UpperCaseIdsAreAccepted) {
  absl::StatusOr<Confirmation> confirmation = InviteAcceptConfirm();
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();
  std::string owner_id = owner_.id;
  std::string grant_id = confirmation->grant.id;
  for (char& c : owner_id) c = static_cast<char>(toupper(c));
  for (char& c : grant_id) c = static_cast<char>(toupper(c));

  absl::StatusOr<AccountRecord> account = store_->GetAccount(owner_id);
  absl::StatusOr<GrantRecord> updated =
      store_->UpdateGrant(kTestActor, owner_id, grant_id, std::nullopt, GrantUpdate{v1::ACCESS_LEVEL_APPOINTMENTS_ONLY}, NoGrantEmails(), {});

  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(account->id, owner_.id);
  EXPECT_TRUE(updated.ok()) << updated.status();
}

}  // namespace
}  // namespace accessdelegation::storage
