// The server binary's stderr: one JSON object per line, an access line per call with
// the request id, and no secrets.

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_test_support.h"
#include "tests/support/test_database.h"

namespace accessdelegation::ops {
namespace {

constexpr char kEmail[] = "olivia@example.test";
constexpr char kPassword[] = "Tr0ub4dor&3-secret-passphrase";
constexpr char kSignInRequestId[] = "ops-sign-in-8c41f2";

// Returns the value of the metadata `key` in `metadata`, or nullopt.
std::optional<std::string> MetadataValue(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata, const std::string& key) {
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

// A SignInRequest whose email (field 1) contains two bytes that are not UTF-8.
constexpr char kInvalidUtf8SignIn[] = "\x0a\x02\xff\xfe";

class LogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ServerBinary().ok()) << ServerBinary().status();
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    ServerOptions options;
    options.database_url = database_->url();
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options, temp_dir_.path());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = server_->PlaintextChannel();
  }

  void TearDown() override { server_.reset(); }

  // Returns the parsed access lines of `method` ("/package.Service/Method").
  std::vector<google::protobuf::Struct> AccessLines(const std::string& method) {
    std::vector<google::protobuf::Struct> lines;
    for (const std::string& line : server_->StderrLinesContaining(method)) {
      absl::StatusOr<google::protobuf::Struct> object = ParseJsonObject(line);
      if (object.ok() && StringField(*object, "method") == method) lines.push_back(*object);
    }
    return lines;
  }

  // Calls CheckAccess on `server` with the service token and these ids.
  static grpc::Status CallCheckAccess(const ServerProcess& server, const std::string& account_id,
                                      const std::string& owner_account_id) {
    auto stub = v1::AccessDelegation::NewStub(server.PlaintextChannel());
    grpc::ClientContext context;
    PrepareContext(context, kServiceToken);
    v1::CheckAccessRequest request;
    request.set_account_id(account_id);
    request.set_owner_account_id(owner_account_id);
    request.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);
    v1::CheckAccessResponse response;
    return stub->CheckAccess(&context, request, &response);
  }

  // Returns the token of the first invitation email in the mail directory, or an empty
  // string when none arrives within five seconds.
  std::string WaitForInvitationToken() {
    const std::regex token_pattern("token=([A-Za-z0-9_-]+)");
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (absl::Now() < deadline) {
      for (const auto& entry : std::filesystem::directory_iterator(server_->mail_dir())) {
        const std::string email = ReadFile(entry.path());
        std::smatch match;
        if (std::regex_search(email, match, token_pattern)) return match[1];
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return "";
  }

  std::unique_ptr<testing::TestDatabase> database_;
  ScopedTempDir temp_dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(LogsTest, AccessLinesCarryRequestIdsAndNoSecrets) {
  ASSERT_TRUE(CreateAccount(channel_, kEmail, kPassword).ok());

  auto accounts = v1::Accounts::NewStub(channel_);
  grpc::ClientContext sign_in_context;
  PrepareContext(sign_in_context, "");
  sign_in_context.AddMetadata("x-request-id", kSignInRequestId);
  v1::SignInRequest sign_in;
  sign_in.set_email(kEmail);
  sign_in.set_password(kPassword);
  v1::SignInResponse session;
  const grpc::Status signed_in = accounts->SignIn(&sign_in_context, sign_in, &session);
  ASSERT_TRUE(signed_in.ok()) << signed_in.error_message();

  auto delegation = v1::AccessDelegation::NewStub(channel_);
  grpc::ClientContext invite_context;
  PrepareContext(invite_context, session.session_token());
  v1::CreateInvitationRequest invite;
  invite.set_first_name("Dana");
  invite.set_last_name("Delegate");
  invite.set_email("dana@example.test");
  invite.set_access_level(v1::ACCESS_LEVEL_FULL);
  v1::CreateInvitationResponse invited;
  const grpc::Status created = delegation->CreateInvitation(&invite_context, invite, &invited);
  ASSERT_TRUE(created.ok()) << created.error_message();
  const std::string invitation_token = WaitForInvitationToken();
  const std::string stderr_text = server_->Stderr();

  // Every line is a JSON object with a time, a level and a message.
  for (absl::string_view line : absl::StrSplit(stderr_text, '\n', absl::SkipEmpty())) {
    absl::StatusOr<google::protobuf::Struct> object = ParseJsonObject(line);
    ASSERT_TRUE(object.ok()) << object.status();
    EXPECT_TRUE(StringField(*object, "time").has_value()) << line;
    EXPECT_TRUE(StringField(*object, "level").has_value()) << line;
    EXPECT_TRUE(StringField(*object, "msg").has_value()) << line;
  }

  // SignIn: the caller's request id, echoed in the response metadata.
  EXPECT_EQ(MetadataValue(sign_in_context.GetServerInitialMetadata(), "x-request-id"),
            kSignInRequestId);
  const std::vector<google::protobuf::Struct> sign_in_lines =
      AccessLines("/accessdelegation.v1.Accounts/SignIn");
  ASSERT_EQ(sign_in_lines.size(), 1u) << stderr_text;
  const google::protobuf::Struct& sign_in_line = sign_in_lines.front();
  EXPECT_EQ(StringField(sign_in_line, "code"), "OK");
  EXPECT_EQ(StringField(sign_in_line, "request_id"), kSignInRequestId);
  EXPECT_TRUE(StringField(sign_in_line, "peer").has_value());
  double duration_ms = -1;
  EXPECT_TRUE(absl::SimpleAtod(StringField(sign_in_line, "duration_ms").value_or("x"),
                               &duration_ms));
  EXPECT_GE(duration_ms, 0);

  // CreateInvitation: no request id sent, so the server generated one and echoed it.
  const std::optional<std::string> generated_id =
      MetadataValue(invite_context.GetServerInitialMetadata(), "x-request-id");
  ASSERT_TRUE(generated_id.has_value());
  EXPECT_FALSE(generated_id->empty());
  const std::vector<google::protobuf::Struct> invite_lines =
      AccessLines("/accessdelegation.v1.AccessDelegation/CreateInvitation");
  ASSERT_EQ(invite_lines.size(), 1u) << stderr_text;
  EXPECT_EQ(StringField(invite_lines.front(), "code"), "OK");
  EXPECT_EQ(StringField(invite_lines.front(), "request_id"), generated_id);
  EXPECT_EQ(StringField(invite_lines.front(), "caller"), "session");
  EXPECT_EQ(StringField(invite_lines.front(), "invitation_id"), invited.invitation().invitation_id());

  // CreateAccount ran with the service token.
  const std::vector<google::protobuf::Struct> create_lines =
      AccessLines("/accessdelegation.v1.Accounts/CreateAccount");
  ASSERT_EQ(create_lines.size(), 1u) << stderr_text;
  EXPECT_EQ(StringField(create_lines.front(), "caller"), "service");
  EXPECT_EQ(StringField(create_lines.front(), "service"), kServiceName);

  // No secret appears anywhere.
  EXPECT_THAT(stderr_text, ::testing::Not(::testing::HasSubstr(kPassword)));
  EXPECT_THAT(stderr_text, ::testing::Not(::testing::HasSubstr(session.session_token())));
  EXPECT_THAT(stderr_text, ::testing::Not(::testing::HasSubstr(kServiceToken)));
  ASSERT_FALSE(invitation_token.empty()) << "no invitation email arrived";
  EXPECT_THAT(stderr_text, ::testing::Not(::testing::HasSubstr(invitation_token)));
}

TEST_F(LogsTest, UnusableRequestIdIsReplaced) {
  auto accounts = v1::Accounts::NewStub(channel_);
  grpc::ClientContext context;
  PrepareContext(context, "");
  const std::string too_long(65, 'a');
  context.AddMetadata("x-request-id", too_long);
  v1::SignInRequest request;
  request.set_email(kEmail);
  request.set_password(kPassword);
  v1::SignInResponse response;

  const grpc::Status status = accounts->SignIn(&context, request, &response);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A failed call may come back as trailers only, so the echo is in either place.
  std::optional<std::string> echoed =
      MetadataValue(context.GetServerInitialMetadata(), "x-request-id");
  if (!echoed.has_value()) {
    echoed = MetadataValue(context.GetServerTrailingMetadata(), "x-request-id");
  }
  ASSERT_TRUE(echoed.has_value());
  EXPECT_NE(*echoed, too_long);
  EXPECT_FALSE(echoed->empty());
  const std::vector<google::protobuf::Struct> lines =
      AccessLines("/accessdelegation.v1.Accounts/SignIn");
  ASSERT_EQ(lines.size(), 1u) << server_->Stderr();
  EXPECT_EQ(StringField(lines.front(), "request_id"), echoed);
  EXPECT_EQ(StringField(lines.front(), "code"), "UNAUTHENTICATED");
}

TEST_F(LogsTest, CheckAccessLogsOnlyFailuresAtInfoLevel) {
  const grpc::Status allowed_or_denied = CallCheckAccess(*server_, RandomUuid(), RandomUuid());
  const grpc::Status invalid = CallCheckAccess(*server_, "not-a-uuid", RandomUuid());
  const absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> health =
      CheckHealth(channel_, "");

  ASSERT_TRUE(allowed_or_denied.ok()) << allowed_or_denied.error_message();
  ASSERT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(health.ok()) << health.status();
  const std::vector<google::protobuf::Struct> lines =
      AccessLines("/accessdelegation.v1.AccessDelegation/CheckAccess");
  ASSERT_EQ(lines.size(), 1u) << server_->Stderr();
  EXPECT_EQ(StringField(lines.front(), "code"), "INVALID_ARGUMENT");
  EXPECT_EQ(StringField(lines.front(), "level"), "info");
  EXPECT_EQ(StringField(lines.front(), "caller"), "service");
  EXPECT_TRUE(AccessLines("/grpc.health.v1.Health/Check").empty()) << server_->Stderr();
}

TEST_F(LogsTest, DebugLevelLogsSuccessfulChecks) {
  ScopedTempDir debug_dir;
  ServerOptions options;
  options.database_url = database_->url();
  options.flags = {"--log_level=debug"};
  absl::StatusOr<std::unique_ptr<ServerProcess>> debug_server =
      ServerProcess::Start(options, debug_dir.path());
  ASSERT_TRUE(debug_server.ok()) << debug_server.status();

  const grpc::Status status = CallCheckAccess(**debug_server, RandomUuid(), RandomUuid());

  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<google::protobuf::Struct> lines;
  for (const std::string& line : (*debug_server)->StderrLinesContaining(
           "/accessdelegation.v1.AccessDelegation/CheckAccess")) {
    absl::StatusOr<google::protobuf::Struct> object = ParseJsonObject(line);
    ASSERT_TRUE(object.ok()) << object.status();
    lines.push_back(*object);
  }
  ASSERT_EQ(lines.size(), 1u) << (*debug_server)->Stderr();
  EXPECT_EQ(StringField(lines.front(), "code"), "OK");
  EXPECT_EQ(StringField(lines.front(), "level"), "debug");
  EXPECT_EQ(StringField(lines.front(), "service"), kServiceName);
}

TEST_F(LogsTest, InvalidUtf8NamesTheField) {
  const absl::Status status =
      CallRaw(channel_, "/accessdelegation.v1.Accounts/SignIn", kInvalidUtf8SignIn);

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("email is not valid UTF-8"));
  const std::vector<google::protobuf::Struct> lines =
      AccessLines("/accessdelegation.v1.Accounts/SignIn");
  ASSERT_EQ(lines.size(), 1u) << server_->Stderr();
  EXPECT_EQ(StringField(lines.front(), "code"), "INVALID_ARGUMENT");
  // The protobuf library's own report of the bad field is a JSON line too.
  const std::vector<std::string> reports = server_->StderrLinesContaining("invalid UTF-8");
  EXPECT_FALSE(reports.empty()) << server_->Stderr();
  for (const std::string& line : reports) {
    EXPECT_TRUE(ParseJsonObject(line).ok()) << line;
  }
}

}  // namespace
}  // namespace accessdelegation::ops
