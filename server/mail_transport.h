#ifndef ACCESSDELEGATION_SERVER_MAIL_TRANSPORT_H_
#define ACCESSDELEGATION_SERVER_MAIL_TRANSPORT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/eml.h"
#include "server/server.h"

namespace accessdelegation::server {

// MailTransport hands formatted emails to whatever carries them to their recipients.
// Implementations must be thread-safe: the deliverer's workers call Send at once.
class MailTransport {
 public:
  virtual ~MailTransport() = default;

  // Sends `message`, whose RFC 5322 form (from FormatEml) is `rfc5322_text`. Sending the
  // same message again must be harmless, because delivery is at least once.
  //
  // Returns OK once the message is handed over; UNAVAILABLE for a failure that a later
  // attempt may not meet (no connection, a timeout, a 4xx reply); FAILED_PRECONDITION
  // when the receiver rejects the message for good (a 5xx reply), so that retrying the
  // same message cannot help.
  virtual absl::Status Send(const EmlMessage& message, const std::string& rfc5322_text) = 0;

  // Returns where emails go, for logs, such as "directory var/mail". Never contains
  // credentials.
  virtual std::string Describe() const = 0;
};

// DirectoryTransport writes each email to a directory as "<id>.eml", where <id> is the
// part of the message id before '@'.
//
// Sending is idempotent: a file is written under a temporary name of its own, synced and
// renamed into place, so a crash leaves either no file or a complete one. Sending the same
// message again, even from two threads or processes at once, replaces the file with the
// same content under the same name.
class DirectoryTransport final : public MailTransport {
 public:
  // Creates `directory` (and its parents) if missing; a failure shows on the first Send.
  explicit DirectoryTransport(std::string directory);

  absl::Status Send(const EmlMessage& message, const std::string& rfc5322_text) override;
  std::string Describe() const override;

 private:
  const std::string directory_;
};

// SmtpOptions are the settings of an SmtpTransport.
struct SmtpOptions {
  // smtp://host[:port] or smtps://host[:port]; credentials never go in the URL.
  std::string url;
  // Whether the connection must be encrypted: smtp:// then needs STARTTLS, and a relay
  // that does not offer it fails every send with UNAVAILABLE.
  bool require_tls = true;
  // AUTH credentials; an empty username sends no AUTH.
  std::string username;
  std::string password;
  // Limit on connecting (TCP and TLS handshake).
  absl::Duration connect_timeout = absl::Seconds(10);
  // Limit on one whole send, connecting included.
  absl::Duration timeout = absl::Seconds(60);
};

// SmtpTransport sends each email to an SMTP relay with libcurl, one connection per email.
// The envelope sender is the address in the From header and the only recipient is the
// To address.
class SmtpTransport final : public MailTransport {
 public:
  explicit SmtpTransport(SmtpOptions options);

  absl::Status Send(const EmlMessage& message, const std::string& rfc5322_text) override;
  std::string Describe() const override;

 private:
  const SmtpOptions options_;
};

// SmtpCredentials are the user name and password of an SMTP AUTH.
struct SmtpCredentials {
  std::string username;
  std::string password;
};

// Reads SMTP credentials from `path`: either two lines, the user name and then the
// password, or one line "user:password" (split at the first ':'). A trailing newline or
// CRLF is ignored. INVALID_ARGUMENT if the file cannot be read or either part is empty;
// the message names the file and never contains its content.
absl::StatusOr<SmtpCredentials> ReadSmtpAuthFile(const std::string& path);

// Checks the mail settings of `config`: mail_transport, smtp_url, smtp_starttls,
// mail_from, mail_max_attempts and mail_retry_base. INVALID_ARGUMENT naming the setting.
absl::Status ValidateMailConfig(const Config& config);

// Returns the transport that `config` selects, with its SMTP credentials read from
// smtp_auth_file. INVALID_ARGUMENT as ValidateMailConfig and ReadSmtpAuthFile.
absl::StatusOr<std::unique_ptr<MailTransport>> CreateMailTransport(const Config& config);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_MAIL_TRANSPORT_H_
