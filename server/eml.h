#ifndef ACCESSDELEGATION_SERVER_EML_H_
#define ACCESSDELEGATION_SERVER_EML_H_

#include <string>

#include "absl/time/time.h"

namespace accessdelegation::server {

// EmlMessage is one email ready to be written as an RFC 5322 message.
struct EmlMessage {
  std::string message_id;  // Without angle brackets; must be unique.
  std::string from;
  std::string to;
  std::string subject;  // UTF-8; encoded per RFC 2047 when not plain ASCII.
  std::string body_text;
  std::string body_html;
  absl::Time date;
};

// Returns the message as RFC 5322 text with CRLF line endings: a multipart/alternative
// body with a text/plain and a text/html part, each UTF-8 and quoted-printable.
std::string FormatEml(const EmlMessage& message);

// Returns `text` encoded as quoted-printable (RFC 2045), lines at most 76 characters,
// with CRLF line endings.
std::string EncodeQuotedPrintable(const std::string& text);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_EML_H_
