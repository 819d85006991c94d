// The error contract of the .proto files, one rule per test: which code each kind of
// failure gets, and which failures must read exactly alike.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// TokenCall is one RPC that needs a token, sent with a request that is otherwise well
// formed, so that only the token decides the outcome.
struct TokenCall {
  std::string rpc;
  std::function<absl::Status(sdk::Client&)> send;
};

std::vector<TokenCall> SessionTokenCalls() {
  return {
      {"GetAccount", [](sdk::Client& client) { return client.GetAccount().status(); }},
      {"SignOut", [](sdk::Client& client) { return client.SignOut().status(); }},
      {"CreateInvitation",
       [](sdk::Client& client) {
         v1::CreateInvitationRequest request;
         request.set_first_name("Dan");
         request.set_last_name("Delegate");
         request.set_email("dan.delegate@example.org");
         request.set_access_level(v1::ACCESS_LEVEL_FULL);
         return client.CreateInvitation(request).status();
       }},
      {"AcceptInvitation",
       [](sdk::Client& client) {
         v1::AcceptInvitationRequest request;
         request.set_invitation_token(RandomToken());
         return client.AcceptInvitation(request).status();
       }},
      {"ConfirmInvitation",
       [](sdk::Client& client) {
         v1::ConfirmInvitationRequest request;
         request.set_invitation_id(RandomUuid());
         return client.ConfirmInvitation(request).status();
       }},
      {"DenyInvitation",
       [](sdk::Client& client) {
         v1::DenyInvitationRequest request;
         request.set_invitation_id(RandomUuid());
         return client.DenyInvitation(request).status();
       }},
      {"ListInvitations", [](sdk::Client& client) { return client.ListInvitations().status(); }},
      {"ListGrants", [](sdk::Client& client) { return client.ListGrants().status(); }},
      {"UpdateGrant",
       [](sdk::Client& client) {
         v1::UpdateGrantRequest request;
         request.set_grant_id(RandomUuid());
         request.set_access_level(v1::ACCESS_LEVEL_FULL);
         return client.UpdateGrant(request).status();
       }},
      {"RevokeGrant",
       [](sdk::Client& client) {
         v1::RevokeGrantRequest request;
         request.set_grant_id(RandomUuid());
         return client.RevokeGrant(request).status();
       }},
  };
}

std::vector<TokenCall> ServiceTokenCalls() {
  return {
      {"CreateAccount",
       [](sdk::Client& client) {
         v1::CreateAccountRequest request;
         request.set_email("new.patient@example.org");
         request.set_password("new-patient-password");
         request.set_first_name("New");
         request.set_last_name("Patient");
         request.set_phone_number("+14155550109");
         return client.CreateAccount(request).status();
       }},
      {"CheckAccess",
       [](sdk::Client& client) {
         v1::CheckAccessRequest request;
         request.set_account_id(RandomUuid());
         request.set_owner_account_id(RandomUuid());
         request.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);
         return client.CheckAccess(request).status();
       }},
  };
}

std::vector<TokenCall> AllTokenCalls() {
  std::vector<TokenCall> calls = SessionTokenCalls();
  for (TokenCall& call : ServiceTokenCalls()) calls.push_back(std::move(call));
  return calls;
}

// Sends GetAccount with `authorization` as the raw value of the authorization metadata.
grpc::Status GetAccountWithAuthorization(const std::string& target,
                                         const std::string& authorization) {
  std::unique_ptr<v1::Accounts::Stub> stub =
      v1::Accounts::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.AddMetadata("authorization", authorization);
  v1::GetAccountResponse response;
  return stub->GetAccount(&context, v1::GetAccountRequest(), &response);
}

// Sends CheckAccess with `authorization` as the raw value of the authorization metadata.
grpc::Status CheckAccessWithAuthorization(const std::string& target,
                                          const std::string& authorization) {
  std::unique_ptr<v1::AccessDelegation::Stub> stub = v1::AccessDelegation::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.AddMetadata("authorization", authorization);
  v1::CheckAccessRequest request;
  request.set_account_id(RandomUuid());
  request.set_owner_account_id(RandomUuid());
  request.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);
  v1::CheckAccessResponse response;
  return stub->CheckAccess(&context, request, &response);
}

absl::Status ConfirmInvitationStatus(sdk::Client& owner, const std::string& invitation_id) {
  v1::ConfirmInvitationRequest request;
  request.set_invitation_id(invitation_id);
  return owner.ConfirmInvitation(request).status();
}

absl::Status DenyInvitationStatus(sdk::Client& owner, const std::string& invitation_id) {
  v1::DenyInvitationRequest request;
  request.set_invitation_id(invitation_id);
  return owner.DenyInvitation(request).status();
}

absl::Status UpdateGrantStatus(sdk::Client& owner, const std::string& grant_id) {
  v1::UpdateGrantRequest request;
  request.set_grant_id(grant_id);
  request.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  return owner.UpdateGrant(request).status();
}

absl::Status RevokeGrantStatus(sdk::Client& owner, const std::string& grant_id) {
  v1::RevokeGrantRequest request;
  request.set_grant_id(grant_id);
  return owner.RevokeGrant(request).status();
}

absl::Status LookupStatus(sdk::Client& client, const std::string& token) {
  v1::LookupInvitationRequest request;
  request.set_invitation_token(token);
  return client.LookupInvitation(request).status();
}

absl::Status SignUpStatus(sdk::Client& client, const std::string& token, const Person& person) {
  v1::SignUpRequest request;
  request.set_invitation_token(token);
  request.set_password(person.password);
  request.set_first_name(person.first_name);
  request.set_last_name(person.last_name);
  request.set_phone_number(person.phone_number);
  return client.SignUp(request).status();
}

absl::Status SignInStatus(sdk::Client& client, const std::string& email,
                          const std::string& password) {
  v1::SignInRequest request;
  request.set_email(email);
  request.set_password(password);
  return client.SignIn(request).status();
}

// --- UNAUTHENTICATED: no token, or a malformed, unknown or ended one. ---

using AuthenticationTest = E2eTest;

TEST_F(AuthenticationTest, MissingTokenIsUnauthenticated) {
  std::unique_ptr<sdk::Client> anonymous = Connect();

  for (const TokenCall& call : AllTokenCalls()) {
    absl::Status status = call.send(*anonymous);

    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << call.rpc << ": " << status;
  }
}

TEST_F(AuthenticationTest, GarbageTokenIsUnauthenticated) {
  const std::vector<std::string> tokens = {"garbage", "not base64 ~~~", "Bearer", RandomToken()};

  for (const std::string& token : tokens) {
    std::unique_ptr<sdk::Client> client = Connect(token);
    for (const TokenCall& call : AllTokenCalls()) {
      absl::Status status = call.send(*client);

      EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated)
          << call.rpc << " with token \"" << token << "\": " << status;
    }
  }
}

TEST_F(AuthenticationTest, AuthorizationWithoutBearerScheme) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));

  grpc::Status bare_session = GetAccountWithAuthorization(target(), owner.session_token);
  grpc::Status basic_session =
      GetAccountWithAuthorization(target(), "Basic " + owner.session_token);
  grpc::Status bare_service = CheckAccessWithAuthorization(target(), kServiceToken);

  EXPECT_EQ(bare_session.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << bare_session.error_message();
  EXPECT_EQ(basic_session.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << basic_session.error_message();
  EXPECT_EQ(bare_service.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << bare_service.error_message();
}

TEST_F(AuthenticationTest, SignedOutTokenIsUnauthenticated) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(owner.client->GetAccount());

  ASSERT_OK(owner.client->SignOut());

  for (const TokenCall& call : SessionTokenCalls()) {
    absl::Status status = call.send(*owner.client);

    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << call.rpc << ": " << status;
  }
}

TEST_F(AuthenticationTest, SignOutEndsOnlyItsOwnSession) {
  ASSERT_OK(CreateAccount(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn first, SignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn second, SignIn(Owner()));

  ASSERT_OK(first.client->SignOut());

  EXPECT_EQ(first.client->GetAccount().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_OK(second.client->GetAccount());
}

// --- PERMISSION_DENIED: a valid token of the wrong kind. ---

using TokenKindTest = E2eTest;

TEST_F(TokenKindTest, SessionTokenOnCheckAccessDenied) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  v1::CheckAccessRequest request;
  request.set_account_id(owner.account.account_id());
  request.set_owner_account_id(owner.account.account_id());
  request.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);

  absl::StatusOr<v1::CheckAccessResponse> response = owner.client->CheckAccess(request);

  EXPECT_EQ(response.status().code(), absl::StatusCode::kPermissionDenied) << response.status();
}

TEST_F(TokenKindTest, SessionTokenOnCreateAccountDenied) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  v1::CreateAccountRequest request;
  request.set_email(Stranger().email);
  request.set_password(Stranger().password);
  request.set_first_name(Stranger().first_name);
  request.set_last_name(Stranger().last_name);
  request.set_phone_number(Stranger().phone_number);

  absl::StatusOr<v1::CreateAccountResponse> response = owner.client->CreateAccount(request);

  EXPECT_EQ(response.status().code(), absl::StatusCode::kPermissionDenied) << response.status();
  absl::Status sign_in = SignIn(Stranger()).status();
  EXPECT_EQ(sign_in.code(), absl::StatusCode::kUnauthenticated) << sign_in;
}

TEST_F(TokenKindTest, ServiceTokenOnSessionRpcDenied) {
  // Owner RPCs accept a service token that names the owner, so without owner_account_id
  // they reject the request as incomplete rather than the token.
  const std::set<std::string> owner_rpcs = {"CreateInvitation", "ConfirmInvitation",
                                            "DenyInvitation",   "ListInvitations",
                                            "ListGrants",       "UpdateGrant",
                                            "RevokeGrant"};
  for (const TokenCall& call : SessionTokenCalls()) {
    absl::Status status = call.send(service());

    if (owner_rpcs.count(call.rpc) > 0) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << call.rpc << ": " << status;
      EXPECT_TRUE(absl::StartsWith(status.message(), "owner_account_id")) << call.rpc << ": "
                                                                          << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << call.rpc << ": " << status;
    }
  }
}

// --- PERMISSION_DENIED: the wrong signed-in account for an invitation token. ---

using InvitationTokenTest = E2eTest;

TEST_F(InvitationTokenTest, OtherAccountAcceptingIsPermissionDenied) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(Stranger()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));

  absl::StatusOr<v1::Invitation> accepted = Accept(*stranger.client, sent.token);

  EXPECT_EQ(accepted.status().code(), absl::StatusCode::kPermissionDenied) << accepted.status();
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_THAT(invitations, SizeIs(1));
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_PENDING);
  EXPECT_THAT(invitations[0].invitee_account_id(), IsEmpty());
  EXPECT_OK(LookupStatus(*Connect(), sent.token));
}

TEST_F(InvitationTokenTest, OwnerAcceptingOwnInvitationIsRejected) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));

  absl::StatusOr<v1::Invitation> accepted = Accept(*owner.client, sent.token);

  EXPECT_FALSE(accepted.ok());
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_THAT(invitations, SizeIs(1));
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_PENDING);
}

// --- NOT_FOUND: another owner's id reads exactly as an id that does not exist. ---

using OwnershipTest = E2eTest;

TEST_F(OwnershipTest, OtherOwnersInvitationIdReadsAsUnknownId) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn other_owner, CreateAccountAndSignIn(Stranger()));
  ASSERT_OK_AND_ASSIGN(SentInvitation other_invitation,
                       Invite(*other_owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  const std::string other_id = other_invitation.invitation.invitation_id();
  const std::string unknown_id = RandomUuid();

  absl::Status confirm_other = ConfirmInvitationStatus(*owner.client, other_id);
  absl::Status confirm_unknown = ConfirmInvitationStatus(*owner.client, unknown_id);
  absl::Status deny_other = DenyInvitationStatus(*owner.client, other_id);
  absl::Status deny_unknown = DenyInvitationStatus(*owner.client, unknown_id);

  EXPECT_EQ(confirm_unknown.code(), absl::StatusCode::kNotFound) << confirm_unknown;
  EXPECT_EQ(confirm_other.code(), confirm_unknown.code()) << confirm_other;
  EXPECT_EQ(confirm_other.message(), confirm_unknown.message());
  EXPECT_EQ(deny_unknown.code(), absl::StatusCode::kNotFound) << deny_unknown;
  EXPECT_EQ(deny_other.code(), deny_unknown.code()) << deny_other;
  EXPECT_EQ(deny_other.message(), deny_unknown.message());
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> other_invitations,
                       ListInvitations(*other_owner.client));
  ASSERT_THAT(other_invitations, SizeIs(1));
  EXPECT_EQ(other_invitations[0].state(), v1::INVITATION_STATE_PENDING);
}

TEST_F(OwnershipTest, OtherOwnersGrantIdReadsAsUnknownId) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn other_owner, CreateAccountAndSignIn(Stranger()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant other_grant, GrantAccess(*other_owner.client, Delegate(),
                                                          *delegate.client, v1::ACCESS_LEVEL_FULL));
  const std::string unknown_id = RandomUuid();

  absl::Status update_other = UpdateGrantStatus(*owner.client, other_grant.grant_id());
  absl::Status update_unknown = UpdateGrantStatus(*owner.client, unknown_id);
  absl::Status revoke_other = RevokeGrantStatus(*owner.client, other_grant.grant_id());
  absl::Status revoke_unknown = RevokeGrantStatus(*owner.client, unknown_id);

  EXPECT_EQ(update_unknown.code(), absl::StatusCode::kNotFound) << update_unknown;
  EXPECT_EQ(update_other.code(), update_unknown.code()) << update_other;
  EXPECT_EQ(update_other.message(), update_unknown.message());
  EXPECT_EQ(revoke_unknown.code(), absl::StatusCode::kNotFound) << revoke_unknown;
  EXPECT_EQ(revoke_other.code(), revoke_unknown.code()) << revoke_other;
  EXPECT_EQ(revoke_other.message(), revoke_unknown.message());
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> other_grants, ListGrants(*other_owner.client));
  ASSERT_THAT(other_grants, SizeIs(1));
  EXPECT_EQ(other_grants[0].access_level(), v1::ACCESS_LEVEL_FULL);
}

// --- NOT_FOUND: an unknown, used, expired or no longer pending invitation token; all read
// exactly alike. ---

using DeadTokenTest = E2eTest;

TEST_F(DeadTokenTest, LookupReadsUnknownExpiredAndAcceptedAlike) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(Stranger()));
  ASSERT_OK_AND_ASSIGN(SentInvitation expiring,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(ExpireInvitation(expiring.invitation.invitation_id()));
  ASSERT_OK_AND_ASSIGN(SentInvitation accepted,
                       Invite(*owner.client, Stranger(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*stranger.client, accepted.token));
  std::unique_ptr<sdk::Client> anonymous = Connect();

  absl::Status unknown = LookupStatus(*anonymous, RandomToken());
  absl::Status malformed = LookupStatus(*anonymous, "not a token");
  absl::Status expired = LookupStatus(*anonymous, expiring.token);
  absl::Status no_longer_pending = LookupStatus(*anonymous, accepted.token);

  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_EQ(malformed.code(), absl::StatusCode::kNotFound) << malformed;
  EXPECT_EQ(malformed.message(), unknown.message());
  EXPECT_EQ(expired.code(), absl::StatusCode::kNotFound) << expired;
  EXPECT_EQ(expired.message(), unknown.message());
  EXPECT_EQ(no_longer_pending.code(), absl::StatusCode::kNotFound) << no_longer_pending;
  EXPECT_EQ(no_longer_pending.message(), unknown.message());
}

TEST_F(DeadTokenTest, SignUpReadsUnknownUsedAndExpiredAlike) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation used,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  std::unique_ptr<sdk::Client> anonymous = Connect();
  ASSERT_OK(SignUpStatus(*anonymous, used.token, Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation expiring,
                       Invite(*owner.client, Stranger(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(ExpireInvitation(expiring.invitation.invitation_id()));

  absl::Status unknown = SignUpStatus(*anonymous, RandomToken(), Stranger());
  absl::Status used_again = SignUpStatus(*anonymous, used.token, Delegate());
  absl::Status expired = SignUpStatus(*anonymous, expiring.token, Stranger());

  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_EQ(used_again.code(), absl::StatusCode::kNotFound) << used_again;
  EXPECT_EQ(used_again.message(), unknown.message());
  EXPECT_EQ(expired.code(), absl::StatusCode::kNotFound) << expired;
  EXPECT_EQ(expired.message(), unknown.message());
}

TEST_F(DeadTokenTest, AcceptReadsUnknownAndExpiredAlike) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation expiring,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(ExpireInvitation(expiring.invitation.invitation_id()));

  absl::Status unknown = Accept(*delegate.client, RandomToken()).status();
  absl::Status expired = Accept(*delegate.client, expiring.token).status();

  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_EQ(expired.code(), absl::StatusCode::kNotFound) << expired;
  EXPECT_EQ(expired.message(), unknown.message());
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_THAT(invitations, SizeIs(1));
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_EXPIRED);
}

TEST_F(DeadTokenTest, EveryRpcReadsUnknownTokenAlike) {
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  const std::string token = RandomToken();

  absl::Status lookup = LookupStatus(*Connect(), token);
  absl::Status sign_up = SignUpStatus(*Connect(), token, Stranger());
  absl::Status accept = Accept(*delegate.client, token).status();

  EXPECT_EQ(lookup.code(), absl::StatusCode::kNotFound) << lookup;
  EXPECT_EQ(sign_up.code(), absl::StatusCode::kNotFound) << sign_up;
  EXPECT_EQ(sign_up.message(), lookup.message());
  EXPECT_EQ(accept.code(), absl::StatusCode::kNotFound) << accept;
  EXPECT_EQ(accept.message(), lookup.message());
}

TEST_F(DeadTokenTest, SecondSignUpWithSameTokenCreatesNoAccount) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  std::unique_ptr<sdk::Client> anonymous = Connect();
  ASSERT_OK(SignUpStatus(*anonymous, sent.token, Delegate()));
  Person second_person = Delegate();
  second_person.first_name = "Second";
  second_person.password = "second-password-5678";

  absl::Status second = SignUpStatus(*anonymous, sent.token, second_person);

  EXPECT_EQ(second.code(), absl::StatusCode::kNotFound) << second;
  absl::Status second_sign_in = SignIn(second_person).status();
  EXPECT_EQ(second_sign_in.code(), absl::StatusCode::kUnauthenticated) << second_sign_in;
  ASSERT_OK_AND_ASSIGN(SignedIn first, SignIn(Delegate()));
  EXPECT_EQ(first.account.first_name(), Delegate().first_name);
}

// --- ALREADY_EXISTS: an account, live invitation or grant for the same email. ---

using DuplicateTest = E2eTest;

TEST_F(DuplicateTest, SignUpForEmailWithAccountIsAlreadyExists) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(CreateAccount(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  Person sign_up_person = Delegate();
  sign_up_person.password = "other-password-5678";

  absl::Status sign_up = SignUpStatus(*Connect(), sent.token, sign_up_person);

  EXPECT_EQ(sign_up.code(), absl::StatusCode::kAlreadyExists) << sign_up;
  absl::Status sign_in = SignIn(sign_up_person).status();
  EXPECT_EQ(sign_in.code(), absl::StatusCode::kUnauthenticated) << sign_in;
}

TEST_F(DuplicateTest, CreateAccountWithEmailInOtherCaseIsAlreadyExists) {
  ASSERT_OK(CreateAccount(Owner()));
  Person duplicate = Stranger();
  duplicate.email = absl::AsciiStrToUpper(Owner().email);

  absl::Status created = CreateAccount(duplicate).status();

  EXPECT_EQ(created.code(), absl::StatusCode::kAlreadyExists) << created;
}

TEST_F(DuplicateTest, InvitingEmailWithLiveInvitationIsAlreadyExists) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  Person upper_case = Delegate();
  upper_case.email = absl::AsciiStrToUpper(upper_case.email);
  v1::CreateInvitationRequest request;
  request.set_first_name(upper_case.first_name);
  request.set_last_name(upper_case.last_name);
  request.set_email(upper_case.email);
  request.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);

  absl::Status second = owner.client->CreateInvitation(request).status();

  EXPECT_EQ(second.code(), absl::StatusCode::kAlreadyExists) << second;
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  EXPECT_THAT(invitations, SizeIs(1));
}

TEST_F(DuplicateTest, InvitingEmailWithAcceptedInvitationIsAlreadyExists) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*delegate.client, sent.token));
  v1::CreateInvitationRequest request;
  request.set_first_name(Delegate().first_name);
  request.set_last_name(Delegate().last_name);
  request.set_email(absl::AsciiStrToUpper(Delegate().email));
  request.set_access_level(v1::ACCESS_LEVEL_FULL);

  absl::Status second = owner.client->CreateInvitation(request).status();

  EXPECT_EQ(second.code(), absl::StatusCode::kAlreadyExists) << second;
}

TEST_F(DuplicateTest, InvitingExistingDelegateIsAlreadyExists) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK(
      GrantAccess(*owner.client, Delegate(), *delegate.client, v1::ACCESS_LEVEL_APPOINTMENTS_ONLY));
  v1::CreateInvitationRequest request;
  request.set_first_name(Delegate().first_name);
  request.set_last_name(Delegate().last_name);
  request.set_email(absl::AsciiStrToUpper(Delegate().email));
  request.set_access_level(v1::ACCESS_LEVEL_FULL);

  absl::Status second = owner.client->CreateInvitation(request).status();

  EXPECT_EQ(second.code(), absl::StatusCode::kAlreadyExists) << second;
}

TEST_F(DuplicateTest, InvitingAfterDenialIsAllowed) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*delegate.client, sent.token));
  ASSERT_OK(DenyInvitationStatus(*owner.client, sent.invitation.invitation_id()));
  v1::CreateInvitationRequest request;
  request.set_first_name(Delegate().first_name);
  request.set_last_name(Delegate().last_name);
  request.set_email(Delegate().email);
  request.set_access_level(v1::ACCESS_LEVEL_FULL);

  absl::Status second = owner.client->CreateInvitation(request).status();

  EXPECT_OK(second);
}

// --- INVALID_ARGUMENT: inviting yourself. ---

using SelfInvitationTest = E2eTest;

TEST_F(SelfInvitationTest, InvitingOwnEmailInOtherCaseIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  v1::CreateInvitationRequest request;
  request.set_first_name(Owner().first_name);
  request.set_last_name(Owner().last_name);
  request.set_email(absl::AsciiStrToUpper(Owner().email));
  request.set_access_level(v1::ACCESS_LEVEL_FULL);

  absl::Status status = owner.client->CreateInvitation(request).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("email"));
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  EXPECT_THAT(invitations, IsEmpty());
}

// --- FAILED_PRECONDITION: the invitation is in the wrong state for the call. ---

using InvitationStateTest = E2eTest;

TEST_F(InvitationStateTest, ConfirmBeforeAcceptIsFailedPrecondition) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));

  absl::Status status = ConfirmInvitationStatus(*owner.client, sent.invitation.invitation_id());

  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  EXPECT_THAT(grants, IsEmpty());
}

TEST_F(InvitationStateTest, DenyBeforeAcceptIsFailedPrecondition) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));

  absl::Status status = DenyInvitationStatus(*owner.client, sent.invitation.invitation_id());

  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_THAT(invitations, SizeIs(1));
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_PENDING);
}

TEST_F(InvitationStateTest, AcceptTwiceIsFailedPrecondition) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*delegate.client, sent.token));

  absl::Status second = Accept(*delegate.client, sent.token).status();

  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition) << second;
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> owner_emails,
                       WaitForEmailsTo(Owner().email, 1));
  EXPECT_EQ(owner_emails.size(), 1u);
}

TEST_F(InvitationStateTest, ConfirmAfterDenyIsFailedPrecondition) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*delegate.client, sent.token));
  ASSERT_OK(DenyInvitationStatus(*owner.client, sent.invitation.invitation_id()));

  absl::Status status = ConfirmInvitationStatus(*owner.client, sent.invitation.invitation_id());

  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  EXPECT_THAT(grants, IsEmpty());
}

// --- UNAUTHENTICATED: SignIn reads an unknown email and a wrong password alike. ---

using SignInTest = E2eTest;

TEST_F(SignInTest, UnknownEmailAndWrongPasswordReadAlike) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> anonymous = Connect();

  absl::Status unknown_email = SignInStatus(*anonymous, Stranger().email, Owner().password);
  absl::Status wrong_password = SignInStatus(*anonymous, Owner().email, "wrong-password-0000");

  EXPECT_EQ(unknown_email.code(), absl::StatusCode::kUnauthenticated) << unknown_email;
  EXPECT_EQ(wrong_password.code(), absl::StatusCode::kUnauthenticated) << wrong_password;
  EXPECT_EQ(wrong_password.message(), unknown_email.message());
}

TEST_F(SignInTest, IgnoresSpacesAndCaseAroundEmail) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> anonymous = Connect();

  const absl::Status status =
      SignInStatus(*anonymous, "  ANN.Owner@Example.org \t", Owner().password);

  EXPECT_OK(status);
}

TEST_F(SignInTest, BlankEmailIsInvalid) {
  std::unique_ptr<sdk::Client> anonymous = Connect();

  const absl::Status status = SignInStatus(*anonymous, "   ", Owner().password);

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "email")) << status;
}

}  // namespace
}  // namespace accessdelegation::e2e
