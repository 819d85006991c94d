// INVALID_ARGUMENT for a missing or malformed field, with the field's name in the message,
// for every RPC that validates input. Also the boundary values that must still pass.
//
// Each test walks a table of bad requests for one RPC on one server. A server and database
// per case would make the suite several times slower.
//
// An invitation or grant id that is not a UUID is a malformed field, so it reads as
// INVALID_ARGUMENT. Only a well-formed id that does not exist or belongs to another owner
// reads as NOT_FOUND (see error_contract_test.cc).

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "accessdelegation/v1/access_history.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

using ::testing::HasSubstr;

constexpr int kUnknownEnumValue = 99;
constexpr char kNotAUuid[] = "not-a-uuid";
constexpr char kNonAsciiEmail[] =
    "j\xC3\xB6"
    "e@example.org";  // "jöe@example.org" in UTF-8.

// BadField is one way to break a valid `Request`.
template <typename Request>
struct BadField {
  // What the case breaks, printed when it fails.
  std::string name;
  // The field that `mutate` breaks, which the error message must contain.
  std::string field;
  // Breaks the field in a valid request.
  std::function<void(Request&)> mutate;
};

// Applies each case of `cases` to a copy of `valid`, sends it with `send`, and expects
// INVALID_ARGUMENT with a message that names the case's field.
template <typename Request>
void ExpectEachNamesField(const Request& valid, const std::vector<BadField<Request>>& cases,
                          const std::function<absl::Status(const Request&)>& send) {
  for (const BadField<Request>& bad_field : cases) {
    Request request = valid;
    bad_field.mutate(request);

    absl::Status status = send(request);

    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
        << bad_field.name << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr(bad_field.field)) << bad_field.name;
  }
}

// Returns a well-formed address of `length` characters, at least 140: a 64-character local
// part (the RFC 5321 maximum) and a domain of labels no longer than 63 characters, so that
// only the total length can make it invalid.
std::string EmailOfLength(size_t length) {
  const std::string local_part(64, 'a');
  const std::string fixed_labels = std::string(63, 'b') + "." + std::string(63, 'c') + ".";
  const size_t last_label_length = length - local_part.size() - 1 - fixed_labels.size() - 4;
  return local_part + "@" + fixed_labels + std::string(last_label_length, 'd') + ".org";
}

using InvalidArgumentTest = E2eTest;

TEST_F(InvalidArgumentTest, CreateAccountNamesBadField) {
  using Request = v1::CreateAccountRequest;
  Request valid;
  valid.set_email("new.patient@example.org");
  valid.set_password("new-patient-password");
  valid.set_first_name("New");
  valid.set_last_name("Patient");
  valid.set_phone_number("+14155550109");
  const std::string long_email = EmailOfLength(255);
  const std::vector<BadField<Request>> cases = {
      {"empty first name", "first_name", [](Request& r) { r.clear_first_name(); }},
      {"empty last name", "last_name", [](Request& r) { r.clear_last_name(); }},
      {"control character in first name", "first_name",
       [](Request& r) { r.set_first_name("New\nline"); }},
      {"first name over 100 characters", "first_name",
       [](Request& r) { r.set_first_name(std::string(101, 'a')); }},
      {"empty email", "email", [](Request& r) { r.clear_email(); }},
      {"non-ASCII email", "email", [](Request& r) { r.set_email(kNonAsciiEmail); }},
      {"email without @", "email", [](Request& r) { r.set_email("not-an-email"); }},
      {"email over 254 characters", "email", [long_email](Request& r) { r.set_email(long_email); }},
      {"two-digit phone", "phone_number", [](Request& r) { r.set_phone_number("12"); }},
      {"password under 12 characters", "password",
       [](Request& r) { r.set_password("elevenchars"); }},
      {"password over 128 characters", "password",
       [](Request& r) { r.set_password(std::string(129, 'p')); }},
  };

  ExpectEachNamesField<Request>(valid, cases, [this](const Request& request) {
    return service().CreateAccount(request).status();
  });
}

TEST_F(InvalidArgumentTest, CreateAccountRejectsBlankUnicodeNames) {
  struct Case {
    std::string name;
    std::string first_name;
    std::string expected_words;
  };
  const std::vector<Case> cases = {
      {"no-break spaces", "\xC2\xA0\xC2\xA0", "is required"},
      {"ideographic space", "\xE3\x80\x80", "is required"},
      {"combining marks only", "\xCC\x81\xCC\x81", "has no letter or digit"},
      {"punctuation only", "-.-", "has no letter or digit"},
  };
  for (const Case& test_case : cases) {
    v1::CreateAccountRequest request;
    request.set_email("new.patient@example.org");
    request.set_password("new-patient-password");
    request.set_first_name(test_case.first_name);
    request.set_last_name("Patient");
    request.set_phone_number("+14155550109");

    const absl::Status status = service().CreateAccount(request).status();

    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << test_case.name << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr("first_name " + test_case.expected_words))
        << test_case.name;
    EXPECT_THAT(status.message(), HasSubstr("send the person's name")) << test_case.name;
  }
}

TEST_F(InvalidArgumentTest, LengthMessagesSayWhatToSend) {
  v1::CreateAccountRequest account;
  account.set_email(EmailOfLength(255));
  account.set_password("new-patient-password");
  account.set_first_name("New");
  account.set_last_name("Patient");
  account.set_phone_number("+14155550109");
  v1::SignUpRequest sign_up;
  sign_up.set_invitation_token(std::string(513, 't'));
  sign_up.set_password("new-patient-password");
  sign_up.set_first_name("New");
  sign_up.set_last_name("Patient");
  sign_up.set_phone_number("+14155550109");

  const absl::Status long_email = service().CreateAccount(account).status();
  const absl::Status long_token = Connect()->SignUp(sign_up).status();

  EXPECT_EQ(long_email.code(), absl::StatusCode::kInvalidArgument) << long_email;
  EXPECT_THAT(long_email.message(), HasSubstr("email is longer than 254 characters"));
  EXPECT_THAT(long_email.message(), HasSubstr("send a shorter address"));
  EXPECT_EQ(long_token.code(), absl::StatusCode::kInvalidArgument) << long_token;
  EXPECT_THAT(long_token.message(), HasSubstr("invitation_token is longer than 512"));
  EXPECT_THAT(long_token.message(), HasSubstr("send the token exactly as the link gives it"));
}

TEST_F(InvalidArgumentTest, SignUpNamesBadField) {
  using Request = v1::SignUpRequest;
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  std::unique_ptr<sdk::Client> anonymous = Connect();
  Request valid;
  valid.set_invitation_token(sent.token);
  valid.set_password(Delegate().password);
  valid.set_first_name(Delegate().first_name);
  valid.set_last_name(Delegate().last_name);
  valid.set_phone_number(Delegate().phone_number);
  const std::vector<BadField<Request>> cases = {
      {"password under 12 characters", "password",
       [](Request& r) { r.set_password("elevenchars"); }},
      {"empty first name", "first_name", [](Request& r) { r.clear_first_name(); }},
      {"control character in last name", "last_name",
       [](Request& r) { r.set_last_name("Dele\tgate"); }},
      {"two-digit phone", "phone_number", [](Request& r) { r.set_phone_number("12"); }},
  };

  ExpectEachNamesField<Request>(valid, cases, [&anonymous](const Request& request) {
    return anonymous->SignUp(request).status();
  });
}

TEST_F(InvalidArgumentTest, CreateInvitationNamesBadField) {
  using Request = v1::CreateInvitationRequest;
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  Request valid;
  valid.set_first_name(Delegate().first_name);
  valid.set_last_name(Delegate().last_name);
  valid.set_email(Delegate().email);
  valid.set_access_level(v1::ACCESS_LEVEL_FULL);
  const std::vector<BadField<Request>> cases = {
      {"empty first name", "first_name", [](Request& r) { r.clear_first_name(); }},
      {"empty last name", "last_name", [](Request& r) { r.clear_last_name(); }},
      {"non-ASCII email", "email", [](Request& r) { r.set_email(kNonAsciiEmail); }},
      {"email without @", "email", [](Request& r) { r.set_email("not-an-email"); }},
      {"unset access level", "access_level", [](Request& r) { r.clear_access_level(); }},
      {"unknown access level", "access_level",
       [](Request& r) { r.set_access_level(static_cast<v1::AccessLevel>(kUnknownEnumValue)); }},
  };

  ExpectEachNamesField<Request>(valid, cases, [&owner](const Request& request) {
    return owner.client->CreateInvitation(request).status();
  });
}

TEST_F(InvalidArgumentTest, UpdateGrantNamesBadField) {
  using Request = v1::UpdateGrantRequest;
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  Request valid;
  valid.set_grant_id(RandomUuid());
  valid.set_access_level(v1::ACCESS_LEVEL_FULL);
  const std::vector<BadField<Request>> cases = {
      {"malformed grant id", "grant_id", [](Request& r) { r.set_grant_id(kNotAUuid); }},
      {"unset access level", "access_level", [](Request& r) { r.clear_access_level(); }},
      {"unknown access level", "access_level",
       [](Request& r) { r.set_access_level(static_cast<v1::AccessLevel>(kUnknownEnumValue)); }},
  };

  ExpectEachNamesField<Request>(valid, cases, [&owner](const Request& request) {
    return owner.client->UpdateGrant(request).status();
  });
}

TEST_F(InvalidArgumentTest, MalformedIdsAreNamed) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  v1::ConfirmInvitationRequest confirm;
  confirm.set_invitation_id(kNotAUuid);
  v1::DenyInvitationRequest deny;
  deny.set_invitation_id(kNotAUuid);
  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(kNotAUuid);

  absl::Status confirm_status = owner.client->ConfirmInvitation(confirm).status();
  absl::Status deny_status = owner.client->DenyInvitation(deny).status();
  absl::Status deny_empty_status = owner.client->DenyInvitation({}).status();
  absl::Status revoke_status = owner.client->RevokeGrant(revoke).status();

  EXPECT_EQ(confirm_status.code(), absl::StatusCode::kInvalidArgument) << confirm_status;
  EXPECT_THAT(confirm_status.message(), HasSubstr("invitation_id"));
  EXPECT_EQ(deny_status.code(), absl::StatusCode::kInvalidArgument) << deny_status;
  EXPECT_THAT(deny_status.message(), HasSubstr("invitation_id"));
  EXPECT_EQ(deny_empty_status.code(), absl::StatusCode::kInvalidArgument) << deny_empty_status;
  EXPECT_THAT(deny_empty_status.message(), HasSubstr("invitation_id"));
  EXPECT_EQ(revoke_status.code(), absl::StatusCode::kInvalidArgument) << revoke_status;
  EXPECT_THAT(revoke_status.message(), HasSubstr("grant_id"));
}

TEST_F(InvalidArgumentTest, CheckAccessNamesBadField) {
  using Request = v1::CheckAccessRequest;
  Request valid;
  valid.set_account_id(RandomUuid());
  valid.set_owner_account_id(RandomUuid());
  valid.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);
  const std::vector<BadField<Request>> cases = {
      {"unset permission", "permission", [](Request& r) { r.clear_permission(); }},
      {"unknown permission", "permission",
       [](Request& r) { r.set_permission(static_cast<v1::Permission>(kUnknownEnumValue)); }},
      {"malformed account id", "account_id", [](Request& r) { r.set_account_id(kNotAUuid); }},
      {"malformed owner account id", "owner_account_id",
       [](Request& r) { r.set_owner_account_id(kNotAUuid); }},
  };

  ExpectEachNamesField<Request>(valid, cases, [this](const Request& request) {
    return service().CheckAccess(request).status();
  });
}

TEST_F(InvalidArgumentTest, CreateInvitationRejectsHostileText) {
  using Request = v1::CreateInvitationRequest;
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  Request valid;
  valid.set_first_name(Delegate().first_name);
  valid.set_last_name(Delegate().last_name);
  valid.set_email(Delegate().email);
  valid.set_access_level(v1::ACCESS_LEVEL_FULL);
  const std::vector<BadField<Request>> cases = {
      {"right-to-left override in name", "first_name",
       [](Request& r) { r.set_first_name("Ana\xE2\x80\xAE" "eeL"); }},
      {"zero-width joiner in name", "last_name",
       [](Request& r) { r.set_last_name("Le\xE2\x80\x8D" "e"); }},
      {"line break in name", "first_name", [](Request& r) { r.set_first_name("Ana\nBcc: x"); }},
      {"name of 101 characters", "first_name",
       [](Request& r) { r.set_first_name(std::string(101, 'a')); }},
      {"Cyrillic a in email", "email",
       [](Request& r) { r.set_email("\xD0\xB0na@example.org"); }},
      {"header injection in email", "email",
       [](Request& r) { r.set_email("ana@example.org\r\nBcc: x@example.org"); }},
      {"grant end past year 9999", "grant_expire_time",
       [](Request& r) { r.mutable_grant_expire_time()->set_seconds(INT64_MAX); }},
      {"grant end with negative nanos", "grant_expire_time",
       [](Request& r) {
         r.mutable_grant_expire_time()->set_seconds(4102444800);
         r.mutable_grant_expire_time()->set_nanos(-1);
       }},
      {"request id with a control character", "request_id",
       [](Request& r) { r.set_request_id("req\x01"); }},
  };

  ExpectEachNamesField<Request>(valid, cases, [&owner](const Request& request) {
    return owner.client->CreateInvitation(request).status();
  });
}

TEST_F(InvalidArgumentTest, ListAuditEventsNamesBadField) {
  using Request = v1::ListAuditEventsRequest;
  const Request valid;
  const std::vector<BadField<Request>> cases = {
      {"actor id of 257 bytes", "actor_id",
       [](Request& r) { r.set_actor_id(std::string(257, 'a')); }},
      {"actor id with a control character", "actor_id",
       [](Request& r) { r.set_actor_id("service:\x7F"); }},
      {"start time before year 1", "start_time",
       [](Request& r) { r.mutable_start_time()->set_seconds(INT64_MIN); }},
      {"end time past year 9999", "end_time",
       [](Request& r) { r.mutable_end_time()->set_seconds(INT64_MAX); }},
      {"negative page size", "page_size", [](Request& r) { r.set_page_size(-1); }},
      {"page token of 1 KiB", "page_token",
       [](Request& r) { r.set_page_token("1." + std::string(1024, 'A')); }},
  };

  ExpectEachNamesField<Request>(valid, cases, [this](const Request& request) {
    return service().ListAuditEvents(request).status();
  });
}

TEST_F(InvalidArgumentTest, OversizedRequestIsResourceExhausted) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  v1::CreateInvitationRequest request;
  request.set_first_name(std::string(server::Config().max_receive_message_bytes, 'a'));
  request.set_last_name(Delegate().last_name);
  request.set_email(Delegate().email);
  request.set_access_level(v1::ACCESS_LEVEL_FULL);

  absl::Status status = owner.client->CreateInvitation(request).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
}

TEST_F(InvalidArgumentTest, ServerRejectsBadLimits) {
  server::Config config;
  config.database_url = database_url();
  config.max_receive_message_bytes = 1024;
  server::Config streams_config;
  streams_config.database_url = database_url();
  streams_config.max_watch_streams = 0;

  absl::Status message_status = server::Server::Start(config).status();
  absl::Status streams_status = server::Server::Start(streams_config).status();

  EXPECT_EQ(message_status.code(), absl::StatusCode::kInvalidArgument) << message_status;
  EXPECT_THAT(message_status.message(), HasSubstr("max_receive_message_bytes"));
  EXPECT_EQ(streams_status.code(), absl::StatusCode::kInvalidArgument) << streams_status;
  EXPECT_THAT(streams_status.message(), HasSubstr("max_watch_streams"));
}

// WatchStream is an open AccessHistory.WatchAccessChanges call with the service token.
struct WatchStream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::WatchAccessChangesResponse>> reader;
};

std::unique_ptr<WatchStream> OpenWatchStream(v1::AccessHistory::Stub& stub) {
  auto stream = std::make_unique<WatchStream>();
  stream->context.AddMetadata("authorization", absl::StrCat("Bearer ", kServiceToken));
  stream->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  stream->reader = stub.WatchAccessChanges(&stream->context, v1::WatchAccessChangesRequest());
  return stream;
}

TEST_F(InvalidArgumentTest, WatchStreamsBeyondLimitAreResourceExhausted) {
  server::Config config;
  config.listen_address = "127.0.0.1:0";
  config.database_url = database_url();
  config.mail_dir = mail_dir().string();
  config.service_token_file = service_token_file().string();
  config.secret_key_file = secret_key_file().string();
  config.max_watch_streams = 1;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::Server> limited, server::Server::Start(config));
  std::unique_ptr<v1::AccessHistory::Stub> stub =
      v1::AccessHistory::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", limited->port()),
                                                     grpc::InsecureChannelCredentials()));

  std::unique_ptr<WatchStream> first = OpenWatchStream(*stub);
  first->reader->WaitForInitialMetadata();
  std::unique_ptr<WatchStream> second = OpenWatchStream(*stub);
  v1::WatchAccessChangesResponse change;
  const bool second_read = second->reader->Read(&change);
  const grpc::Status second_status = second->reader->Finish();
  first->context.TryCancel();
  first->reader->Finish();
  // The server frees the first stream's slot when its handler sees the cancellation, within
  // a poll interval, so a new stream may be rejected for a short while.
  grpc::Status third_status;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  do {
    std::unique_ptr<WatchStream> third = OpenWatchStream(*stub);
    third->reader->WaitForInitialMetadata();
    third->context.TryCancel();
    third_status = third->reader->Finish();
    if (third_status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < give_up);
  limited->Shutdown(absl::Seconds(1));
  limited->Wait();

  EXPECT_FALSE(second_read);
  EXPECT_EQ(second_status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << second_status.error_message();
  EXPECT_THAT(second_status.error_message(), HasSubstr("WatchAccessChanges"));
  // The third stream opened, and ended only because the client cancelled it.
  EXPECT_EQ(third_status.error_code(), grpc::StatusCode::CANCELLED)
      << third_status.error_message();
}

using BoundaryInputTest = E2eTest;

TEST_F(BoundaryInputTest, CreateAccountAcceptsShortestValues) {
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

TEST_F(BoundaryInputTest, CreateAccountAcceptsLongestValues) {
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
