#include "server/eml.h"

#include <gtest/gtest.h>

#include "absl/strings/str_split.h"

namespace accessdelegation::server {
namespace {

TEST(QuotedPrintableTest, KeepsPlainTextAndEncodesEquals) {
  EXPECT_EQ(EncodeQuotedPrintable("a=b"), "a=3Db");
  EXPECT_EQ(EncodeQuotedPrintable("line one\nline two"), "line one\r\nline two");
}

TEST(QuotedPrintableTest, EncodesUtf8AndTrailingSpace) {
  EXPECT_EQ(EncodeQuotedPrintable("Zoë"), "Zo=C3=AB");
  EXPECT_EQ(EncodeQuotedPrintable("end \nnext"), "end=20\r\nnext");
}

TEST(QuotedPrintableTest, WrapsLongLinesWithSoftBreaks) {
  const std::string long_line(200, 'x');

  const std::string encoded = EncodeQuotedPrintable(long_line);

  for (absl::string_view line : absl::StrSplit(encoded, "\r\n")) {
    EXPECT_LE(line.size(), 76u);
  }
  std::string decoded;
  for (absl::string_view line : absl::StrSplit(encoded, "=\r\n")) decoded.append(line.data(), line.size());
  EXPECT_EQ(decoded, long_line);
}

TEST(FormatEmlTest, HasHeadersAndBothParts) {
  EmlMessage message;
  message.message_id = "id-1@accessdelegation";
  message.from = "Portal <no-reply@portal.invalid>";
  message.to = "person@example.org";
  message.subject = "Hello";
  message.body_text = "plain";
  message.body_html = "<p>html</p>";
  message.date = absl::FromUnixSeconds(0);

  const std::string eml = FormatEml(message);

  EXPECT_NE(eml.find("Message-ID: <id-1@accessdelegation>\r\n"), std::string::npos);
  EXPECT_NE(eml.find("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"), std::string::npos);
  EXPECT_NE(eml.find("To: person@example.org\r\n"), std::string::npos);
  EXPECT_NE(eml.find("Subject: Hello\r\n"), std::string::npos);
  EXPECT_NE(eml.find("Content-Type: text/plain; charset=UTF-8"), std::string::npos);
  EXPECT_NE(eml.find("Content-Type: text/html; charset=UTF-8"), std::string::npos);
}

TEST(FormatEmlTest, EncodesNonAsciiSubject) {
  EmlMessage message;
  message.message_id = "id-2";
  message.subject = "Zoë invited you";

  const std::string eml = FormatEml(message);

  EXPECT_NE(eml.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_EQ(eml.find("Zoë"), std::string::npos);
}

}  // namespace
}  // namespace accessdelegation::server
