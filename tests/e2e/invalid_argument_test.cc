// INVALID_ARGUMENT for a missing or malformed field, with the field's name in the message,
// for every RPC that validates input; and the boundary values that must still pass.
//
// An invitation or grant id that is not a UUID is a malformed field, so it reads as
// INVALID_ARGUMENT; only a well-formed id that does not exist or belongs to another owner
// reads as NOT_FOUND (see error_contract_test.cc).

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

using ::testing::HasSubstr;

// Fixtures is what a bad-input case needs besides the service client.
struct Fixtures {
  sdk::Client* service = nullptr;
  sdk::Client* anonymous = nullptr;
  sdk::Client* owner = nullptr;     // Set when the case needs an owner session.
  std::string invitation_token;     // Set when the case needs an invitation token.
};

// BadInputCase is one request with one bad field.
struct BadInputCase {
  // Test name suffix.
  std::string name;
  // The field the request gets wrong; the error message must contain it.
  std::string field;
  // Whether `send` uses Fixtures::owner.
  bool needs_owner = false;
  // Whether `send` uses Fixtures::invitation_token (implies an owner).
  bool needs_invitation = false;
  // Sends the request and returns the call's status.
  std::function<absl::Status(const Fixtures&)> send;
};

// Returns a CreateAccountRequest that is valid before `mutate` changes it.
std::function<absl::Status(const Fixtures&)> CreateAccountWith(
    std::function<void(v1::CreateAccountRequest&)> mutate) {
  return [mutate](const Fixtures& fixtures) {
    v1::CreateAccountRequest request;
    request.set_email("new.patient@example.org");
    request.set_password("new-patient-password");
    request.set_first_name("New");
    request.set_last_name("Patient");
    request.set_phone_number("+14155550109");
    mutate(request);
    return fixtures.service->CreateAccount(request).status();
  };
}

std::function<absl::Status(const Fixtures&)> SignUpWith(
    std::function<void(v1::SignUpRequest&)> mutate) {
  return [mutate](const Fixtures& fixtures) {
    v1::SignUpRequest request;
    request.set_invitation_token(fixtures.invitation_token);
    request.set_password("delegate-password-1234");
    request.set_first_name("Dan");
    request.set_last_name("Delegate");
    request.set_phone_number("+14155550102");
    mutate(request);
    return fixtures.anonymous->SignUp(request).status();
  };
}

std::function<absl::Status(const Fixtures&)> CreateInvitationWith(
    std::function<void(v1::CreateInvitationRequest&)> mutate) {
  return [mutate](const Fixtures& fixtures) {
    v1::CreateInvitationRequest request;
    request.set_first_name("Dan");
    request.set_last_name("Delegate");
    request.set_email("dan.delegate@example.org");
    request.set_access_level(v1::ACCESS_LEVEL_FULL);
    mutate(request);
    return fixtures.owner->CreateInvitation(request).status();
  };
}

std::function<absl::Status(const Fixtures&)> UpdateGrantWith(
    std::function<void(v1::UpdateGrantRequest&)> mutate) {
  return [mutate](const Fixtures& fixtures) {
    v1::UpdateGrantRequest request;
    request.set_grant_id(RandomUuid());
    request.set_access_level(v1::ACCESS_LEVEL_FULL);
    mutate(request);
    return fixtures.owner->UpdateGrant(request).status();
  };
}

std::function<absl::Status(const Fixtures&)> CheckAccessWith(
    std::function<void(v1::CheckAccessRequest&)> mutate) {
  return [mutate](const Fixtures& fixtures) {
    v1::CheckAccessRequest request;
    request.set_account_id(RandomUuid());
    request.set_owner_account_id(RandomUuid());
    request.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);
    mutate(request);
    return fixtures.service->CheckAccess(request).status();
  };
}

constexpr int kUnknownEnumValue = 99;

// Returns a well-formed address of `length` characters, at least 140: a 64-character local
// part (the RFC 5321 maximum) and a domain of labels no longer than 63 characters, so that
// only the total length can make it invalid.
std::string EmailOfLength(size_t length) {
  const std::string local_part(64, 'a');
  const std::string fixed_labels = std::string(63, 'b') + "." + std::string(63, 'c') + ".";
  const size_t last_label_length = length - local_part.size() - 1 - fixed_labels.size() - 4;
  return local_part + "@" + fixed_labels + std::string(last_label_length, 'd') + ".org";
}

std::vector<BadInputCase> BadInputCases() {
  using CreateAccount = v1::CreateAccountRequest;
  using SignUp = v1::SignUpRequest;
  using CreateInvitation = v1::CreateInvitationRequest;
  using UpdateGrant = v1::UpdateGrantRequest;
  using CheckAccess = v1::CheckAccessRequest;
  const std::string long_email = EmailOfLength(255);

  return {
      {"CreateAccountEmptyFirstName", "first_name", false, false,
       CreateAccountWith([](CreateAccount& r) { r.clear_first_name(); })},
      {"CreateAccountEmptyLastName", "last_name", false, false,
       CreateAccountWith([](CreateAccount& r) { r.clear_last_name(); })},
      {"CreateAccountControlCharacterInFirstName", "first_name", false, false,
       CreateAccountWith([](CreateAccount& r) { r.set_first_name("New\nline"); })},
      {"CreateAccountFirstNameOver100Characters", "first_name", false, false,
       CreateAccountWith([](CreateAccount& r) { r.set_first_name(std::string(101, 'a')); })},
      {"CreateAccountEmptyEmail", "email", false, false,
       CreateAccountWith([](CreateAccount& r) { r.clear_email(); })},
      {"CreateAccountNonAsciiEmail", "email", false, false,
       CreateAccountWith([](CreateAccount& r) { r.set_email("j\xC3\xB6" "e@example.org"); })},
      {"CreateAccountEmailWithoutAt", "email", false, false,
       CreateAccountWith([](CreateAccount& r) { r.set_email("not-an-email"); })},
      {"CreateAccountEmailOver254Characters", "email", false, false,
       CreateAccountWith([long_email](CreateAccount& r) { r.set_email(long_email); })},
      {"CreateAccountTwoDigitPhone", "phone_number", false, false,
       CreateAccountWith([](CreateAccount& r) { r.set_phone_number("12"); })},
      {"CreateAccountPasswordUnder12Characters", "password", false, false,
       CreateAccountWith([](CreateAccount& r) { r.set_password("elevenchars"); })},
      {"CreateAccountPasswordOver128Characters", "password", false, false,
       CreateAccountWith([](CreateAccount& r) { r.set_password(std::string(129, 'p')); })},

      {"SignUpPasswordUnder12Characters", "password", false, true,
       SignUpWith([](SignUp& r) { r.set_password("elevenchars"); })},
      {"SignUpEmptyFirstName", "first_name", false, true,
       SignUpWith([](SignUp& r) { r.clear_first_name(); })},
      {"SignUpControlCharacterInLastName", "last_name", false, true,
       SignUpWith([](SignUp& r) { r.set_last_name("Dele\tgate"); })},
      {"SignUpTwoDigitPhone", "phone_number", false, true,
       SignUpWith([](SignUp& r) { r.set_phone_number("12"); })},

      {"CreateInvitationEmptyFirstName", "first_name", true, false,
       CreateInvitationWith([](CreateInvitation& r) { r.clear_first_name(); })},
      {"CreateInvitationEmptyLastName", "last_name", true, false,
       CreateInvitationWith([](CreateInvitation& r) { r.clear_last_name(); })},
      {"CreateInvitationNonAsciiEmail", "email", true, false,
       CreateInvitationWith(
           [](CreateInvitation& r) { r.set_email("j\xC3\xB6" "e@example.org"); })},
      {"CreateInvitationEmailWithoutAt", "email", true, false,
       CreateInvitationWith([](CreateInvitation& r) { r.set_email("not-an-email"); })},
      {"CreateInvitationUnsetAccessLevel", "access_level", true, false,
       CreateInvitationWith([](CreateInvitation& r) { r.clear_access_level(); })},
      {"CreateInvitationUnknownAccessLevel", "access_level", true, false,
       CreateInvitationWith([](CreateInvitation& r) {
         r.set_access_level(static_cast<v1::AccessLevel>(kUnknownEnumValue));
       })},

      {"ConfirmInvitationMalformedId", "invitation_id", true, false,
       [](const Fixtures& fixtures) {
         v1::ConfirmInvitationRequest request;
         request.set_invitation_id("not-a-uuid");
         return fixtures.owner->ConfirmInvitation(request).status();
       }},
      {"DenyInvitationMalformedId", "invitation_id", true, false,
       [](const Fixtures& fixtures) {
         v1::DenyInvitationRequest request;
         request.set_invitation_id("not-a-uuid");
         return fixtures.owner->DenyInvitation(request).status();
       }},
      {"DenyInvitationEmptyId", "invitation_id", true, false,
       [](const Fixtures& fixtures) {
         return fixtures.owner->DenyInvitation(v1::DenyInvitationRequest()).status();
       }},

      {"UpdateGrantMalformedId", "grant_id", true, false,
       UpdateGrantWith([](UpdateGrant& r) { r.set_grant_id("not-a-uuid"); })},
      {"RevokeGrantMalformedId", "grant_id", true, false,
       [](const Fixtures& fixtures) {
         v1::RevokeGrantRequest request;
         request.set_grant_id("not-a-uuid");
         return fixtures.owner->RevokeGrant(request).status();
       }},
      {"UpdateGrantUnsetAccessLevel", "access_level", true, false,
       UpdateGrantWith([](UpdateGrant& r) { r.clear_access_level(); })},
      {"UpdateGrantUnknownAccessLevel", "access_level", true, false,
       UpdateGrantWith([](UpdateGrant& r) {
         r.set_access_level(static_cast<v1::AccessLevel>(kUnknownEnumValue));
       })},

      {"CheckAccessUnsetPermission", "permission", false, false,
       CheckAccessWith([](CheckAccess& r) { r.clear_permission(); })},
      {"CheckAccessUnknownPermission", "permission", false, false,
       CheckAccessWith([](CheckAccess& r) {
         r.set_permission(static_cast<v1::Permission>(kUnknownEnumValue));
       })},
      {"CheckAccessMalformedAccountId", "account_id", false, false,
       CheckAccessWith([](CheckAccess& r) { r.set_account_id("not-a-uuid"); })},
      {"CheckAccessMalformedOwnerAccountId", "owner_account_id", false, false,
       CheckAccessWith([](CheckAccess& r) { r.set_owner_account_id("not-a-uuid"); })},
  };
}

// Prints the case name in place of the bytes of the struct when a case fails.
void PrintTo(const BadInputCase& bad_input, std::ostream* os) { *os << bad_input.name; }

class InvalidArgumentTest : public E2eTest,
                            public ::testing::WithParamInterface<BadInputCase> {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (HasFatalFailure()) return;
    anonymous_ = Connect();
    fixtures_.service = &service();
    fixtures_.anonymous = anonymous_.get();

    if (!GetParam().needs_owner && !GetParam().needs_invitation) return;
    ASSERT_OK_AND_ASSIGN(owner_, CreateAccountAndSignIn(Owner()));
    fixtures_.owner = owner_.client.get();

    if (!GetParam().needs_invitation) return;
    ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                         Invite(*owner_.client, Delegate(), v1::ACCESS_LEVEL_FULL));
    fixtures_.invitation_token = sent.token;
  }

  Fixtures fixtures_;

 private:
  std::unique_ptr<sdk::Client> anonymous_;
  SignedIn owner_;
};

TEST_P(InvalidArgumentTest, NamesTheField) {
  const BadInputCase& bad_input = GetParam();

  absl::Status status = bad_input.send(fixtures_);

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(bad_input.field));
}

INSTANTIATE_TEST_SUITE_P(BadInput, InvalidArgumentTest, ::testing::ValuesIn(BadInputCases()),
                         [](const ::testing::TestParamInfo<BadInputCase>& info) {
                           return info.param.name;
                         });

using BoundaryInputTest = E2eTest;

TEST_F(BoundaryInputTest, CreateAccountAcceptsShortestAllowedValues) {
  v1::CreateAccountRequest request;
  request.set_email("a@b.co");
  request.set_password(std::string(12, 'p'));
  request.set_first_name("A");
  request.set_last_name("B");
  request.set_phone_number("(415) 555-0123");

  absl::StatusOr<v1::CreateAccountResponse> response = service().CreateAccount(request);

  ASSERT_OK(response);
  EXPECT_EQ(response->account().phone_number(), "+14155550123");
  EXPECT_EQ(response->account().email(), "a@b.co");
}

TEST_F(BoundaryInputTest, CreateAccountAcceptsLongestAllowedValues) {
  const std::string email = EmailOfLength(254);
  v1::CreateAccountRequest request;
  request.set_email(email);
  request.set_password(std::string(128, 'p'));
  request.set_first_name(std::string(100, 'f'));
  request.set_last_name(std::string(100, 'l'));
  request.set_phone_number("+442079460000");

  absl::StatusOr<v1::CreateAccountResponse> response = service().CreateAccount(request);

  ASSERT_OK(response);
  EXPECT_EQ(response->account().email(), email);
  EXPECT_EQ(response->account().first_name(), std::string(100, 'f'));
  EXPECT_EQ(response->account().phone_number(), "+442079460000");
}

}  // namespace
}  // namespace accessdelegation::e2e
