// Unit tests of the mail transports, the retry policy and the address mask, against
// temporary directories and an SmtpSink on 127.0.0.1.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/eml.h"
#include "server/mail_deliverer.h"
#include "server/mail_transport.h"
#include "server/operations_service.h"
#include "tests/mail/smtp_sink.h"

namespace accessdelegation::server {
namespace {

using mail_testing::SmtpSink;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mail-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

void WriteFile(const std::filesystem::path& path, const std::string& content) {
  std::ofstream file(path, std::ios::binary);
  file << content;
}

std::vector<std::string> FileNames(const std::filesystem::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

EmlMessage TestMessage() {
  EmlMessage message;
  message.message_id = "6f1c2a9e-3b7d-4e5f-8a1b-2c3d4e5f6a7b@accessdelegation";
  message.from = "Patient Portal <no-reply@portal.example.org>";
  message.to = "jane@example.org";
  message.subject = "Test";
  message.body_text = "Hello.\n.a line that starts with a dot\n";
  message.body_html = "<p>Hello.</p>";
  message.date = absl::FromUnixSeconds(1700000000);
  return message;
}

TEST(DirectoryTransportTest, WritesFileNamedByMessageId) {
  TempDir directory;
  DirectoryTransport transport(directory.path().string());
  const EmlMessage message = TestMessage();

  const absl::Status status = transport.Send(message, FormatEml(message));

  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(FileNames(directory.path()),
            std::vector<std::string>{"6f1c2a9e-3b7d-4e5f-8a1b-2c3d4e5f6a7b.eml"});
  EXPECT_EQ(ReadFile(directory.path() / "6f1c2a9e-3b7d-4e5f-8a1b-2c3d4e5f6a7b.eml"),
            FormatEml(message));
}

TEST(DirectoryTransportTest, SendingTwiceLeavesOneIdenticalFile) {
  TempDir directory;
  DirectoryTransport transport(directory.path().string());
  const EmlMessage message = TestMessage();
  const std::string text = FormatEml(message);
  ASSERT_TRUE(transport.Send(message, text).ok());

  const absl::Status status = transport.Send(message, text);

  ASSERT_TRUE(status.ok()) << status;
  const std::vector<std::string> names = FileNames(directory.path());
  ASSERT_EQ(names.size(), 1u) << "no temporary file may remain";
  EXPECT_EQ(ReadFile(directory.path() / names[0]), text);
}

TEST(DirectoryTransportTest, CreatesMissingDirectory) {
  TempDir parent;
  const std::filesystem::path directory = parent.path() / "nested" / "mail";
  DirectoryTransport transport(directory.string());
  const EmlMessage message = TestMessage();

  const absl::Status status = transport.Send(message, FormatEml(message));

  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(FileNames(directory).size(), 1u);
}

TEST(DirectoryTransportTest, UnwritableDirectoryIsUnavailable) {
  TempDir parent;
  const std::filesystem::path file = parent.path() / "not-a-directory";
  WriteFile(file, "x");
  DirectoryTransport transport(file.string());
  const EmlMessage message = TestMessage();

  const absl::Status status = transport.Send(message, FormatEml(message));

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(RetryPolicyTest, DelayDoublesUpToMaximum) {
  RetryPolicy policy;

  EXPECT_EQ(policy.DelayAfter(1), absl::Seconds(30));
  EXPECT_EQ(policy.DelayAfter(2), absl::Seconds(60));
  EXPECT_EQ(policy.DelayAfter(3), absl::Seconds(120));
  EXPECT_EQ(policy.DelayAfter(7), absl::Minutes(32));
  EXPECT_EQ(policy.DelayAfter(8), absl::Hours(1));
  EXPECT_EQ(policy.DelayAfter(1000), absl::Hours(1));
}

TEST(MaskEmailAddressTest, KeepsFirstCharacterAndDomain) {
  EXPECT_EQ(MaskEmailAddress("jane@example.org"), "j***@example.org");
  EXPECT_EQ(MaskEmailAddress("j@example.org"), "j***@example.org");
  EXPECT_EQ(MaskEmailAddress("@example.org"), "***@example.org");
  EXPECT_EQ(MaskEmailAddress("no-at-sign"), "***");
}

TEST(ReadSmtpAuthFileTest, ReadsTwoLines) {
  TempDir directory;
  WriteFile(directory.path() / "auth", "mailer\r\npass:with:colons\r\n");

  absl::StatusOr<SmtpCredentials> credentials =
      ReadSmtpAuthFile((directory.path() / "auth").string());

  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->username, "mailer");
  EXPECT_EQ(credentials->password, "pass:with:colons");
}

TEST(ReadSmtpAuthFileTest, ReadsUserColonPassword) {
  TempDir directory;
  WriteFile(directory.path() / "auth", "mailer:secret:part\n");

  absl::StatusOr<SmtpCredentials> credentials =
      ReadSmtpAuthFile((directory.path() / "auth").string());

  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->username, "mailer");
  EXPECT_EQ(credentials->password, "secret:part");
}

TEST(ReadSmtpAuthFileTest, MalformedFileIsInvalidWithoutItsContent) {
  TempDir directory;
  WriteFile(directory.path() / "auth", "only-a-secret-word\n");

  absl::StatusOr<SmtpCredentials> credentials =
      ReadSmtpAuthFile((directory.path() / "auth").string());

  ASSERT_EQ(credentials.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(credentials.status().message(), "smtp_auth_file"));
  EXPECT_FALSE(absl::StrContains(credentials.status().message(), "only-a-secret-word"));
}

TEST(ReadSmtpAuthFileTest, MissingFileIsInvalid) {
  absl::StatusOr<SmtpCredentials> credentials = ReadSmtpAuthFile("/nonexistent/smtp-auth");

  EXPECT_EQ(credentials.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateMailConfigTest, RejectsBadSettingsByName) {
  Config unknown_transport;
  unknown_transport.mail_transport = "carrier-pigeon";
  Config missing_url;
  missing_url.mail_transport = "smtp";
  Config url_with_credentials;
  url_with_credentials.mail_transport = "smtp";
  url_with_credentials.smtp_url = "smtp://user:secret@127.0.0.1:25";
  Config bad_starttls;
  bad_starttls.smtp_starttls = "maybe";
  Config bad_from;
  bad_from.mail_from = "Portal";
  Config bad_attempts;
  bad_attempts.mail_max_attempts = 0;
  Config bad_base;
  bad_base.mail_retry_base = absl::ZeroDuration();
  const std::vector<std::pair<Config, std::string>> cases = {
      {unknown_transport, "mail_transport"}, {missing_url, "smtp_url"},
      {url_with_credentials, "smtp_url"},    {bad_starttls, "smtp_starttls"},
      {bad_from, "mail_from"},               {bad_attempts, "mail_max_attempts"},
      {bad_base, "mail_retry_base"},
  };

  for (const auto& [config, setting] : cases) {
    const absl::Status status = ValidateMailConfig(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << setting;
    EXPECT_TRUE(absl::StartsWith(status.message(), setting)) << status;
  }
  EXPECT_TRUE(ValidateMailConfig(Config()).ok());
}

class SmtpTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sink_.Start().ok()); }

  SmtpOptions Options() const {
    SmtpOptions options;
    options.url = sink_.url();
    options.require_tls = false;
    options.timeout = absl::Seconds(10);
    return options;
  }

  SmtpSink sink_;
};

TEST_F(SmtpTransportTest, SendsEnvelopeAndText) {
  SmtpTransport transport(Options());
  const EmlMessage message = TestMessage();
  const std::string text = FormatEml(message);

  const absl::Status status = transport.Send(message, text);

  ASSERT_TRUE(status.ok()) << status;
  const std::vector<mail_testing::ReceivedMessage> received = sink_.messages();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].mail_from, "no-reply@portal.example.org");
  EXPECT_EQ(received[0].recipients, std::vector<std::string>{"jane@example.org"});
  EXPECT_EQ(received[0].data, text);
}

TEST_F(SmtpTransportTest, TransientRejectionIsUnavailable) {
  sink_.set_data_reply(SmtpSink::DataReply::kTransientFailure);
  SmtpTransport transport(Options());
  const EmlMessage message = TestMessage();

  const absl::Status status = transport.Send(message, FormatEml(message));

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "451")) << status;
}

TEST_F(SmtpTransportTest, PermanentRejectionIsFailedPrecondition) {
  sink_.set_data_reply(SmtpSink::DataReply::kPermanentFailure);
  SmtpTransport transport(Options());
  const EmlMessage message = TestMessage();

  const absl::Status status = transport.Send(message, FormatEml(message));

  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "554")) << status;
}

TEST_F(SmtpTransportTest, RequiredTlsWithoutStarttlsSendsNothing) {
  SmtpOptions options = Options();
  options.require_tls = true;
  options.username = "mailer";
  options.password = "tls-only-password";
  SmtpTransport transport(options);
  const EmlMessage message = TestMessage();

  const absl::Status status = transport.Send(message, FormatEml(message));

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(sink_.mail_commands(), 0);
  EXPECT_TRUE(sink_.auth_attempts().empty());
}

TEST(SmtpTransportConnectionTest, RefusedConnectionIsUnavailable) {
  // Bind a port and close it, so that nothing listens there.
  int port = 0;
  {
    SmtpSink sink;
    ASSERT_TRUE(sink.Start().ok());
    port = std::stoi(sink.url().substr(sink.url().rfind(':') + 1));
  }
  SmtpOptions options;
  options.url = absl::StrCat("smtp://127.0.0.1:", port);
  options.require_tls = false;
  SmtpTransport transport(options);
  const EmlMessage message = TestMessage();

  const absl::Status status = transport.Send(message, FormatEml(message));

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

}  // namespace
}  // namespace accessdelegation::server
