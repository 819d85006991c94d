// End-to-end tests of the grant paths beyond the basic flow: re-invitation after a
// revoke, grant expiry and its sweep, etags, paging, the state filter of the lists,
// LeaveGrant and ListDelegatedAccess.

#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/grant_sweeper.h"
#include "server/grant_view.h"
#include "storage/store.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

// Inserts `count` delegate accounts, their confirmed invitations and their grants on the
// record of `owner_id`, all with the same create_time, straight in the database.
constexpr char kSeedGrantsSql[] = R"sql(
WITH delegates AS (
  INSERT INTO accounts (email, email_normalized, password_hash, first_name, last_name)
  SELECT 'seeded' || i || '@example.org', 'seeded' || i || '@example.org', 'unused',
         'Seeded', 'Delegate' || i
  FROM generate_series(1, $2::int) AS i
  RETURNING id, email_normalized
), invitations_made AS (
  INSERT INTO invitations (owner_account_id, email, email_normalized, first_name, last_name,
                           access_level, state, token_hash, invitee_account_id, expire_time)
  SELECT $1::uuid, email_normalized, email_normalized, 'Seeded', 'Delegate', 'FULL',
         'CONFIRMED', sha256(convert_to(id::text, 'UTF8')), id, now() + interval '1 day'
  FROM delegates
  RETURNING id, invitee_account_id
)
INSERT INTO grants (owner_account_id, delegate_account_id, access_level, invitation_id)
SELECT $1::uuid, invitee_account_id, 'FULL', id FROM invitations_made
)sql";

class LifecycleGrantTest : public E2eTest {
 protected:
  // Runs `sql` with `grant_id` as $1 straight in the test database.
  void ExecuteWithId(const std::string& sql, const std::string& id) {
    pqxx::connection connection(database_url());
    pqxx::work transaction(connection);
    transaction.exec_params(sql, id);
    transaction.commit();
  }

  // Returns a consistency token of the database's current WAL position, so that a check
  // carrying it reflects a change made straight in the database before the call.
  std::string DatabaseConsistencyToken() {
    pqxx::connection connection(database_url());
    pqxx::nontransaction transaction(connection);
    const pqxx::row row =
        transaction.exec1("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint");
    return server::RenderConsistencyToken(row[0].as<uint64_t>());
  }

  void SeedGrants(const std::string& owner_id, int count) {
    pqxx::connection connection(database_url());
    pqxx::work transaction(connection);
    transaction.exec_params(kSeedGrantsSql, owner_id, count);
    transaction.commit();
  }
};

v1::CheckAccessResponse::Reason ReasonOf(const absl::StatusOr<v1::CheckAccessResponse>& response) {
  return response.ok() ? response->reason() : v1::CheckAccessResponse::REASON_UNSPECIFIED;
}

TEST_F(LifecycleGrantTest, RevokeThenReinviteAtLowerLevelLeavesOnlyLowerLevel) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant first, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(first.grant_id());
  ASSERT_OK(owner.client->RevokeGrant(revoke));
  // The revoke notice and the first invitation precede the second invitation.
  ASSERT_OK(WaitForEmailsTo(Delegate().email, 3));

  v1::CreateInvitationRequest invite;
  invite.set_first_name(Delegate().first_name);
  invite.set_last_name(Delegate().last_name);
  invite.set_email(Delegate().email);
  invite.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse second, owner.client->CreateInvitation(invite));
  ASSERT_OK(WaitForEmailsTo(Delegate().email, 4));
  ASSERT_OK_AND_ASSIGN(std::string token, ReadInvitationToken(Delegate().email));
  ASSERT_OK(Accept(*delegate.client, token));
  ASSERT_OK_AND_ASSIGN(v1::ConfirmInvitationResponse confirmed,
                       Confirm(*owner.client, second.invitation().invitation_id()));

  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_NE(grants[0].grant_id(), first.grant_id());
  EXPECT_EQ(grants[0].access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  absl::StatusOr<v1::CheckAccessResponse> health =
      CheckAccess(delegate.account.account_id(), owner.account.account_id(),
                  v1::PERMISSION_VIEW_HEALTH_RECORD);
  ASSERT_OK(health);
  EXPECT_FALSE(health->allowed());
  EXPECT_EQ(health->grant_id(), confirmed.grant().grant_id());
}

TEST_F(LifecycleGrantTest, GrantPastExpireTimeStopsAllowing) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  v1::UpdateGrantRequest update;
  update.set_grant_id(grant.grant_id());
  update.set_access_level(v1::ACCESS_LEVEL_FULL);
  update.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  ASSERT_OK_AND_ASSIGN(v1::UpdateGrantResponse updated, owner.client->UpdateGrant(update));
  absl::StatusOr<v1::CheckAccessResponse> before = CheckAccess(
      delegate.account.account_id(), owner.account.account_id(), v1::PERMISSION_VIEW_BILLING);

  ExecuteWithId("UPDATE grants SET expire_time = now() - interval '1 minute' WHERE id = $1",
                grant.grant_id());
  // The update bypasses the server, so the check carries a token to see it.
  v1::CheckAccessRequest check;
  check.set_account_id(delegate.account.account_id());
  check.set_owner_account_id(owner.account.account_id());
  check.set_permission(v1::PERMISSION_VIEW_BILLING);
  check.set_consistency_token(DatabaseConsistencyToken());
  absl::StatusOr<v1::CheckAccessResponse> after = service().CheckAccess(check);

  EXPECT_TRUE(updated.grant().has_expire_time());
  ASSERT_OK(before);
  EXPECT_TRUE(before->allowed());
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
  EXPECT_EQ(ReasonOf(after), v1::CheckAccessResponse::REASON_NO_GRANT);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  EXPECT_TRUE(grants.empty());
}

TEST_F(LifecycleGrantTest, ExpireTimeInPastInvalid) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  v1::CreateInvitationRequest invite;
  invite.set_first_name(Delegate().first_name);
  invite.set_last_name(Delegate().last_name);
  invite.set_email(Delegate().email);
  invite.set_access_level(v1::ACCESS_LEVEL_FULL);
  invite.mutable_grant_expire_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);

  absl::Status status = owner.client->CreateInvitation(invite).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), "grant_expire_time")) << status;
}

TEST_F(LifecycleGrantTest, ConfirmAfterGrantEndFailsPrecondition) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*delegate.client, sent.token).status());
  ExecuteWithId(
      "UPDATE invitations SET grant_expire_time = now() - interval '1 minute' WHERE id = $1",
      sent.invitation.invitation_id());

  absl::Status status = Confirm(*owner.client, sent.invitation.invitation_id()).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), "grant_expire_time")) << status;
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_EQ(invitations.size(), 1u);
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_ACCEPTED);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  EXPECT_TRUE(grants.empty());
}

TEST_F(LifecycleGrantTest, StaleGrantEtagAborted) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  v1::UpdateGrantRequest update;
  update.set_grant_id(grant.grant_id());
  update.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  update.set_etag(grant.etag());
  ASSERT_OK(owner.client->UpdateGrant(update));

  update.set_access_level(v1::ACCESS_LEVEL_FULL);
  absl::Status stale_update = owner.client->UpdateGrant(update).status();
  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  revoke.set_etag(grant.etag());
  absl::Status stale_revoke = owner.client->RevokeGrant(revoke).status();

  EXPECT_EQ(stale_update.code(), absl::StatusCode::kAborted) << stale_update;
  EXPECT_EQ(stale_revoke.code(), absl::StatusCode::kAborted) << stale_revoke;
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
}

TEST_F(LifecycleGrantTest, ListGrantsPagesOverEveryGrantOnce) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  SeedGrants(owner.account.account_id(), 250);

  std::set<std::string> seen;
  int pages = 0;
  int duplicates = 0;
  v1::ListGrantsRequest request;
  request.set_page_size(100);
  do {
    ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse page, owner.client->ListGrants(request));
    ++pages;
    for (const v1::Grant& grant : page.grants()) {
      if (!seen.insert(grant.grant_id()).second) ++duplicates;
    }
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty() && pages < 10);
  v1::ListGrantsRequest capped;
  capped.set_page_size(1000);
  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse capped_page, owner.client->ListGrants(capped));
  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse default_page, owner.client->ListGrants());

  EXPECT_EQ(seen.size(), 250u);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(capped_page.grants_size(), 200);
  EXPECT_EQ(default_page.grants_size(), 50);
}

TEST_F(LifecycleGrantTest, TamperedPageTokenInvalid) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(Stranger()));
  SeedGrants(owner.account.account_id(), 3);
  v1::ListGrantsRequest request;
  request.set_page_size(1);
  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse first, owner.client->ListGrants(request));
  ASSERT_FALSE(first.next_page_token().empty());

  std::string tampered = first.next_page_token();
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  request.set_page_token(tampered);
  absl::Status tampered_status = owner.client->ListGrants(request).status();
  request.set_page_token("not a token");
  absl::Status garbage_status = owner.client->ListGrants(request).status();
  request.set_page_token(first.next_page_token());
  absl::Status other_owner = stranger.client->ListGrants(request).status();

  EXPECT_EQ(tampered_status.code(), absl::StatusCode::kInvalidArgument) << tampered_status;
  EXPECT_TRUE(absl::StartsWith(tampered_status.message(), "page_token")) << tampered_status;
  EXPECT_EQ(garbage_status.code(), absl::StatusCode::kInvalidArgument) << garbage_status;
  EXPECT_EQ(other_owner.code(), absl::StatusCode::kInvalidArgument) << other_owner;
}

TEST_F(LifecycleGrantTest, ServiceTokenRevokesForOwner) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));

  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  revoke.set_owner_account_id(owner.account.account_id());
  absl::Status revoked = service().RevokeGrant(revoke).status();

  EXPECT_OK(revoked);
  absl::StatusOr<v1::CheckAccessResponse> check = CheckAccess(
      delegate.account.account_id(), owner.account.account_id(), v1::PERMISSION_VIEW_APPOINTMENTS);
  ASSERT_OK(check);
  EXPECT_FALSE(check->allowed());
}

TEST_F(LifecycleGrantTest, LeaveGrantEndsOwnAccessAndNotifiesOwner) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(Stranger()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  v1::LeaveGrantRequest leave;
  leave.set_grant_id(grant.grant_id());

  absl::Status by_stranger = stranger.client->LeaveGrant(leave).status();
  absl::Status left = delegate.client->LeaveGrant(leave).status();
  absl::Status again = delegate.client->LeaveGrant(leave).status();

  EXPECT_EQ(by_stranger.code(), absl::StatusCode::kNotFound) << by_stranger;
  EXPECT_OK(left);
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound) << again;
  absl::StatusOr<v1::CheckAccessResponse> check = CheckAccess(
      delegate.account.account_id(), owner.account.account_id(), v1::PERMISSION_VIEW_APPOINTMENTS);
  ASSERT_OK(check);
  EXPECT_FALSE(check->allowed());
  // The owner gets the acceptance notice first, then the notice that access ended.
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> emails, WaitForEmailsTo(Owner().email, 2));
  bool notified = false;
  for (const walkthrough::Email& email : emails) {
    if (absl::StrContains(email.subject, "gave up access")) notified = true;
  }
  EXPECT_TRUE(notified);
}

TEST_F(LifecycleGrantTest, ListsFilterByState) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(Stranger()));
  const Person cousin = MakePerson("cora.cousin@example.org", "Cora", "Cousin", "+14155550104",
                                   "cousin-password-1234");
  ASSERT_OK_AND_ASSIGN(SignedIn kept, CreateAccountAndSignIn(cousin));
  ASSERT_OK_AND_ASSIGN(v1::Grant revoked, GrantAccess(*owner.client, Delegate(),
                                                      *delegate.client, v1::ACCESS_LEVEL_FULL));
  ASSERT_OK_AND_ASSIGN(v1::Grant left, GrantAccess(*owner.client, Stranger(), *stranger.client,
                                                   v1::ACCESS_LEVEL_APPOINTMENTS_ONLY));
  ASSERT_OK_AND_ASSIGN(v1::Grant active,
                       GrantAccess(*owner.client, cousin, *kept.client, v1::ACCESS_LEVEL_FULL));
  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(revoked.grant_id());
  ASSERT_OK(owner.client->RevokeGrant(revoke));
  v1::LeaveGrantRequest leave;
  leave.set_grant_id(left.grant_id());
  ASSERT_OK(stranger.client->LeaveGrant(leave));
  const auto list = [&](v1::GrantState state) {
    v1::ListGrantsRequest request;
    request.set_state(state);
    return owner.client->ListGrants(request);
  };

  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse by_default, owner.client->ListGrants());
  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse active_list, list(v1::GRANT_STATE_ACTIVE));
  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse revoked_list, list(v1::GRANT_STATE_REVOKED));
  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse left_list, list(v1::GRANT_STATE_LEFT));
  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse expired_list, list(v1::GRANT_STATE_EXPIRED));
  v1::ListDelegatedAccessRequest delegated_request;
  ASSERT_OK_AND_ASSIGN(v1::ListDelegatedAccessResponse delegated_now,
                       delegate.client->ListDelegatedAccess(delegated_request));
  delegated_request.set_state(v1::GRANT_STATE_REVOKED);
  ASSERT_OK_AND_ASSIGN(v1::ListDelegatedAccessResponse delegated_revoked,
                       delegate.client->ListDelegatedAccess(delegated_request));

  ASSERT_EQ(by_default.grants_size(), 1);
  EXPECT_EQ(by_default.grants(0).grant_id(), active.grant_id());
  EXPECT_EQ(by_default.grants(0).state(), v1::GRANT_STATE_ACTIVE);
  EXPECT_FALSE(by_default.grants(0).has_end_time());
  ASSERT_EQ(active_list.grants_size(), 1);
  EXPECT_EQ(active_list.grants(0).grant_id(), active.grant_id());
  ASSERT_EQ(revoked_list.grants_size(), 1);
  EXPECT_EQ(revoked_list.grants(0).grant_id(), revoked.grant_id());
  EXPECT_EQ(revoked_list.grants(0).state(), v1::GRANT_STATE_REVOKED);
  EXPECT_TRUE(revoked_list.grants(0).has_end_time());
  ASSERT_EQ(left_list.grants_size(), 1);
  EXPECT_EQ(left_list.grants(0).grant_id(), left.grant_id());
  EXPECT_EQ(left_list.grants(0).state(), v1::GRANT_STATE_LEFT);
  EXPECT_EQ(expired_list.grants_size(), 0);
  EXPECT_EQ(delegated_now.grants_size(), 0);
  ASSERT_EQ(delegated_revoked.grants_size(), 1);
  EXPECT_EQ(delegated_revoked.grants(0).grant_id(), revoked.grant_id());
  EXPECT_EQ(delegated_revoked.grants(0).owner_account_id(), owner.account.account_id());
}

TEST_F(LifecycleGrantTest, GrantStateFilterRejectsBadInput) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  SeedGrants(owner.account.account_id(), 3);
  v1::ListGrantsRequest active;
  active.set_page_size(1);
  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse first, owner.client->ListGrants(active));
  ASSERT_FALSE(first.next_page_token().empty());

  v1::ListGrantsRequest other_state;
  other_state.set_state(v1::GRANT_STATE_REVOKED);
  other_state.set_page_token(first.next_page_token());
  absl::Status switched = owner.client->ListGrants(other_state).status();
  v1::ListGrantsRequest unknown;
  unknown.set_state(static_cast<v1::GrantState>(99));
  absl::Status unknown_status = owner.client->ListGrants(unknown).status();
  v1::ListDelegatedAccessRequest unknown_delegated;
  unknown_delegated.set_state(static_cast<v1::GrantState>(-1));
  absl::Status unknown_delegated_status =
      owner.client->ListDelegatedAccess(unknown_delegated).status();

  EXPECT_EQ(switched.code(), absl::StatusCode::kInvalidArgument) << switched;
  EXPECT_TRUE(absl::StartsWith(switched.message(), "page_token")) << switched;
  EXPECT_EQ(unknown_status.code(), absl::StatusCode::kInvalidArgument) << unknown_status;
  EXPECT_TRUE(absl::StartsWith(unknown_status.message(), "state")) << unknown_status;
  EXPECT_EQ(unknown_delegated_status.code(), absl::StatusCode::kInvalidArgument)
      << unknown_delegated_status;
}

TEST_F(LifecycleGrantTest, ListDelegatedAccessShowsOwners) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_APPOINTMENTS_ONLY));

  ASSERT_OK_AND_ASSIGN(v1::ListDelegatedAccessResponse delegated,
                       delegate.client->ListDelegatedAccess());
  ASSERT_OK_AND_ASSIGN(v1::ListDelegatedAccessResponse owners_own,
                       owner.client->ListDelegatedAccess());

  ASSERT_EQ(delegated.grants_size(), 1);
  EXPECT_EQ(delegated.grants(0).grant_id(), grant.grant_id());
  EXPECT_EQ(delegated.grants(0).owner_account_id(), owner.account.account_id());
  EXPECT_EQ(delegated.grants(0).owner_first_name(), Owner().first_name);
  EXPECT_EQ(delegated.grants(0).owner_last_name(), Owner().last_name);
  EXPECT_EQ(delegated.grants(0).access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  EXPECT_EQ(owners_own.grants_size(), 0);
}

TEST_F(LifecycleGrantTest, SweepSendsExpiryEmails) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(Stranger()));
  ASSERT_OK_AND_ASSIGN(v1::Grant expiring, GrantAccess(*owner.client, Delegate(),
                                                       *delegate.client, v1::ACCESS_LEVEL_FULL));
  ASSERT_OK_AND_ASSIGN(v1::Grant ending_soon, GrantAccess(*owner.client, Stranger(),
                                                          *stranger.client, v1::ACCESS_LEVEL_FULL));
  ExecuteWithId("UPDATE grants SET expire_time = now() - interval '1 minute' WHERE id = $1",
                expiring.grant_id());
  ExecuteWithId("UPDATE grants SET expire_time = now() + interval '1 day' WHERE id = $1",
                ending_soon.grant_id());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<storage::Store> store,
                       storage::OpenPostgresStore(database_url(), 2));
  server::GrantSweeper sweeper(store.get(), kPortalBaseUrl, absl::Minutes(1));

  ASSERT_OK_AND_ASSIGN(storage::SweepResult first, sweeper.SweepOnce(absl::Now()));
  ASSERT_OK_AND_ASSIGN(storage::SweepResult second, sweeper.SweepOnce(absl::Now()));

  EXPECT_EQ(first.expired, 1);
  EXPECT_EQ(first.notified, 1);
  EXPECT_EQ(first.warned, 1);
  EXPECT_EQ(second.expired + second.notified + second.warned, 0);
  // The delegate has the invitation, the confirmation and the expiry notice; the owner the
  // two acceptance notices, the warning and the expiry notice.
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> delegate_emails,
                       WaitForEmailsTo(Delegate().email, 3));
  EXPECT_TRUE(absl::StrContains(delegate_emails.back().subject, "has ended"))
      << delegate_emails.back().subject;
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> stranger_emails,
                       WaitForEmailsTo(Stranger().email, 3));
  EXPECT_TRUE(absl::StrContains(stranger_emails.back().subject, "ends soon"))
      << stranger_emails.back().subject;
  ASSERT_OK(WaitForEmailsTo(Owner().email, 4));
}

}  // namespace
}  // namespace accessdelegation::e2e
