#include "tools/walkthrough/mailbox.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace accessdelegation::walkthrough {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kInvitationLinkPath = "/invitations/accept?token=";
constexpr absl::Duration kPollInterval = absl::Milliseconds(100);

// Multiparts nested deeper than this are not read, which bounds the recursion on a
// malformed file.
constexpr int kMaxMimeDepth = 8;

// Header is one header field: its name in lowercase and its unfolded value.
struct Header {
  std::string name;
  std::string value;
};

// Entity is a message or a MIME part: its header fields and the body that follows them.
struct Entity {
  std::vector<Header> headers;
  absl::string_view body;
};

// ContentType is a parsed Content-Type header field.
struct ContentType {
  // Media type in lowercase, such as "text/plain".
  std::string media_type;
  // Value of the boundary parameter, or empty when there is none.
  std::string boundary;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes the "=XX" escapes of one quoted-printable line, or of an RFC 2047 Q-encoded word
// when `underscore_is_space` is set. Keeps a malformed "=" sequence as it is.
void AppendHexDecoded(absl::string_view encoded, bool underscore_is_space, std::string* out) {
  for (size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '=' && i + 2 < encoded.size()) {
      const int high = HexValue(encoded[i + 1]);
      const int low = HexValue(encoded[i + 2]);
      if (high >= 0 && low >= 0) {
        out->push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out->push_back(underscore_is_space && c == '_' ? ' ' : c);
  }
}

bool IsBase64UrlChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; }

std::string DecodeBase64(absl::string_view encoded) {
  std::string compact(encoded);
  compact.erase(
      std::remove_if(compact.begin(), compact.end(), [](char c) { return absl::ascii_isspace(c); }),
      compact.end());

  std::string decoded;
  if (!absl::Base64Unescape(compact, &decoded)) {
    return std::string(encoded);
  }
  return decoded;
}

// Decodes the RFC 2047 encoded words ("=?charset?Q?text?=" or "=?charset?B?text?=") of a
// header value. Whitespace between two adjacent encoded words is dropped, as the RFC
// requires. The charset is not converted.
std::string DecodeEncodedWords(absl::string_view value) {
  std::string out;
  size_t pos = 0;
  bool previous_was_encoded = false;
  while (pos < value.size()) {
    const size_t start = value.find("=?", pos);
    if (start == absl::string_view::npos) {
      break;
    }

    const size_t charset_end = value.find('?', start + 2);
    const bool well_formed = charset_end != absl::string_view::npos &&
                             charset_end + 2 < value.size() && value[charset_end + 2] == '?';
    const size_t text_end =
        well_formed ? value.find("?=", charset_end + 3) : absl::string_view::npos;
    if (text_end == absl::string_view::npos) {
      absl::StrAppend(&out, value.substr(pos, start + 2 - pos));
      pos = start + 2;
      previous_was_encoded = false;
      continue;
    }

    const absl::string_view between = value.substr(pos, start - pos);
    if (!previous_was_encoded || !absl::StripAsciiWhitespace(between).empty()) {
      absl::StrAppend(&out, between);
    }
    const char encoding = absl::ascii_toupper(value[charset_end + 1]);
    const absl::string_view text = value.substr(charset_end + 3, text_end - charset_end - 3);
    if (encoding == 'B') {
      absl::StrAppend(&out, DecodeBase64(text));
    } else if (encoding == 'Q') {
      AppendHexDecoded(text, /*underscore_is_space=*/true, &out);
    } else {
      absl::StrAppend(&out, value.substr(start, text_end + 2 - start));
    }
    pos = text_end + 2;
    previous_was_encoded = true;
  }
  if (pos < value.size()) {
    absl::StrAppend(&out, value.substr(pos));
  }
  return out;
}

// Splits a header value at `separator`, except inside double quotes, angle brackets or
// parentheses.
std::vector<absl::string_view> SplitOutsideQuotes(absl::string_view value, char separator) {
  std::vector<absl::string_view> items;
  bool in_quotes = false;
  int nesting = 0;
  size_t item_start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (in_quotes) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == '<' || c == '(') {
      ++nesting;
    } else if ((c == '>' || c == ')') && nesting > 0) {
      --nesting;
    } else if (c == separator && nesting == 0) {
      items.push_back(value.substr(item_start, i - item_start));
      item_start = i + 1;
    }
  }
  items.push_back(value.substr(std::min(item_start, value.size())));
  return items;
}

// Returns the addr-spec of each mailbox in an address-list header value, such as
// "ana@example.org" for "Ana <ana@example.org>". Items without an "@" are skipped.
std::vector<std::string> ParseAddressList(absl::string_view value) {
  std::vector<std::string> addresses;
  for (absl::string_view item : SplitOutsideQuotes(value, ',')) {
    const size_t open = item.rfind('<');
    const size_t close = item.rfind('>');
    if (open != absl::string_view::npos && close != absl::string_view::npos && open < close) {
      item = item.substr(open + 1, close - open - 1);
    }
    item = absl::StripAsciiWhitespace(item);
    if (absl::StrContains(item, '@')) {
      addresses.emplace_back(item);
    }
  }
  return addresses;
}

// Splits `text` into its header fields and body at the first empty line. Folded header
// lines are joined to the field they continue, and lines that are not fields are skipped.
// `text` must use "\n" line ends.
Entity SplitEntity(absl::string_view text) {
  Entity entity;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t line_end = text.find('\n', pos);
    if (line_end == absl::string_view::npos) {
      line_end = text.size();
    }
    const absl::string_view line = text.substr(pos, line_end - pos);
    pos = std::min(line_end + 1, text.size());

    if (line.empty()) {
      entity.body = text.substr(pos);
      return entity;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !entity.headers.empty()) {
      absl::StrAppend(&entity.headers.back().value, line);
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      continue;
    }
    entity.headers.push_back(
        {absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon))),
         std::string(line.substr(colon + 1))});
  }
  return entity;
}

// Returns the stripped value of the first header field named `name` (lowercase), or an
// empty string when there is none.
std::string FindHeader(const Entity& entity, absl::string_view name) {
  for (const Header& header : entity.headers) {
    if (header.name == name) {
      return std::string(absl::StripAsciiWhitespace(header.value));
    }
  }
  return "";
}

ContentType ParseContentType(absl::string_view value) {
  ContentType content_type;
  const std::vector<absl::string_view> items = SplitOutsideQuotes(value, ';');
  content_type.media_type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(items.front()));
  if (content_type.media_type.empty()) {
    // RFC 2045 section 5.2: an entity without a Content-Type is US-ASCII plain text.
    content_type.media_type = "text/plain";
  }

  for (size_t i = 1; i < items.size(); ++i) {
    const std::pair<absl::string_view, absl::string_view> parameter =
        absl::StrSplit(items[i], absl::MaxSplits('=', 1));
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(parameter.first), "boundary")) {
      continue;
    }
    absl::string_view boundary = absl::StripAsciiWhitespace(parameter.second);
    if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
      boundary = boundary.substr(1, boundary.size() - 2);
    }
    content_type.boundary = std::string(boundary);
  }
  return content_type;
}

// Splits a multipart body into its parts (RFC 2046 section 5.1.1). The line break before
// each delimiter line belongs to the delimiter, not to the part. The preamble and the
// epilogue are dropped. Without a closing delimiter the last part runs to the end.
std::vector<absl::string_view> SplitMultipart(absl::string_view body, absl::string_view boundary) {
  const std::string delimiter = absl::StrCat("--", boundary);
  std::vector<absl::string_view> parts;
  bool in_part = false;
  size_t part_start = 0;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t line_end = body.find('\n', pos);
    if (line_end == absl::string_view::npos) {
      line_end = body.size();
    }
    const absl::string_view line = body.substr(pos, line_end - pos);

    if (absl::StartsWith(line, delimiter)) {
      const absl::string_view rest = line.substr(delimiter.size());
      const bool closing = absl::StartsWith(rest, "--");
      if (closing || absl::StripTrailingAsciiWhitespace(rest).empty()) {
        if (in_part) {
          const size_t part_end = pos > part_start ? pos - 1 : pos;
          parts.push_back(body.substr(part_start, part_end - part_start));
        }
        if (closing) {
          return parts;
        }
        in_part = true;
        part_start = std::min(line_end + 1, body.size());
      }
    }
    pos = line_end + 1;
  }
  if (in_part) {
    parts.push_back(body.substr(part_start));
  }
  return parts;
}

std::string DecodeBody(absl::string_view body, absl::string_view transfer_encoding) {
  if (absl::EqualsIgnoreCase(transfer_encoding, "quoted-printable")) {
    return DecodeQuotedPrintable(body);
  }
  if (absl::EqualsIgnoreCase(transfer_encoding, "base64")) {
    return absl::StrReplaceAll(DecodeBase64(body), {{"\r\n", "\n"}});
  }
  return std::string(body);
}

// Fills `email->text` and `email->html` from the first text/plain and text/html parts of
// `entity`, searching multipart bodies depth first. Skips attachments.
void CollectBodies(const Entity& entity, int depth, Email* email, bool* found_text,
                   bool* found_html) {
  const ContentType content_type = ParseContentType(FindHeader(entity, "content-type"));
  if (absl::StartsWith(content_type.media_type, "multipart/")) {
    if (content_type.boundary.empty() || depth >= kMaxMimeDepth) {
      return;
    }
    for (absl::string_view part : SplitMultipart(entity.body, content_type.boundary)) {
      CollectBodies(SplitEntity(part), depth + 1, email, found_text, found_html);
    }
    return;
  }

  if (absl::StartsWithIgnoreCase(FindHeader(entity, "content-disposition"), "attachment")) {
    return;
  }
  const std::string transfer_encoding = FindHeader(entity, "content-transfer-encoding");
  if (content_type.media_type == "text/plain" && !*found_text) {
    email->text = DecodeBody(entity.body, transfer_encoding);
    *found_text = true;
  } else if (content_type.media_type == "text/html" && !*found_html) {
    email->html = DecodeBody(entity.body, transfer_encoding);
    *found_html = true;
  }
}

// Reads a whole file. Returns NOT_FOUND when it does not exist, and the status matching
// errno for other failures.
absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("failed to open ", path.string()));
  }

  std::string contents;
  char buffer[8192];
  size_t count;
  while ((count = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    contents.append(buffer, count);
  }
  const bool failed = std::ferror(file) != 0;
  const int read_errno = errno;
  std::fclose(file);
  if (failed) {
    return absl::ErrnoToStatus(read_errno, absl::StrCat("failed to read ", path.string()));
  }
  return contents;
}

absl::Status FilesystemError(const std::error_code& error, absl::string_view what,
                             const std::string& path) {
  return absl::ErrnoToStatus(error.value(),
                             absl::StrCat("failed to ", what, " ", path, ": ", error.message()));
}

std::optional<std::string> FindTokenInEmail(const Email& email) {
  std::optional<std::string> token = FindInvitationToken(email.text);
  if (!token.has_value()) {
    token = FindInvitationToken(email.html);
  }
  return token;
}

// Implements WaitForEmail. `description` names the expected email in the timeout message.
absl::StatusOr<Email> PollForEmail(const std::string& mail_dir, const std::string& recipient,
                                   absl::Duration timeout,
                                   const std::function<bool(const Email&)>& matches,
                                   absl::string_view description) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last_error;
  while (true) {
    absl::StatusOr<std::vector<Email>> emails = ReadEmails(mail_dir);
    if (emails.ok()) {
      last_error = absl::OkStatus();
      for (auto it = emails->rbegin(); it != emails->rend(); ++it) {
        if (it->IsAddressedTo(recipient) && (!matches || matches(*it))) {
          return std::move(*it);
        }
      }
    } else {
      last_error = emails.status();
    }

    const absl::Time now = absl::Now();
    if (now >= deadline) {
      break;
    }
    absl::SleepFor(std::min(kPollInterval, deadline - now));
  }

  std::string message =
      absl::StrCat("timed out after ", absl::FormatDuration(timeout), " waiting for ", description,
                   " to ", recipient, " in ", mail_dir);
  if (!last_error.ok()) {
    absl::StrAppend(&message, ". The last read failed: ", last_error.message());
  }
  return absl::DeadlineExceededError(message);
}

}  // namespace

bool Email::IsAddressedTo(absl::string_view address) const {
  return std::any_of(to.begin(), to.end(), [address](const std::string& recipient) {
    return absl::EqualsIgnoreCase(recipient, address);
  });
}

std::string DecodeQuotedPrintable(absl::string_view encoded) {
  std::string out;
  out.reserve(encoded.size());
  const std::vector<absl::string_view> lines = absl::StrSplit(encoded, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    absl::ConsumeSuffix(&line, "\r");
    line = absl::StripTrailingAsciiWhitespace(line);
    const bool soft_break = absl::ConsumeSuffix(&line, "=");

    AppendHexDecoded(line, /*underscore_is_space=*/false, &out);
    if (!soft_break && i + 1 < lines.size()) {
      out.push_back('\n');
    }
  }
  return out;
}

Email ParseEmail(absl::string_view raw) {
  const std::string normalized = absl::StrReplaceAll(raw, {{"\r\n", "\n"}});
  const Entity message = SplitEntity(normalized);

  Email email;
  for (const Header& header : message.headers) {
    if (header.name == "to") {
      std::vector<std::string> addresses = ParseAddressList(header.value);
      email.to.insert(email.to.end(), addresses.begin(), addresses.end());
    }
  }
  email.subject = DecodeEncodedWords(FindHeader(message, "subject"));

  bool found_text = false;
  bool found_html = false;
  CollectBodies(message, /*depth=*/0, &email, &found_text, &found_html);
  return email;
}

std::optional<std::string> FindInvitationToken(absl::string_view text) {
  size_t pos = 0;
  while ((pos = text.find(kInvitationLinkPath, pos)) != absl::string_view::npos) {
    const size_t token_start = pos + kInvitationLinkPath.size();
    size_t token_end = token_start;
    while (token_end < text.size() && IsBase64UrlChar(text[token_end])) {
      ++token_end;
    }
    if (token_end > token_start) {
      return std::string(text.substr(token_start, token_end - token_start));
    }
    pos = token_start;
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<Email>> ReadEmails(const std::string& mail_dir) {
  std::error_code error;
  const fs::file_status status = fs::status(mail_dir, error);
  if (status.type() == fs::file_type::not_found) {
    return absl::NotFoundError(absl::StrCat("mail directory ", mail_dir, " does not exist"));
  }
  if (error) {
    return FilesystemError(error, "read", mail_dir);
  }
  if (!fs::is_directory(status)) {
    return absl::NotFoundError(absl::StrCat("mail directory ", mail_dir, " is not a directory"));
  }

  struct Entry {
    fs::file_time_type modify_time;
    fs::path path;
  };
  std::vector<Entry> entries;
  fs::directory_iterator it(mail_dir, error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    if (it->path().extension() != ".eml" || !it->is_regular_file(error)) {
      continue;
    }
    const fs::file_time_type modify_time = it->last_write_time(error);
    if (error) {
      // The file was removed after it was listed.
      error.clear();
      continue;
    }
    entries.push_back({modify_time, it->path()});
  }
  if (error) {
    return FilesystemError(error, "list", mail_dir);
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.modify_time, a.path) < std::tie(b.modify_time, b.path);
  });

  std::vector<Email> emails;
  emails.reserve(entries.size());
  for (const Entry& entry : entries) {
    absl::StatusOr<std::string> raw = ReadFile(entry.path);
    if (absl::IsNotFound(raw.status())) {
      continue;
    }
    if (!raw.ok()) {
      return raw.status();
    }
    Email email = ParseEmail(*raw);
    email.path = entry.path.string();
    emails.push_back(std::move(email));
  }
  return emails;
}

absl::StatusOr<Email> WaitForEmail(const std::string& mail_dir, const std::string& recipient,
                                   absl::Duration timeout,
                                   const std::function<bool(const Email&)>& matches) {
  return PollForEmail(mail_dir, recipient, timeout, matches, "an email");
}

absl::StatusOr<std::string> WaitForInvitationToken(const std::string& mail_dir,
                                                   const std::string& recipient,
                                                   absl::Duration timeout) {
  absl::StatusOr<Email> email = PollForEmail(
      mail_dir, recipient, timeout,
      [](const Email& candidate) { return FindTokenInEmail(candidate).has_value(); },
      "an email with an invitation link");
  if (!email.ok()) {
    return email.status();
  }
  return *FindTokenInEmail(*email);
}

}  // namespace accessdelegation::walkthrough
