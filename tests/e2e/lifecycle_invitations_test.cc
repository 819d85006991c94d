// End-to-end tests of the invitation paths beyond the basic flow: resend, cancel,
// decline, expiry, etags, request ids and acting for an owner with a service token.

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

using LifecycleInvitationTest = E2eTest;

v1::CreateInvitationRequest InvitationRequest(const Person& invitee, v1::AccessLevel level) {
  v1::CreateInvitationRequest request;
  request.set_first_name(invitee.first_name);
  request.set_last_name(invitee.last_name);
  request.set_email(invitee.email);
  request.set_access_level(level);
  return request;
}

v1::LookupInvitationRequest LookupRequest(const std::string& token) {
  v1::LookupInvitationRequest request;
  request.set_invitation_token(token);
  return request;
}

TEST_F(LifecycleInvitationTest, ResendKillsOldTokenAndNewOneWorks) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  absl::StatusOr<v1::LookupInvitationResponse> unknown =
      service().LookupInvitation(LookupRequest(RandomToken()));

  v1::ResendInvitationRequest resend;
  resend.set_invitation_id(sent.invitation.invitation_id());
  ASSERT_OK_AND_ASSIGN(v1::ResendInvitationResponse resent, owner.client->ResendInvitation(resend));
  ASSERT_OK(WaitForEmailsTo(Delegate().email, 2));
  ASSERT_OK_AND_ASSIGN(std::string new_token, ReadInvitationToken(Delegate().email));

  EXPECT_NE(new_token, sent.token);
  EXPECT_NE(resent.invitation().etag(), sent.invitation.etag());
  EXPECT_GE(resent.invitation().expire_time().seconds(), sent.invitation.expire_time().seconds());
  absl::StatusOr<v1::LookupInvitationResponse> old_lookup =
      service().LookupInvitation(LookupRequest(sent.token));
  EXPECT_EQ(old_lookup.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(old_lookup.status().message(), unknown.status().message());
  EXPECT_OK(service().LookupInvitation(LookupRequest(new_token)));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  EXPECT_EQ(Accept(*delegate.client, sent.token).status().code(), absl::StatusCode::kNotFound);
  EXPECT_OK(Accept(*delegate.client, new_token));
}

TEST_F(LifecycleInvitationTest, AcceptAfterCancelRefused) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));

  v1::CancelInvitationRequest cancel;
  cancel.set_invitation_id(sent.invitation.invitation_id());
  ASSERT_OK_AND_ASSIGN(v1::CancelInvitationResponse canceled, owner.client->CancelInvitation(cancel));
  absl::StatusOr<v1::Invitation> accepted = Accept(*delegate.client, sent.token);

  EXPECT_EQ(canceled.invitation().state(), v1::INVITATION_STATE_CANCELED);
  EXPECT_EQ(accepted.status().code(), absl::StatusCode::kNotFound) << accepted.status();
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> emails,
                       WaitForEmailsTo(Delegate().email, 2));
  EXPECT_TRUE(absl::StrContains(emails.back().subject, "withdrew")) << emails.back().subject;
  EXPECT_FALSE(absl::StrContains(emails.back().text, sent.token));
}

TEST_F(LifecycleInvitationTest, ConfirmAfterCancelOfAcceptedRefused) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*delegate.client, sent.token));

  v1::CancelInvitationRequest cancel;
  cancel.set_invitation_id(sent.invitation.invitation_id());
  ASSERT_OK(owner.client->CancelInvitation(cancel));
  absl::Status confirmed = Confirm(*owner.client, sent.invitation.invitation_id()).status();

  EXPECT_EQ(confirmed.code(), absl::StatusCode::kFailedPrecondition) << confirmed;
}

TEST_F(LifecycleInvitationTest, ExpiredInvitationCannotSignUpOrAccept) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(ExpireInvitation(sent.invitation.invitation_id()));

  v1::SignUpRequest sign_up;
  sign_up.set_invitation_token(sent.token);
  sign_up.set_password(Delegate().password);
  sign_up.set_first_name(Delegate().first_name);
  sign_up.set_last_name(Delegate().last_name);
  sign_up.set_phone_number(Delegate().phone_number);
  absl::Status signed_up = Connect()->SignUp(sign_up).status();
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  absl::Status accepted = Accept(*delegate.client, sent.token).status();

  EXPECT_EQ(signed_up.code(), absl::StatusCode::kNotFound) << signed_up;
  EXPECT_EQ(accepted.code(), absl::StatusCode::kNotFound) << accepted;
}

TEST_F(LifecycleInvitationTest, DeclineNotifiesOwner) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));

  v1::DeclineInvitationRequest decline;
  decline.set_invitation_token(sent.token);
  absl::Status declined = Connect()->DeclineInvitation(decline).status();

  ASSERT_OK(declined);
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> emails, WaitForEmailsTo(Owner().email, 1));
  EXPECT_TRUE(absl::StrContains(emails.back().subject, "declined")) << emails.back().subject;
  EXPECT_FALSE(emails.back().html.empty());
  EXPECT_EQ(service().LookupInvitation(LookupRequest(sent.token)).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_EQ(invitations.size(), 1u);
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_DECLINED);
  EXPECT_EQ(Connect()->DeclineInvitation(decline).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LifecycleInvitationTest, ReinviteAfterDeclineStartsFresh) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation first,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  v1::DeclineInvitationRequest decline;
  decline.set_invitation_token(first.token);
  ASSERT_OK(Connect()->DeclineInvitation(decline));

  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse second,
                       owner.client->CreateInvitation(
                           InvitationRequest(Delegate(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY)));

  EXPECT_NE(second.invitation().invitation_id(), first.invitation.invitation_id());
  EXPECT_EQ(second.invitation().access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  EXPECT_EQ(service().LookupInvitation(LookupRequest(first.token)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(LifecycleInvitationTest, StaleEtagAborted) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  v1::ResendInvitationRequest resend;
  resend.set_invitation_id(sent.invitation.invitation_id());
  resend.set_etag(sent.invitation.etag());
  ASSERT_OK_AND_ASSIGN(v1::ResendInvitationResponse resent, owner.client->ResendInvitation(resend));

  v1::CancelInvitationRequest stale;
  stale.set_invitation_id(sent.invitation.invitation_id());
  stale.set_etag(sent.invitation.etag());
  absl::Status stale_status = owner.client->CancelInvitation(stale).status();
  v1::CancelInvitationRequest fresh = stale;
  fresh.set_etag(resent.invitation().etag());
  absl::Status fresh_status = owner.client->CancelInvitation(fresh).status();

  EXPECT_EQ(stale_status.code(), absl::StatusCode::kAborted) << stale_status;
  EXPECT_TRUE(absl::StrContains(stale_status.message(), "etag")) << stale_status;
  EXPECT_OK(fresh_status);
}

TEST_F(LifecycleInvitationTest, RetriedRequestIdSendsOneEmail) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  v1::CreateInvitationRequest request = InvitationRequest(Delegate(), v1::ACCESS_LEVEL_FULL);
  request.set_request_id("create-dan-1");

  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse first, owner.client->CreateInvitation(request));
  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse second,
                       owner.client->CreateInvitation(request));
  v1::CreateInvitationRequest different = request;
  different.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  absl::Status reused = owner.client->CreateInvitation(different).status();

  EXPECT_EQ(second.invitation().invitation_id(), first.invitation().invitation_id());
  EXPECT_EQ(second.invitation().etag(), first.invitation().etag());
  EXPECT_EQ(reused.code(), absl::StatusCode::kInvalidArgument) << reused;
  EXPECT_TRUE(absl::StrContains(reused.message(), "request_id")) << reused;
  EXPECT_TRUE(absl::StrContains(reused.message(), "send a new request_id")) << reused;
  ASSERT_OK(WaitForEmailsTo(Delegate().email, 1));
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> emails,
                       WaitForEmailsTo(Delegate().email, 1));
  EXPECT_EQ(emails.size(), 1u);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  EXPECT_EQ(invitations.size(), 1u);
}

TEST_F(LifecycleInvitationTest, ConcurrentRetriesTakeEffectOnce) {
  constexpr int kRetries = 8;
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  v1::CreateInvitationRequest request = InvitationRequest(Delegate(), v1::ACCESS_LEVEL_FULL);
  request.set_request_id("create-dan-racing");

  absl::Barrier* start = new absl::Barrier(kRetries);
  std::vector<absl::StatusOr<v1::CreateInvitationResponse>> responses(
      kRetries, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kRetries; ++i) {
    threads.emplace_back([&, i] {
      if (start->Block()) delete start;
      responses[i] = owner.client->CreateInvitation(request);
    });
  }
  for (std::thread& thread : threads) thread.join();

  ASSERT_OK(responses[0].status());
  for (const absl::StatusOr<v1::CreateInvitationResponse>& response : responses) {
    ASSERT_OK(response.status());
    EXPECT_EQ(response->invitation().invitation_id(), responses[0]->invitation().invitation_id());
    EXPECT_EQ(response->invitation().etag(), responses[0]->invitation().etag());
  }
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  EXPECT_EQ(invitations.size(), 1u);
  ASSERT_OK(WaitForEmailsTo(Delegate().email, 1));
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> emails,
                       WaitForEmailsTo(Delegate().email, 1));
  EXPECT_EQ(emails.size(), 1u);
}

TEST_F(LifecycleInvitationTest, ServiceTokenActsForOwner) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(Stranger()));
  v1::CreateInvitationRequest request = InvitationRequest(Delegate(), v1::ACCESS_LEVEL_FULL);
  request.set_owner_account_id(owner.account.account_id());

  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse created, service().CreateInvitation(request));
  v1::ListInvitationsRequest list;
  list.set_owner_account_id(owner.account.account_id());
  ASSERT_OK_AND_ASSIGN(v1::ListInvitationsResponse listed, service().ListInvitations(list));
  absl::Status other_owner = stranger.client->ListInvitations(list).status();
  list.set_owner_account_id(RandomUuid());
  absl::Status unknown_owner = service().ListInvitations(list).status();
  list.clear_owner_account_id();
  absl::Status missing_owner = service().ListInvitations(list).status();

  EXPECT_EQ(created.invitation().owner_account_id(), owner.account.account_id());
  ASSERT_EQ(listed.invitations_size(), 1);
  EXPECT_EQ(listed.invitations(0).invitation_id(), created.invitation().invitation_id());
  EXPECT_EQ(other_owner.code(), absl::StatusCode::kPermissionDenied) << other_owner;
  EXPECT_EQ(unknown_owner.code(), absl::StatusCode::kNotFound) << unknown_owner;
  EXPECT_EQ(missing_owner.code(), absl::StatusCode::kInvalidArgument) << missing_owner;
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> own, ListInvitations(*owner.client));
  EXPECT_EQ(own.size(), 1u);
}

TEST_F(LifecycleInvitationTest, ListInvitationsPagesAndRejectsTamperedToken) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  for (int i = 0; i < 3; ++i) {
    Person invitee = Delegate();
    invitee.email = absl::StrCat("invitee", i, "@example.org");
    ASSERT_OK(owner.client->CreateInvitation(InvitationRequest(invitee, v1::ACCESS_LEVEL_FULL)));
  }

  std::vector<std::string> ids;
  v1::ListInvitationsRequest request;
  request.set_page_size(2);
  ASSERT_OK_AND_ASSIGN(v1::ListInvitationsResponse first, owner.client->ListInvitations(request));
  request.set_page_token(first.next_page_token());
  ASSERT_OK_AND_ASSIGN(v1::ListInvitationsResponse second, owner.client->ListInvitations(request));
  std::string tampered = first.next_page_token();
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  request.set_page_token(tampered);
  absl::Status tampered_status = owner.client->ListInvitations(request).status();
  request.set_page_token(first.next_page_token());
  request.set_state(v1::INVITATION_STATE_PENDING);
  absl::Status other_filter = owner.client->ListInvitations(request).status();
  request.set_page_size(-1);
  absl::Status negative = owner.client->ListInvitations(request).status();

  EXPECT_EQ(first.invitations_size(), 2);
  EXPECT_FALSE(first.next_page_token().empty());
  EXPECT_EQ(second.invitations_size(), 1);
  EXPECT_TRUE(second.next_page_token().empty());
  EXPECT_EQ(tampered_status.code(), absl::StatusCode::kInvalidArgument) << tampered_status;
  EXPECT_TRUE(absl::StartsWith(tampered_status.message(), "page_token")) << tampered_status;
  EXPECT_EQ(other_filter.code(), absl::StatusCode::kInvalidArgument) << other_filter;
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument) << negative;
}

}  // namespace
}  // namespace accessdelegation::e2e
