#ifndef ACCESSDELEGATION_TOOLS_WALKTHROUGH_MAILBOX_H_
#define ACCESSDELEGATION_TOOLS_WALKTHROUGH_MAILBOX_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// Reads the emails that the server delivers into a mail directory, one RFC 5322 file named
// "<message-id>.eml" per email, and finds invitation links in them.
//
// The parser reads what the server writes: a single text part or a MIME multipart tree
// (multipart/alternative with text/plain and text/html parts), each part in 7bit, 8bit,
// quoted-printable or base64. Bodies are returned as bytes in the charset the part declares
// (UTF-8 for the server's emails), with no charset conversion.
namespace accessdelegation::walkthrough {

// Email is the part of a delivered email that the walkthrough and the tests inspect.
struct Email {
  // File the email was read from, or empty when parsed from a string.
  std::string path;
  // Addresses (addr-spec, such as "ana@example.org") of the To header, in header order.
  std::vector<std::string> to;
  // Subject header, unfolded, with RFC 2047 encoded words decoded.
  std::string subject;
  // First text/plain part, transfer-decoded, with "\n" line ends, or empty if none.
  std::string text;
  // First text/html part, transfer-decoded, with "\n" line ends, or empty if none.
  std::string html;

  // Returns true when one of the To addresses equals `address`, ignoring ASCII letter case.
  bool IsAddressedTo(absl::string_view address) const;
};

// Decodes a quoted-printable body (RFC 2045 section 6.7): removes soft line breaks ("=" at
// the end of a line, before "\n" or "\r\n"), turns "=XX" into the byte 0xXX, and drops
// trailing spaces and tabs of each encoded line. Keeps a malformed "=" sequence as it is.
std::string DecodeQuotedPrintable(absl::string_view encoded);

// Parses the full text of an email. Never fails: a missing header, body or closing MIME
// boundary leaves the matching fields empty or takes the rest of the text.
Email ParseEmail(absl::string_view raw);

// Finds the first invitation link "<portal>/invitations/accept?token=<TOKEN>" with a
// non-empty token in `text` and returns the token: the longest run of base64url characters
// [A-Za-z0-9_-] after "token=". Returns nullopt when `text` has no such link.
std::optional<std::string> FindInvitationToken(absl::string_view text);

// Reads and parses every "*.eml" regular file in `mail_dir`, oldest modification time
// first (ties by file name). Files that disappear while the directory is read are skipped.
// Returns NOT_FOUND when `mail_dir` does not exist or is not a directory, and the code that
// matches errno (such as PERMISSION_DENIED) when it or one of its files cannot be read.
absl::StatusOr<std::vector<Email>> ReadEmails(const std::string& mail_dir);

// Polls `mail_dir` until it contains an email addressed to `recipient` for which `matches`
// returns true (any email to `recipient` when `matches` is empty), and returns the newest
// such email. Reads the directory at least once, even for a zero `timeout`. Returns
// DEADLINE_EXCEEDED when `timeout` passes first, with a message that names the directory,
// the recipient, and the last read error if the directory could not be read.
absl::StatusOr<Email> WaitForEmail(const std::string& mail_dir, const std::string& recipient,
                                   absl::Duration timeout,
                                   const std::function<bool(const Email&)>& matches = nullptr);

// Polls `mail_dir` as WaitForEmail does for an email addressed to `recipient` that contains
// an invitation link, and returns the link's token. The text/plain part is searched first,
// then the text/html part. Returns DEADLINE_EXCEEDED as WaitForEmail does.
absl::StatusOr<std::string> WaitForInvitationToken(const std::string& mail_dir,
                                                   const std::string& recipient,
                                                   absl::Duration timeout);

}  // namespace accessdelegation::walkthrough

#endif  // ACCESSDELEGATION_TOOLS_WALKTHROUGH_MAILBOX_H_
