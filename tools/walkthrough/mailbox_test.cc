#include "tools/walkthrough/mailbox.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace accessdelegation::walkthrough {
namespace {

namespace fs = std::filesystem;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kInvitationEmail[] = R"(Message-ID: <0f1e2d3c@accessdelegation.example.org>
From: AccessDelegation <no-reply@example.org>
To: Ian Invitee <invitee+1a2b@example.org>
Subject: Olivia Owner invited you
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="=_part_7f3a"

This is a multi-part message in MIME format.
--=_part_7f3a
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Olivia Owner invited you to see their patient portal account.
Open http://localhost:8080/invitations/accept?token=3DAbc_def-GHI123jkl=
MNO456_pqr to accept.
--=_part_7f3a
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<p><a href=3D"http://localhost:8080/invitations/accept?token=3DAbc_def-GHI12=
3jklMNO456_pqr">Accept the invitation</a></p>
--=_part_7f3a--
)";

constexpr char kToken[] = "Abc_def-GHI123jklMNO456_pqr";

// Builds a single-part 7bit email to `to` with `body` as its text.
std::string PlainEmail(const std::string& to, const std::string& subject, const std::string& body) {
  return absl::StrCat("To: ", to, "\r\nSubject: ", subject,
                      "\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                      "Content-Transfer-Encoding: 7bit\r\n\r\n",
                      body, "\r\n");
}

std::string WithCrlf(const std::string& text) {
  return absl::StrReplaceAll(text, {{"\n", "\r\n"}});
}

TEST(DecodeQuotedPrintableTest, JoinsSoftLineBreaks) {
  EXPECT_EQ(DecodeQuotedPrintable("abc=\r\ndef"), "abcdef");
  EXPECT_EQ(DecodeQuotedPrintable("abc=\ndef"), "abcdef");
  EXPECT_EQ(DecodeQuotedPrintable("abc= \t\r\ndef"), "abcdef");
}

TEST(DecodeQuotedPrintableTest, DecodesHexEscapes) {
  EXPECT_EQ(DecodeQuotedPrintable("token=3Dabc"), "token=abc");
  EXPECT_EQ(DecodeQuotedPrintable("token=3dabc"), "token=abc");
  EXPECT_EQ(DecodeQuotedPrintable("caf=C3=A9"), "caf\xC3\xA9");
  EXPECT_EQ(DecodeQuotedPrintable("a=20\r\nb"), "a \nb");
}

TEST(DecodeQuotedPrintableTest, KeepsMalformedEscapes) {
  EXPECT_EQ(DecodeQuotedPrintable("100=%"), "100=%");
  EXPECT_EQ(DecodeQuotedPrintable("x=4"), "x=4");
  EXPECT_EQ(DecodeQuotedPrintable("=GG"), "=GG");
}

TEST(DecodeQuotedPrintableTest, TurnsHardLineBreaksIntoNewlines) {
  EXPECT_EQ(DecodeQuotedPrintable("a\r\nb\r\n"), "a\nb\n");
  EXPECT_EQ(DecodeQuotedPrintable("a  \r\nb"), "a\nb");
}

TEST(ParseEmailTest, ReadsMultipartAlternative) {
  const Email email = ParseEmail(WithCrlf(kInvitationEmail));

  EXPECT_THAT(email.to, ElementsAre("invitee+1a2b@example.org"));
  EXPECT_EQ(email.subject, "Olivia Owner invited you");
  EXPECT_EQ(email.text,
            "Olivia Owner invited you to see their patient portal account.\n"
            "Open http://localhost:8080/invitations/accept?token=Abc_def-GHI123jklMNO456_pqr"
            " to accept.");
  EXPECT_EQ(email.html,
            "<p><a href=\"http://localhost:8080/invitations/accept?token="
            "Abc_def-GHI123jklMNO456_pqr\">Accept the invitation</a></p>");
  EXPECT_THAT(email.path, IsEmpty());
}

TEST(ParseEmailTest, AcceptsBareLineFeeds) {
  const Email email = ParseEmail(kInvitationEmail);

  EXPECT_THAT(email.to, ElementsAre("invitee+1a2b@example.org"));
  EXPECT_EQ(FindInvitationToken(email.text), kToken);
  EXPECT_EQ(FindInvitationToken(email.html), kToken);
}

TEST(ParseEmailTest, ReadsSinglePartWithoutContentType) {
  const Email email =
      ParseEmail("To: ana@example.org\r\nSubject: Hello\r\n\r\nLine 1\r\nLine 2\r\n");

  EXPECT_THAT(email.to, ElementsAre("ana@example.org"));
  EXPECT_EQ(email.subject, "Hello");
  EXPECT_EQ(email.text, "Line 1\nLine 2\n");
  EXPECT_THAT(email.html, IsEmpty());
}

TEST(ParseEmailTest, DecodesBase64Part) {
  const Email email = ParseEmail(
      "To: ana@example.org\r\n"
      "Content-Type: text/plain; charset=UTF-8\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n"
      "SGVsbG8sIEFuYS4NCk9w\r\n"
      "ZW4gdGhlIGxpbmsu\r\n");

  EXPECT_EQ(email.text, "Hello, Ana.\nOpen the link.");
}

TEST(ParseEmailTest, ReadsNestedMultipartAndSkipsAttachments) {
  const Email email = ParseEmail(WithCrlf(R"(To: ana@example.org
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

plain body
--inner
Content-Type: text/html

<p>html body</p>
--inner--
--outer
Content-Type: text/plain
Content-Disposition: attachment; filename="notes.txt"

attached text
--outer--
)"));

  EXPECT_EQ(email.text, "plain body");
  EXPECT_EQ(email.html, "<p>html body</p>");
}

TEST(ParseEmailTest, SkipsTextAttachmentBeforeBody) {
  const Email email = ParseEmail(WithCrlf(R"(To: ana@example.org
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain
Content-Disposition: attachment; filename="notes.txt"

attached text
--b
Content-Type: text/plain

body text
--b--
)"));

  EXPECT_EQ(email.text, "body text");
}

TEST(ParseEmailTest, UnfoldsHeadersAndDecodesEncodedWords) {
  const Email email = ParseEmail(
      "To: \"Invitee, Ian\" <Ian@Example.org>,\r\n"
      "  ana@example.org\r\n"
      "Subject: =?UTF-8?Q?Olivia_Owner_invited?=\r\n"
      " =?UTF-8?B?IHlvdSDinJM=?= today\r\n"
      "\r\n"
      "body\r\n");

  EXPECT_THAT(email.to, ElementsAre("Ian@Example.org", "ana@example.org"));
  EXPECT_EQ(email.subject, "Olivia Owner invited you \xE2\x9C\x93 today");
}

TEST(ParseEmailTest, ToleratesMissingClosingBoundary) {
  const Email email = ParseEmail(
      "To: ana@example.org\r\n"
      "Content-Type: multipart/alternative; boundary=b\r\n"
      "\r\n"
      "--b\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "cut short");

  EXPECT_EQ(email.text, "cut short");
}

TEST(ParseEmailTest, ReturnsEmptyFieldsForEmptyInput) {
  const Email email = ParseEmail("");

  EXPECT_THAT(email.to, IsEmpty());
  EXPECT_THAT(email.subject, IsEmpty());
  EXPECT_THAT(email.text, IsEmpty());
  EXPECT_THAT(email.html, IsEmpty());
}

TEST(EmailTest, IsAddressedToIgnoresLetterCase) {
  Email email;
  email.to = {"Ian@Example.org"};

  EXPECT_TRUE(email.IsAddressedTo("ian@example.org"));
  EXPECT_TRUE(email.IsAddressedTo("IAN@EXAMPLE.ORG"));
  EXPECT_FALSE(email.IsAddressedTo("ana@example.org"));
  EXPECT_FALSE(email.IsAddressedTo("ian@example.org.evil"));
}

TEST(FindInvitationTokenTest, ReturnsTokenOfLink) {
  EXPECT_EQ(FindInvitationToken("https://portal.example.org/invitations/accept?token=a-B_9"),
            "a-B_9");
}

TEST(FindInvitationTokenTest, StopsAtNonTokenCharacter) {
  EXPECT_EQ(FindInvitationToken("Open /invitations/accept?token=abc. Thanks"), "abc");
  EXPECT_EQ(FindInvitationToken("href=\"/invitations/accept?token=abc\""), "abc");
  EXPECT_EQ(FindInvitationToken("/invitations/accept?token=abc&utm=1"), "abc");
}

TEST(FindInvitationTokenTest, ReturnsNulloptWithoutLink) {
  EXPECT_EQ(FindInvitationToken(""), std::nullopt);
  EXPECT_EQ(FindInvitationToken("token=abc"), std::nullopt);
  EXPECT_EQ(FindInvitationToken("/invitations/decline?token=abc"), std::nullopt);
}

TEST(FindInvitationTokenTest, SkipsLinkWithEmptyToken) {
  EXPECT_EQ(FindInvitationToken("/invitations/accept?token= then /invitations/accept?token=xyz"),
            "xyz");
  EXPECT_EQ(FindInvitationToken("/invitations/accept?token="), std::nullopt);
}

// MailDirTest runs each test against a fresh mail directory that does not exist yet.
class MailDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    mail_dir_ = fs::path(::testing::TempDir()) /
                absl::StrCat("mailbox_test_", test->name(), "_", ::getpid());
    fs::remove_all(mail_dir_);
  }

  void TearDown() override { fs::remove_all(mail_dir_); }

  void WriteFile(const std::string& name, const std::string& contents) {
    fs::create_directories(mail_dir_);
    std::ofstream(mail_dir_ / name, std::ios::binary) << contents;
  }

  std::string dir() const { return mail_dir_.string(); }

  fs::path mail_dir_;
};

TEST_F(MailDirTest, ReadEmailsReadsOnlyEmlFiles) {
  WriteFile("a1.eml", PlainEmail("ana@example.org", "first", "hello"));
  WriteFile("notes.txt", PlainEmail("ana@example.org", "not an email file", "x"));
  WriteFile("b2.eml.tmp", PlainEmail("ana@example.org", "being written", "x"));
  fs::create_directories(mail_dir_ / "folder.eml");

  absl::StatusOr<std::vector<Email>> emails = ReadEmails(dir());

  ASSERT_TRUE(emails.ok()) << emails.status();
  ASSERT_EQ(emails->size(), 1u);
  EXPECT_EQ((*emails)[0].subject, "first");
  EXPECT_EQ((*emails)[0].path, (mail_dir_ / "a1.eml").string());
}

TEST_F(MailDirTest, ReadEmailsOrdersByModificationTime) {
  WriteFile("a.eml", PlainEmail("ana@example.org", "newer", "x"));
  WriteFile("b.eml", PlainEmail("ana@example.org", "older", "x"));
  const fs::file_time_type now = fs::file_time_type::clock::now();
  fs::last_write_time(mail_dir_ / "a.eml", now);
  fs::last_write_time(mail_dir_ / "b.eml", now - std::chrono::seconds(5));

  absl::StatusOr<std::vector<Email>> emails = ReadEmails(dir());

  ASSERT_TRUE(emails.ok()) << emails.status();
  ASSERT_EQ(emails->size(), 2u);
  EXPECT_EQ((*emails)[0].subject, "older");
  EXPECT_EQ((*emails)[1].subject, "newer");
}

TEST_F(MailDirTest, ReadEmailsOfMissingDirectoryReturnsNotFound) {
  absl::StatusOr<std::vector<Email>> emails = ReadEmails(dir());

  EXPECT_EQ(emails.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(emails.status().message(), HasSubstr(dir()));
}

TEST_F(MailDirTest, ReadEmailsOfFileReturnsNotFound) {
  WriteFile("plain.eml", "To: ana@example.org\r\n\r\nx");

  absl::StatusOr<std::vector<Email>> emails = ReadEmails((mail_dir_ / "plain.eml").string());

  EXPECT_EQ(emails.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(MailDirTest, WaitForInvitationTokenFindsExistingEmail) {
  WriteFile("0f1e2d3c.eml", WithCrlf(kInvitationEmail));

  absl::StatusOr<std::string> token =
      WaitForInvitationToken(dir(), "Invitee+1A2B@example.org", absl::Seconds(5));

  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, kToken);
}

TEST_F(MailDirTest, WaitForInvitationTokenTimesOutWithoutMatch) {
  WriteFile("other.eml",
            PlainEmail("someone@example.org", "Invited", "/invitations/accept?token=not-yours"));
  WriteFile("nolink.eml", PlainEmail("ian@example.org", "Welcome", "No link here."));

  absl::StatusOr<std::string> token =
      WaitForInvitationToken(dir(), "ian@example.org", absl::Milliseconds(300));

  EXPECT_EQ(token.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(token.status().message(), HasSubstr("ian@example.org"));
  EXPECT_THAT(token.status().message(), HasSubstr(dir()));
}

TEST_F(MailDirTest, WaitForInvitationTokenSeesEmailDeliveredLater) {
  std::thread deliverer([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    WriteFile("late.eml", PlainEmail("ian@example.org", "Invited",
                                     "Open http://p/invitations/accept?token=late_token"));
  });

  absl::StatusOr<std::string> token =
      WaitForInvitationToken(dir(), "ian@example.org", absl::Seconds(5));
  deliverer.join();

  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "late_token");
}

TEST_F(MailDirTest, WaitForInvitationTokenReturnsNewestMatch) {
  WriteFile("old.eml", PlainEmail("ian@example.org", "Invited", "/invitations/accept?token=old"));
  WriteFile("new.eml", PlainEmail("ian@example.org", "Invited", "/invitations/accept?token=new"));
  const fs::file_time_type now = fs::file_time_type::clock::now();
  fs::last_write_time(mail_dir_ / "old.eml", now - std::chrono::seconds(5));
  fs::last_write_time(mail_dir_ / "new.eml", now);

  absl::StatusOr<std::string> token =
      WaitForInvitationToken(dir(), "ian@example.org", absl::ZeroDuration());

  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "new");
}

TEST_F(MailDirTest, WaitForEmailAppliesPredicate) {
  WriteFile("a.eml", PlainEmail("olivia@example.org", "Welcome", "x"));
  WriteFile("b.eml", PlainEmail("olivia@example.org", "Please confirm", "x"));

  absl::StatusOr<Email> email =
      WaitForEmail(dir(), "olivia@example.org", absl::Seconds(1),
                   [](const Email& candidate) { return candidate.subject == "Please confirm"; });

  ASSERT_TRUE(email.ok()) << email.status();
  EXPECT_EQ(email->subject, "Please confirm");
  EXPECT_EQ(email->path, (mail_dir_ / "b.eml").string());
}

TEST_F(MailDirTest, WaitForEmailTimeoutNamesReadError) {
  absl::StatusOr<Email> email = WaitForEmail(dir(), "olivia@example.org", absl::Milliseconds(200));

  EXPECT_EQ(email.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(email.status().message(), HasSubstr("does not exist"));
}

}  // namespace
}  // namespace accessdelegation::walkthrough
