// ChangePassword and DeleteAccount through the SDK against an in-process server.

#include "absl/status/status.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

class AccountsLifecycleTest : public E2eTest {};

TEST_F(AccountsLifecycleTest, ChangePasswordEndsOtherSessions) {
  const Person owner = Owner();
  ASSERT_OK_AND_ASSIGN(SignedIn first, CreateAccountAndSignIn(owner));
  ASSERT_OK_AND_ASSIGN(SignedIn second, SignIn(owner));

  v1::ChangePasswordRequest request;
  request.set_current_password(owner.password);
  request.set_new_password("a brand new passphrase");
  ASSERT_OK_AND_ASSIGN(v1::ChangePasswordResponse response, first.client->ChangePassword(request));

  EXPECT_EQ(response.ended_session_count(), 1);
  EXPECT_OK(first.client->GetAccount());
  EXPECT_TRUE(absl::IsUnauthenticated(second.client->GetAccount().status()));
  EXPECT_TRUE(absl::IsUnauthenticated(SignIn(owner).status()));
  Person changed = owner;
  changed.password = "a brand new passphrase";
  EXPECT_OK(SignIn(changed));
}

TEST_F(AccountsLifecycleTest, ChangePasswordWrongCurrentIsDenied) {
  const Person owner = Owner();
  ASSERT_OK_AND_ASSIGN(SignedIn signed_in, CreateAccountAndSignIn(owner));

  v1::ChangePasswordRequest request;
  request.set_current_password("not the password at all");
  request.set_new_password("a brand new passphrase");
  const absl::Status status = signed_in.client->ChangePassword(request).status();

  EXPECT_TRUE(absl::IsPermissionDenied(status)) << status;
  EXPECT_OK(SignIn(owner));
}

TEST_F(AccountsLifecycleTest, ChangePasswordShortNewIsInvalid) {
  const Person owner = Owner();
  ASSERT_OK_AND_ASSIGN(SignedIn signed_in, CreateAccountAndSignIn(owner));

  v1::ChangePasswordRequest request;
  request.set_current_password(owner.password);
  request.set_new_password("short");
  const absl::Status status = signed_in.client->ChangePassword(request).status();

  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
}

TEST_F(AccountsLifecycleTest, DeleteOwnerLeavesNoAccess) {
  const Person owner_person = Owner();
  const Person delegate_person = Delegate();
  const Person stranger_person = Stranger();
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(owner_person));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(delegate_person));
  ASSERT_OK(GrantAccess(*owner.client, delegate_person, *delegate.client, v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Invite(*owner.client, stranger_person, v1::ACCESS_LEVEL_FULL));

  ASSERT_OK_AND_ASSIGN(v1::DeleteAccountResponse response, owner.client->DeleteAccount());

  EXPECT_EQ(response.revoked_grant_count(), 1);
  EXPECT_EQ(response.canceled_invitation_count(), 1);
  ASSERT_OK_AND_ASSIGN(v1::CheckAccessResponse delegate_check,
                       CheckAccess(delegate.account.account_id(), owner.account.account_id(),
                                   v1::PERMISSION_VIEW_APPOINTMENTS));
  EXPECT_FALSE(delegate_check.allowed());
  absl::StatusOr<v1::CheckAccessResponse> owner_check = CheckAccess(
      owner.account.account_id(), owner.account.account_id(), v1::PERMISSION_VIEW_APPOINTMENTS);
  EXPECT_TRUE(!owner_check.ok() || !owner_check->allowed());
  EXPECT_TRUE(absl::IsUnauthenticated(owner.client->GetAccount().status()));
  EXPECT_TRUE(absl::IsUnauthenticated(SignIn(owner_person).status()));
  v1::ListDelegatedAccessRequest revoked_request;
  revoked_request.set_state(v1::GRANT_STATE_REVOKED);
  ASSERT_OK_AND_ASSIGN(v1::ListDelegatedAccessResponse revoked,
                       delegate.client->ListDelegatedAccess(revoked_request));
  ASSERT_EQ(revoked.grants_size(), 1);
  EXPECT_EQ(revoked.grants(0).state(), v1::GRANT_STATE_REVOKED);
  EXPECT_TRUE(revoked.grants(0).has_end_time());
  v1::DeleteAccountRequest again;
  again.set_account_id(owner.account.account_id());
  EXPECT_TRUE(absl::IsNotFound(service().DeleteAccount(again).status()));
}

TEST_F(AccountsLifecycleTest, DeletedEmailIsFreeAgain) {
  const Person owner_person = Owner();
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(owner_person));
  ASSERT_OK(owner.client->DeleteAccount());

  ASSERT_OK_AND_ASSIGN(SignedIn again, CreateAccountAndSignIn(owner_person));

  EXPECT_NE(again.account.account_id(), owner.account.account_id());
}

TEST_F(AccountsLifecycleTest, DeleteDelegateRevokesItsGrants) {
  const Person owner_person = Owner();
  const Person delegate_person = Delegate();
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(owner_person));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(delegate_person));
  ASSERT_OK(GrantAccess(*owner.client, delegate_person, *delegate.client,
                        v1::ACCESS_LEVEL_APPOINTMENTS_ONLY));

  v1::DeleteAccountRequest request;
  request.set_account_id(delegate.account.account_id());
  ASSERT_OK_AND_ASSIGN(v1::DeleteAccountResponse response, service().DeleteAccount(request));

  EXPECT_EQ(response.revoked_grant_count(), 1);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  EXPECT_TRUE(grants.empty());
  v1::ListGrantsRequest left_request;
  left_request.set_state(v1::GRANT_STATE_LEFT);
  ASSERT_OK_AND_ASSIGN(v1::ListGrantsResponse left, owner.client->ListGrants(left_request));
  ASSERT_EQ(left.grants_size(), 1);
  EXPECT_EQ(left.grants(0).state(), v1::GRANT_STATE_LEFT);
  EXPECT_TRUE(left.grants(0).has_end_time());
  ASSERT_OK_AND_ASSIGN(v1::CheckAccessResponse check,
                       CheckAccess(delegate.account.account_id(), owner.account.account_id(),
                                   v1::PERMISSION_VIEW_APPOINTMENTS));
  EXPECT_FALSE(check.allowed());
  EXPECT_OK(owner.client->GetAccount());
}

TEST_F(AccountsLifecycleTest, DeleteAnotherAccountBySessionIsDenied) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));

  v1::DeleteAccountRequest request;
  request.set_account_id(delegate.account.account_id());
  const absl::Status status = owner.client->DeleteAccount(request).status();

  EXPECT_TRUE(absl::IsPermissionDenied(status)) << status;
  EXPECT_OK(delegate.client->GetAccount());
}

}  // namespace
}  // namespace accessdelegation::e2e
