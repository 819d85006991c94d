// The invitation flow from invitation to grant, and what owners do with grants afterwards.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

using FlowTest = E2eTest;

TEST_F(FlowTest, WholeFlowGrantsExactlyTheInvitedLevel) {
  const Person owner_person = Owner();
  const Person delegate_person = Delegate();
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(owner_person));
  std::unique_ptr<sdk::Client> anonymous = Connect();

  v1::CreateInvitationRequest invite;
  invite.set_first_name(delegate_person.first_name);
  invite.set_last_name(delegate_person.last_name);
  invite.set_email(delegate_person.email);
  invite.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse created,
                       owner.client->CreateInvitation(invite));

  const v1::Invitation& invitation = created.invitation();
  EXPECT_EQ(invitation.state(), v1::INVITATION_STATE_PENDING);
  EXPECT_EQ(invitation.owner_account_id(), owner.account.account_id());
  EXPECT_EQ(invitation.email(), delegate_person.email);
  EXPECT_EQ(invitation.access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  EXPECT_THAT(invitation.invitee_account_id(), IsEmpty());

  ASSERT_OK_AND_ASSIGN(std::string token, ReadInvitationToken(delegate_person.email));
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> invitee_emails,
                       WaitForEmailsTo(delegate_person.email, 1));

  const std::string link = absl::StrCat(kPortalBaseUrl, "/invitations/accept?token=", token);
  ASSERT_EQ(invitee_emails.size(), 1u);
  EXPECT_THAT(invitee_emails[0].text, HasSubstr(link));
  EXPECT_THAT(invitee_emails[0].html, HasSubstr(link));

  v1::LookupInvitationRequest lookup_request;
  lookup_request.set_invitation_token(token);
  ASSERT_OK_AND_ASSIGN(v1::LookupInvitationResponse lookup,
                       anonymous->LookupInvitation(lookup_request));

  EXPECT_EQ(lookup.invitation_id(), invitation.invitation_id());
  EXPECT_EQ(lookup.owner_first_name(), owner_person.first_name);
  EXPECT_EQ(lookup.owner_last_name(), owner_person.last_name);
  EXPECT_EQ(lookup.email(), delegate_person.email);
  EXPECT_EQ(lookup.first_name(), delegate_person.first_name);
  EXPECT_EQ(lookup.last_name(), delegate_person.last_name);
  EXPECT_EQ(lookup.access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  EXPECT_FALSE(lookup.account_exists());
  EXPECT_GT(TimeUtil::TimestampToSeconds(lookup.expire_time()), absl::ToUnixSeconds(absl::Now()));

  v1::SignUpRequest sign_up;
  sign_up.set_invitation_token(token);
  sign_up.set_password(delegate_person.password);
  sign_up.set_first_name(delegate_person.first_name);
  sign_up.set_last_name(delegate_person.last_name);
  sign_up.set_phone_number("(415) 555-0102");
  ASSERT_OK_AND_ASSIGN(v1::SignUpResponse signed_up, anonymous->SignUp(sign_up));

  EXPECT_EQ(signed_up.account().email(), delegate_person.email);
  EXPECT_EQ(signed_up.account().phone_number(), "+14155550102");
  EXPECT_THAT(signed_up.account().account_id(), Not(IsEmpty()));

  ASSERT_OK_AND_ASSIGN(SignedIn delegate, SignIn(delegate_person));
  ASSERT_OK_AND_ASSIGN(v1::Invitation accepted, Accept(*delegate.client, token));

  EXPECT_EQ(delegate.account.account_id(), signed_up.account().account_id());
  EXPECT_EQ(accepted.state(), v1::INVITATION_STATE_ACCEPTED);
  EXPECT_EQ(accepted.invitee_account_id(), delegate.account.account_id());

  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> owner_emails,
                       WaitForEmailsTo(owner_person.email, 1));

  EXPECT_EQ(owner_emails.size(), 1u);

  ASSERT_OK_AND_ASSIGN(v1::ConfirmInvitationResponse confirmed,
                       Confirm(*owner.client, invitation.invitation_id()));

  EXPECT_EQ(confirmed.invitation().state(), v1::INVITATION_STATE_CONFIRMED);
  EXPECT_EQ(confirmed.invitation().grant_id(), confirmed.grant().grant_id());
  EXPECT_EQ(confirmed.grant().owner_account_id(), owner.account.account_id());
  EXPECT_EQ(confirmed.grant().delegate_account_id(), delegate.account.account_id());
  EXPECT_EQ(confirmed.grant().access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  EXPECT_EQ(confirmed.grant().invitation_id(), invitation.invitation_id());

  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));

  ASSERT_THAT(grants, SizeIs(1));
  EXPECT_EQ(grants[0].grant_id(), confirmed.grant().grant_id());
  EXPECT_EQ(grants[0].delegate_account_id(), delegate.account.account_id());
  EXPECT_EQ(grants[0].delegate_email(), delegate_person.email);
  EXPECT_EQ(grants[0].delegate_first_name(), delegate_person.first_name);
  EXPECT_EQ(grants[0].delegate_last_name(), delegate_person.last_name);
  EXPECT_EQ(grants[0].access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);

  for (v1::Permission permission : AllPermissions()) {
    SCOPED_TRACE(v1::Permission_Name(permission));
    ASSERT_OK_AND_ASSIGN(
        v1::CheckAccessResponse delegate_check,
        CheckAccess(delegate.account.account_id(), owner.account.account_id(), permission));
    ASSERT_OK_AND_ASSIGN(
        v1::CheckAccessResponse owner_check,
        CheckAccess(owner.account.account_id(), owner.account.account_id(), permission));

    const bool included = LevelIncludes(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY, permission);
    EXPECT_EQ(delegate_check.allowed(), included);
    EXPECT_EQ(delegate_check.reason(),
              included ? v1::CheckAccessResponse::REASON_GRANT
                       : v1::CheckAccessResponse::REASON_LEVEL_EXCLUDES_PERMISSION);
    EXPECT_EQ(delegate_check.access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
    EXPECT_EQ(delegate_check.grant_id(), confirmed.grant().grant_id());
    EXPECT_TRUE(owner_check.allowed());
    EXPECT_EQ(owner_check.reason(), v1::CheckAccessResponse::REASON_OWNER);
  }
}

TEST_F(FlowTest, ConfirmCreatesGrantAtInvitedLevel) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*delegate.client, sent.token));

  ASSERT_OK_AND_ASSIGN(v1::ConfirmInvitationResponse confirmed,
                       Confirm(*owner.client, sent.invitation.invitation_id()));

  EXPECT_EQ(confirmed.invitation().state(), v1::INVITATION_STATE_CONFIRMED);
  EXPECT_EQ(confirmed.grant().delegate_account_id(), delegate.account.account_id());
  EXPECT_EQ(confirmed.grant().access_level(), v1::ACCESS_LEVEL_FULL);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_THAT(invitations, SizeIs(1));
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_CONFIRMED);
  EXPECT_EQ(invitations[0].grant_id(), confirmed.grant().grant_id());
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  ASSERT_THAT(grants, SizeIs(1));
  EXPECT_EQ(grants[0].grant_id(), confirmed.grant().grant_id());
  for (v1::Permission permission : AllPermissions()) {
    SCOPED_TRACE(v1::Permission_Name(permission));
    ASSERT_OK_AND_ASSIGN(
        v1::CheckAccessResponse check,
        CheckAccess(delegate.account.account_id(), owner.account.account_id(), permission));
    EXPECT_TRUE(check.allowed());
    EXPECT_EQ(check.reason(), v1::CheckAccessResponse::REASON_GRANT);
  }
}

TEST_F(FlowTest, DenyCreatesNoGrant) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*delegate.client, sent.token));

  v1::DenyInvitationRequest deny;
  deny.set_invitation_id(sent.invitation.invitation_id());
  ASSERT_OK_AND_ASSIGN(v1::DenyInvitationResponse denied, owner.client->DenyInvitation(deny));

  EXPECT_EQ(denied.invitation().state(), v1::INVITATION_STATE_DENIED);
  EXPECT_THAT(denied.invitation().grant_id(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_THAT(invitations, SizeIs(1));
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_DENIED);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  EXPECT_THAT(grants, IsEmpty());
  for (v1::Permission permission : AllPermissions()) {
    SCOPED_TRACE(v1::Permission_Name(permission));
    ASSERT_OK_AND_ASSIGN(
        v1::CheckAccessResponse check,
        CheckAccess(delegate.account.account_id(), owner.account.account_id(), permission));
    EXPECT_FALSE(check.allowed());
    EXPECT_EQ(check.reason(), v1::CheckAccessResponse::REASON_NO_GRANT);
    EXPECT_THAT(check.grant_id(), IsEmpty());
  }
}

TEST_F(FlowTest, UpdateGrantAppliesToNextCheckAccess) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  ASSERT_OK_AND_ASSIGN(v1::CheckAccessResponse before,
                       CheckAccess(delegate.account.account_id(), owner.account.account_id(),
                                   v1::PERMISSION_VIEW_HEALTH_RECORD));
  ASSERT_TRUE(before.allowed());

  v1::UpdateGrantRequest update;
  update.set_grant_id(grant.grant_id());
  update.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  ASSERT_OK_AND_ASSIGN(v1::UpdateGrantResponse updated, owner.client->UpdateGrant(update));
  ASSERT_OK_AND_ASSIGN(v1::CheckAccessResponse after,
                       CheckAccess(delegate.account.account_id(), owner.account.account_id(),
                                   v1::PERMISSION_VIEW_HEALTH_RECORD));

  EXPECT_EQ(updated.grant().grant_id(), grant.grant_id());
  EXPECT_EQ(updated.grant().access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  EXPECT_FALSE(after.allowed());
  EXPECT_EQ(after.reason(), v1::CheckAccessResponse::REASON_LEVEL_EXCLUDES_PERMISSION);
  EXPECT_EQ(after.access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  for (v1::Permission permission : AllPermissions()) {
    SCOPED_TRACE(v1::Permission_Name(permission));
    ASSERT_OK_AND_ASSIGN(
        v1::CheckAccessResponse check,
        CheckAccess(delegate.account.account_id(), owner.account.account_id(), permission));
    EXPECT_EQ(check.allowed(), LevelIncludes(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY, permission));
  }
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  ASSERT_THAT(grants, SizeIs(1));
  EXPECT_EQ(grants[0].access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
}

TEST_F(FlowTest, RevokeGrantDeniesNextCheckAccess) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  ASSERT_OK_AND_ASSIGN(v1::CheckAccessResponse before,
                       CheckAccess(delegate.account.account_id(), owner.account.account_id(),
                                   v1::PERMISSION_VIEW_APPOINTMENTS));
  ASSERT_TRUE(before.allowed());

  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  ASSERT_OK(owner.client->RevokeGrant(revoke));
  ASSERT_OK_AND_ASSIGN(v1::CheckAccessResponse after,
                       CheckAccess(delegate.account.account_id(), owner.account.account_id(),
                                   v1::PERMISSION_VIEW_APPOINTMENTS));

  EXPECT_FALSE(after.allowed());
  EXPECT_EQ(after.reason(), v1::CheckAccessResponse::REASON_NO_GRANT);
  EXPECT_THAT(after.grant_id(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  EXPECT_THAT(grants, IsEmpty());
}

TEST_F(FlowTest, RevokeTwiceIsNotFound) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  ASSERT_OK(owner.client->RevokeGrant(revoke));

  absl::StatusOr<v1::RevokeGrantResponse> second = owner.client->RevokeGrant(revoke);

  EXPECT_EQ(second.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FlowTest, LookupReportsNoAccountForNewEmail) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  v1::LookupInvitationRequest request;
  request.set_invitation_token(sent.token);

  ASSERT_OK_AND_ASSIGN(v1::LookupInvitationResponse lookup, Connect()->LookupInvitation(request));

  EXPECT_FALSE(lookup.account_exists());
}

TEST_F(FlowTest, LookupReportsExistingAccount) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(CreateAccount(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  v1::LookupInvitationRequest request;
  request.set_invitation_token(sent.token);

  ASSERT_OK_AND_ASSIGN(v1::LookupInvitationResponse lookup, Connect()->LookupInvitation(request));

  EXPECT_TRUE(lookup.account_exists());
}

TEST_F(FlowTest, LookupFindsAccountWhoseEmailDiffersInCase) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(CreateAccount(Delegate()));
  Person invited = Delegate();
  invited.email = absl::AsciiStrToUpper(invited.email);
  ASSERT_OK_AND_ASSIGN(SentInvitation sent, Invite(*owner.client, invited, v1::ACCESS_LEVEL_FULL));
  v1::LookupInvitationRequest request;
  request.set_invitation_token(sent.token);

  ASSERT_OK_AND_ASSIGN(v1::LookupInvitationResponse lookup, Connect()->LookupInvitation(request));

  EXPECT_TRUE(lookup.account_exists());
}

TEST_F(FlowTest, MixedCaseInvitationAcceptedByLowerCaseAccount) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  Person invited = Delegate();
  invited.email = "P.Person@Example.ORG";
  Person account_person = Delegate();
  account_person.email = "p.person@example.org";
  ASSERT_OK_AND_ASSIGN(SentInvitation sent, Invite(*owner.client, invited, v1::ACCESS_LEVEL_FULL));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(account_person));

  ASSERT_OK_AND_ASSIGN(v1::Invitation accepted, Accept(*delegate.client, sent.token));

  EXPECT_EQ(accepted.state(), v1::INVITATION_STATE_ACCEPTED);
  EXPECT_EQ(accepted.invitee_account_id(), delegate.account.account_id());
  EXPECT_EQ(accepted.email(), "P.Person@Example.ORG");
}

TEST_F(FlowTest, SignInIgnoresEmailCase) {
  ASSERT_OK(CreateAccount(Owner()));
  Person upper_case = Owner();
  upper_case.email = absl::AsciiStrToUpper(upper_case.email);

  absl::StatusOr<SignedIn> signed_in = SignIn(upper_case);

  ASSERT_OK(signed_in);
  EXPECT_EQ(signed_in->account.email(), Owner().email);
}

TEST_F(FlowTest, SignedInClientReadsOwnAccount) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));

  ASSERT_OK_AND_ASSIGN(v1::GetAccountResponse response, owner.client->GetAccount());

  EXPECT_EQ(response.account().account_id(), owner.account.account_id());
  EXPECT_EQ(response.account().email(), Owner().email);
  EXPECT_EQ(response.account().phone_number(), Owner().phone_number);
}

}  // namespace
}  // namespace accessdelegation::e2e
