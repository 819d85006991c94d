// End-to-end tests of email over SMTP: an in-process server on 127.0.0.1 against a fresh
// database delivers its outbox to an SmtpSink, and the Operations service lists and
// retries the emails that failed.

#include <gtest/gtest.h>
#include <sodium.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "accessdelegation/v1/operations.pb.h"
#include "sdk/client.h"
#include "server/server.h"
#include "tests/mail/smtp_sink.h"
#include "tests/support/test_database.h"
#include "tools/walkthrough/mailbox.h"

namespace accessdelegation::mail_testing {
namespace {

constexpr char kServiceToken[] = "mail-test-service-token-3d9f1b7c5a2e4068b1c3d5e7f9a1b3c5";
constexpr char kPortalBaseUrl[] = "https://portal.example.test";
constexpr char kSmtpUser[] = "portal-mailer";
constexpr char kSmtpPassword[] = "sink-password-Zq8#kP2v";
constexpr int kMaxAttempts = 3;
constexpr absl::Duration kRetryBase = absl::Milliseconds(100);
constexpr absl::Duration kWait = absl::Seconds(15);

constexpr char kOwnerEmail[] = "olivia.owner@example.org";
constexpr char kOwnerPassword[] = "owner-password-1234";
constexpr char kInviteeEmail[] = "dana.delegate@example.org";

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

void WriteFile(const std::filesystem::path& path, const std::string& content) {
  std::ofstream file(path, std::ios::binary);
  file << content;
}

class MailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << "creating the test database failed: " << database.status()
                               << " (is ACCESSDELEGATION_TEST_DATABASE_URL set?)";
    database_ = *std::move(database);

    std::string pattern = (std::filesystem::temp_directory_path() / "mail-e2e-XXXXXX").string();
    temp_dir_ = ::mkdtemp(pattern.data());
    WriteFile(temp_dir_ / "service_tokens", absl::StrCat("mail ", Sha256Hex(kServiceToken), "\n"));
    WriteFile(temp_dir_ / "smtp_auth", absl::StrCat(kSmtpUser, "\n", kSmtpPassword, "\n"));

    sink_.RequireAuth(kSmtpUser, kSmtpPassword);
    ASSERT_TRUE(sink_.Start().ok());

    log_sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    spdlog::default_logger()->sinks().push_back(log_sink_);
    spdlog::set_level(spdlog::level::debug);

    server::Config config;
    config.listen_address = "127.0.0.1:0";
    config.database_url = database_->url();
    config.portal_base_url = kPortalBaseUrl;
    config.service_token_file = (temp_dir_ / "service_tokens").string();
    config.secret_key_file = (temp_dir_ / "secret.key").string();
    config.outbox_poll_interval = absl::Milliseconds(20);
    config.mail_transport = "smtp";
    config.smtp_url = sink_.url();
    config.smtp_starttls = "none";
    config.smtp_auth_file = (temp_dir_ / "smtp_auth").string();
    config.mail_from = "Patient Portal <no-reply@portal.example.test>";
    config.mail_max_attempts = kMaxAttempts;
    config.mail_retry_base = kRetryBase;
    AdjustConfig(config);
    absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(config);
    ASSERT_TRUE(server.ok()) << "starting the server failed: " << server.status();
    server_ = *std::move(server);

    service_ = Connect(kServiceToken);
  }

  // Changes the server's settings before SetUp starts it.
  virtual void AdjustConfig(server::Config& /*config*/) {}

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(absl::Seconds(1));
      server_->Wait();
      server_.reset();
    }
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), log_sink_), sinks.end());
    spdlog::set_level(spdlog::level::info);
    database_.reset();
    if (!temp_dir_.empty()) std::filesystem::remove_all(temp_dir_);
  }

  std::unique_ptr<sdk::Client> Connect(const std::string& bearer_token) const {
    sdk::ClientOptions options;
    options.default_deadline = absl::Seconds(20);
    options.bearer_token = bearer_token;
    return sdk::Client::Connect(absl::StrCat("127.0.0.1:", server_->port()), options);
  }

  // Creates the owner's account, signs in and returns a client with the session token.
  std::unique_ptr<sdk::Client> SignInOwner() {
    v1::CreateAccountRequest create;
    create.set_email(kOwnerEmail);
    create.set_password(kOwnerPassword);
    create.set_first_name("Olivia");
    create.set_last_name("Owner");
    create.set_phone_number("+14155550101");
    absl::StatusOr<v1::CreateAccountResponse> account = service_->CreateAccount(create);
    EXPECT_TRUE(account.ok()) << account.status();

    std::unique_ptr<sdk::Client> owner = Connect("");
    v1::SignInRequest sign_in;
    sign_in.set_email(kOwnerEmail);
    sign_in.set_password(kOwnerPassword);
    absl::StatusOr<v1::SignInResponse> session = owner->SignIn(sign_in);
    EXPECT_TRUE(session.ok()) << session.status();
    if (session.ok()) owner->set_bearer_token(session->session_token());
    return owner;
  }

  // Invites `email` as the owner signed in on `owner`, which queues one email.
  void Invite(sdk::Client& owner, const std::string& email) {
    v1::CreateInvitationRequest request;
    request.set_first_name("Dana");
    request.set_last_name("Delegate");
    request.set_email(email);
    request.set_access_level(v1::ACCESS_LEVEL_FULL);
    absl::StatusOr<v1::CreateInvitationResponse> response = owner.CreateInvitation(request);
    ASSERT_TRUE(response.ok()) << response.status();
  }

  // Polls ListFailedEmails until it returns `count` dead emails.
  absl::StatusOr<std::vector<v1::FailedEmail>> WaitForDeadEmails(size_t count) {
    const absl::Time deadline = absl::Now() + kWait;
    while (true) {
      absl::StatusOr<v1::ListFailedEmailsResponse> listed = service_->ListFailedEmails();
      if (!listed.ok()) return listed.status();
      std::vector<v1::FailedEmail> dead;
      for (const v1::FailedEmail& email : listed->emails()) {
        if (email.state() == v1::FAILED_EMAIL_STATE_DEAD) dead.push_back(email);
      }
      if (dead.size() >= count) return dead;
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("only ", dead.size(), " of ", count, " emails are dead"));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  std::string Logs() const { return log_.str(); }

  std::unique_ptr<testing::TestDatabase> database_;
  std::filesystem::path temp_dir_;
  SmtpSink sink_;
  std::ostringstream log_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> log_sink_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<sdk::Client> service_;
};

TEST_F(MailTest, InvitationIsDeliveredOverSmtp) {
  std::unique_ptr<sdk::Client> owner = SignInOwner();

  Invite(*owner, kInviteeEmail);

  ASSERT_TRUE(sink_.WaitForMessages(1, kWait));
  const ReceivedMessage message = sink_.messages()[0];
  EXPECT_EQ(message.mail_from, "no-reply@portal.example.test");
  EXPECT_EQ(message.recipients, std::vector<std::string>{kInviteeEmail});
  EXPECT_TRUE(absl::StrContains(message.data, "Content-Type: multipart/alternative"));
  EXPECT_TRUE(absl::StrContains(message.data, "Content-Type: text/plain"));
  EXPECT_TRUE(absl::StrContains(message.data, "Content-Type: text/html"));
  const walkthrough::Email email = walkthrough::ParseEmail(message.data);
  EXPECT_TRUE(email.IsAddressedTo(kInviteeEmail));
  const std::optional<std::string> text_token = walkthrough::FindInvitationToken(email.text);
  const std::optional<std::string> html_token = walkthrough::FindInvitationToken(email.html);
  ASSERT_TRUE(text_token.has_value()) << email.text;
  ASSERT_TRUE(html_token.has_value()) << email.html;
  EXPECT_EQ(*text_token, *html_token);
  EXPECT_TRUE(absl::StrContains(email.text,
                                absl::StrCat(kPortalBaseUrl, "/invitations/accept?token=")));
  v1::LookupInvitationRequest lookup;
  lookup.set_invitation_token(*text_token);
  absl::StatusOr<v1::LookupInvitationResponse> found = Connect("")->LookupInvitation(lookup);
  EXPECT_TRUE(found.ok()) << "the emailed token must be live: " << found.status();
}

TEST_F(MailTest, TransientFailuresBackOffThenGoDead) {
  sink_.set_data_reply(SmtpSink::DataReply::kTransientFailure);
  std::unique_ptr<sdk::Client> owner = SignInOwner();

  Invite(*owner, kInviteeEmail);

  absl::StatusOr<std::vector<v1::FailedEmail>> dead = WaitForDeadEmails(1);
  ASSERT_TRUE(dead.ok()) << dead.status();
  ASSERT_EQ(dead->size(), 1u);
  const v1::FailedEmail& email = (*dead)[0];
  EXPECT_EQ(email.attempts(), kMaxAttempts);
  EXPECT_EQ(email.recipient(), "d***@example.org");
  EXPECT_TRUE(absl::StrContains(email.last_error(), "451")) << email.last_error();
  EXPECT_TRUE(email.has_dead_time());
  EXPECT_TRUE(email.has_last_attempt_time());
  EXPECT_FALSE(email.has_next_attempt_time());
  EXPECT_FALSE(email.message_id().empty());
  // One DATA per attempt, spaced by the base delay and then twice that.
  const std::vector<absl::Time> attempts = sink_.data_commands();
  ASSERT_EQ(attempts.size(), static_cast<size_t>(kMaxAttempts));
  EXPECT_GE(attempts[1] - attempts[0], kRetryBase);
  EXPECT_GE(attempts[2] - attempts[1], 2 * kRetryBase);
  EXPECT_TRUE(sink_.messages().empty());
}

TEST_F(MailTest, DeadEmailIsNotRetriedByItself) {
  sink_.set_data_reply(SmtpSink::DataReply::kTransientFailure);
  std::unique_ptr<sdk::Client> owner = SignInOwner();
  Invite(*owner, kInviteeEmail);
  ASSERT_TRUE(WaitForDeadEmails(1).ok());
  sink_.set_data_reply(SmtpSink::DataReply::kAccept);

  absl::SleepFor(10 * kRetryBase);

  EXPECT_EQ(sink_.data_commands().size(), static_cast<size_t>(kMaxAttempts));
  EXPECT_TRUE(sink_.messages().empty());
}

TEST_F(MailTest, PermanentRejectionGoesDeadAtOnce) {
  sink_.set_data_reply(SmtpSink::DataReply::kPermanentFailure);
  std::unique_ptr<sdk::Client> owner = SignInOwner();

  Invite(*owner, kInviteeEmail);

  absl::StatusOr<std::vector<v1::FailedEmail>> dead = WaitForDeadEmails(1);
  ASSERT_TRUE(dead.ok()) << dead.status();
  EXPECT_EQ((*dead)[0].attempts(), 1);
  EXPECT_TRUE(absl::StrContains((*dead)[0].last_error(), "554")) << (*dead)[0].last_error();
  EXPECT_EQ(sink_.data_commands().size(), 1u);
}

TEST_F(MailTest, RetryEmailDeliversDeadEmailOnce) {
  sink_.set_data_reply(SmtpSink::DataReply::kTransientFailure);
  std::unique_ptr<sdk::Client> owner = SignInOwner();
  Invite(*owner, kInviteeEmail);
  absl::StatusOr<std::vector<v1::FailedEmail>> dead = WaitForDeadEmails(1);
  ASSERT_TRUE(dead.ok()) << dead.status();
  sink_.set_data_reply(SmtpSink::DataReply::kAccept);
  v1::RetryEmailRequest retry;
  retry.set_message_id((*dead)[0].message_id());

  absl::StatusOr<v1::RetryEmailResponse> retried = service_->RetryEmail(retry);

  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->email().attempts(), 0);
  EXPECT_EQ(retried->email().state(), v1::FAILED_EMAIL_STATE_RETRYING);
  ASSERT_TRUE(sink_.WaitForMessages(1, kWait));
  absl::SleepFor(10 * kRetryBase);
  EXPECT_EQ(sink_.messages().size(), 1u);
  EXPECT_EQ(sink_.messages()[0].recipients, std::vector<std::string>{kInviteeEmail});
  absl::StatusOr<v1::ListFailedEmailsResponse> listed = service_->ListFailedEmails();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->emails_size(), 0);
  absl::StatusOr<v1::RetryEmailResponse> again = service_->RetryEmail(retry);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
}

TEST_F(MailTest, RetryEmailOfUnknownIdIsNotFound) {
  v1::RetryEmailRequest unknown;
  unknown.set_message_id("0b6f3c1e-9d2a-4f7b-8c5e-1a2b3c4d5e6f");
  v1::RetryEmailRequest malformed;
  malformed.set_message_id("not-a-uuid");

  absl::StatusOr<v1::RetryEmailResponse> unknown_result = service_->RetryEmail(unknown);
  absl::StatusOr<v1::RetryEmailResponse> malformed_result = service_->RetryEmail(malformed);

  EXPECT_EQ(unknown_result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(malformed_result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MailTest, OperationsNeedServiceToken) {
  std::unique_ptr<sdk::Client> owner = SignInOwner();
  v1::RetryEmailRequest retry;
  retry.set_message_id("0b6f3c1e-9d2a-4f7b-8c5e-1a2b3c4d5e6f");

  absl::StatusOr<v1::ListFailedEmailsResponse> as_session = owner->ListFailedEmails();
  absl::StatusOr<v1::RetryEmailResponse> retry_as_session = owner->RetryEmail(retry);
  absl::StatusOr<v1::ListFailedEmailsResponse> anonymous = Connect("")->ListFailedEmails();

  EXPECT_EQ(as_session.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(retry_as_session.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(MailTest, ListFailedEmailsPagesWithTokens) {
  sink_.set_data_reply(SmtpSink::DataReply::kPermanentFailure);
  std::unique_ptr<sdk::Client> owner = SignInOwner();
  for (const char* email : {"a.one@example.org", "b.two@example.org", "c.three@example.org"}) {
    Invite(*owner, email);
  }
  ASSERT_TRUE(WaitForDeadEmails(3).ok());
  v1::ListFailedEmailsRequest first_request;
  first_request.set_page_size(2);

  absl::StatusOr<v1::ListFailedEmailsResponse> first = service_->ListFailedEmails(first_request);
  ASSERT_TRUE(first.ok()) << first.status();
  v1::ListFailedEmailsRequest second_request;
  second_request.set_page_size(2);
  second_request.set_page_token(first->next_page_token());
  absl::StatusOr<v1::ListFailedEmailsResponse> second = service_->ListFailedEmails(second_request);

  ASSERT_EQ(first->emails_size(), 2);
  EXPECT_EQ(first->emails(0).recipient(), "a***@example.org");
  EXPECT_EQ(first->emails(1).recipient(), "b***@example.org");
  EXPECT_FALSE(first->next_page_token().empty());
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->emails_size(), 1);
  EXPECT_EQ(second->emails(0).recipient(), "c***@example.org");
  EXPECT_TRUE(second->next_page_token().empty());
}

TEST_F(MailTest, AlteredPageTokenIsInvalidArgument) {
  sink_.set_data_reply(SmtpSink::DataReply::kPermanentFailure);
  std::unique_ptr<sdk::Client> owner = SignInOwner();
  Invite(*owner, "a.one@example.org");
  Invite(*owner, "b.two@example.org");
  ASSERT_TRUE(WaitForDeadEmails(2).ok());
  v1::ListFailedEmailsRequest request;
  request.set_page_size(1);
  absl::StatusOr<v1::ListFailedEmailsResponse> first = service_->ListFailedEmails(request);
  ASSERT_TRUE(first.ok()) << first.status();
  std::string altered = first->next_page_token();
  ASSERT_FALSE(altered.empty());
  altered[0] = altered[0] == 'A' ? 'B' : 'A';

  for (const std::string& token : {altered, std::string("garbage"), std::string("AAAA")}) {
    request.set_page_token(token);
    absl::StatusOr<v1::ListFailedEmailsResponse> listed = service_->ListFailedEmails(request);
    EXPECT_EQ(listed.status().code(), absl::StatusCode::kInvalidArgument) << token;
  }
  request.set_page_token("");
  request.set_page_size(-1);
  EXPECT_EQ(service_->ListFailedEmails(request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MailTest, AuthCredentialsReachSinkButNotLogs) {
  std::unique_ptr<sdk::Client> owner = SignInOwner();

  Invite(*owner, kInviteeEmail);

  ASSERT_TRUE(sink_.WaitForMessages(1, kWait));
  const std::vector<AuthAttempt> attempts = sink_.auth_attempts();
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].username, kSmtpUser);
  EXPECT_EQ(attempts[0].password, kSmtpPassword);
  server_->Shutdown(absl::Seconds(1));
  server_->Wait();
  const std::string logs = Logs();
  EXPECT_TRUE(absl::StrContains(logs, "outbox: delivered email")) << logs;
  EXPECT_FALSE(absl::StrContains(logs, kSmtpPassword));
  EXPECT_FALSE(absl::StrContains(logs, kSmtpUser));
}

// MailWakeTest's server polls the outbox once a minute, so only the wake-up that a write
// sends can deliver its email within seconds.
class MailWakeTest : public MailTest {
 protected:
  void AdjustConfig(server::Config& config) override {
    config.outbox_poll_interval = absl::Minutes(1);
  }
};

TEST_F(MailWakeTest, WriteWakesDelivererBeforePoll) {
  std::unique_ptr<sdk::Client> owner = SignInOwner();
  const absl::Time invited = absl::Now();

  Invite(*owner, kInviteeEmail);
  const bool delivered = sink_.WaitForMessages(1, absl::Seconds(5));

  EXPECT_TRUE(delivered) << "the invitation email waited for the poll interval";
  EXPECT_LT(absl::Now() - invited, absl::Seconds(5));
}

TEST_F(MailWakeTest, EachWriteWakesDeliverer) {
  std::unique_ptr<sdk::Client> owner = SignInOwner();

  const std::vector<std::string> invitees = {"a.one@example.org", "b.two@example.org",
                                             "c.three@example.org"};
  for (size_t i = 0; i < invitees.size(); ++i) {
    Invite(*owner, invitees[i]);
    ASSERT_TRUE(sink_.WaitForMessages(i + 1, absl::Seconds(5)))
        << "the email to " << invitees[i] << " waited for the poll interval";
  }

  EXPECT_EQ(sink_.messages().size(), 3u);
}

}  // namespace
}  // namespace accessdelegation::mail_testing
