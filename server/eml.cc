#include "server/eml.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace accessdelegation::server {
namespace {

constexpr size_t kMaxEncodedLine = 76;

bool IsPlainAscii(const std::string& text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x7F || byte < 0x20) return false;
  }
  return true;
}

std::string EncodeHeaderText(const std::string& text) {
  if (IsPlainAscii(text)) return text;
  return absl::StrCat("=?UTF-8?B?", absl::Base64Escape(text), "?=");
}

}  // namespace

std::string EncodeQuotedPrintable(const std::string& text) {
  std::string encoded;
  size_t line_length = 0;
  auto append = [&](const std::string& piece) {
    // Leave room for the "=" of a soft line break.
    if (line_length + piece.size() > kMaxEncodedLine - 1) {
      encoded += "=\r\n";
      line_length = 0;
    }
    encoded += piece;
    line_length += piece.size();
  };

  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\n') {
      encoded += "\r\n";
      line_length = 0;
      continue;
    }
    if (byte == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    const bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n' || text[i + 1] == '\r';
    const bool literal =
        (byte >= 33 && byte <= 126 && byte != '=') || ((byte == ' ' || byte == '\t') && !at_line_end);
    append(literal ? std::string(1, static_cast<char>(byte)) : absl::StrFormat("=%02X", byte));
  }
  return encoded;
}

std::string FormatEml(const EmlMessage& message) {
  const std::string boundary = absl::StrCat("=_part_", message.message_id);
  std::string eml;
  absl::StrAppend(&eml, "Message-ID: <", message.message_id, ">\r\n");
  absl::StrAppend(&eml, "Date: ",
                  absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", message.date,
                                   absl::UTCTimeZone()),
                  "\r\n");
  absl::StrAppend(&eml, "From: ", message.from, "\r\n");
  absl::StrAppend(&eml, "To: ", message.to, "\r\n");
  absl::StrAppend(&eml, "Subject: ", EncodeHeaderText(message.subject), "\r\n");
  absl::StrAppend(&eml, "MIME-Version: 1.0\r\n");
  absl::StrAppend(&eml, "Content-Type: multipart/alternative; boundary=\"", boundary, "\"\r\n");
  absl::StrAppend(&eml, "\r\n");

  for (const auto& [type, body] : {std::pair<const char*, const std::string*>{
                                       "text/plain", &message.body_text},
                                   {"text/html", &message.body_html}}) {
    absl::StrAppend(&eml, "--", boundary, "\r\n");
    absl::StrAppend(&eml, "Content-Type: ", type, "; charset=UTF-8\r\n");
    absl::StrAppend(&eml, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    absl::StrAppend(&eml, EncodeQuotedPrintable(*body), "\r\n");
  }
  absl::StrAppend(&eml, "--", boundary, "--\r\n");
  return eml;
}

}  // namespace accessdelegation::server
