#include "server/mail_transport.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace accessdelegation::server {
namespace {

absl::Status WriteFileAtomically(const std::string& directory, const std::string& name,
                                 const std::string& content) {
  const std::string final_path = absl::StrCat(directory, "/", name);
  // A name per process and call, so that two senders of one message never write the same
  // temporary file. A crash can leave such a file behind; it ends in .tmp, so readers of
  // *.eml files skip it.
  static std::atomic<uint64_t> next_temporary_number{0};
  const std::string temporary_path =
      absl::StrCat(directory, "/.", name, ".", ::getpid(), ".", next_temporary_number++, ".tmp");
  const int fd = ::open(temporary_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", temporary_path, ": ", std::strerror(errno)));
  }
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t result = ::write(fd, content.data() + written, content.size() - written);
    if (result < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot write ", temporary_path, ": ", std::strerror(error)));
    }
    written += static_cast<size_t>(result);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(temporary_path.c_str(), final_path.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot move mail into place at ", final_path, ": ", std::strerror(errno)));
  }

  // The rename is durable only once the directory is flushed. Without this, a power loss
  // after the outbox marks the email delivered could lose the file.
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool directory_synced = directory_fd >= 0 && ::fsync(directory_fd) == 0;
  const int error = errno;
  if (directory_fd >= 0) ::close(directory_fd);
  if (!directory_synced) {
    return absl::UnavailableError(
        absl::StrCat("cannot flush mail directory ", directory, ": ", std::strerror(error)));
  }
  return absl::OkStatus();
}

// Returns the addr-spec of a mailbox: the text between '<' and '>' of "Name <address>",
// or the whole text when it has no angle brackets.
std::string AddressOf(absl::string_view mailbox) {
  const size_t open = mailbox.rfind('<');
  const size_t close = mailbox.rfind('>');
  if (open != absl::string_view::npos && close != absl::string_view::npos && open < close) {
    mailbox = mailbox.substr(open + 1, close - open - 1);
  }
  return std::string(absl::StripAsciiWhitespace(mailbox));
}

// Whether `address` can go into an SMTP command as <address>.
bool IsEnvelopeAddress(absl::string_view address) {
  if (address.empty() || address.find('@') == absl::string_view::npos) return false;
  return std::none_of(address.begin(), address.end(), [](char c) {
    return c == '<' || c == '>' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
  });
}

void InitializeCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// CurlUpload feeds a message to libcurl's read callback.
struct CurlUpload {
  absl::string_view remaining;
};

size_t ReadUpload(char* buffer, size_t size, size_t count, void* user_data) {
  auto* upload = static_cast<CurlUpload*>(user_data);
  const size_t length = std::min(size * count, upload->remaining.size());
  std::memcpy(buffer, upload->remaining.data(), length);
  upload->remaining.remove_prefix(length);
  return length;
}

struct CurlEasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct CurlListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

DirectoryTransport::DirectoryTransport(std::string directory) : directory_(std::move(directory)) {
  std::error_code error;
  std::filesystem::create_directories(directory_, error);
}

absl::Status DirectoryTransport::Send(const EmlMessage& message,
                                      const std::string& rfc5322_text) {
  const std::string id(absl::string_view(message.message_id).substr(0, message.message_id.find('@')));
  if (id.empty() || id.find('/') != std::string::npos || id[0] == '.') {
    return absl::FailedPreconditionError("the message id cannot name a mail file");
  }
  return WriteFileAtomically(directory_, absl::StrCat(id, ".eml"), rfc5322_text);
}

std::string DirectoryTransport::Describe() const { return absl::StrCat("directory ", directory_); }

SmtpTransport::SmtpTransport(SmtpOptions options) : options_(std::move(options)) {
  InitializeCurlOnce();
}

std::string SmtpTransport::Describe() const {
  return absl::StrCat("SMTP relay ", options_.url, options_.require_tls ? " (TLS required)" : "",
                      options_.username.empty() ? "" : " with AUTH");
}

absl::Status SmtpTransport::Send(const EmlMessage& message, const std::string& rfc5322_text) {
  const std::string sender = AddressOf(message.from);
  const std::string recipient = AddressOf(message.to);
  if (!IsEnvelopeAddress(sender)) {
    return absl::FailedPreconditionError("the From address cannot be an SMTP envelope sender");
  }
  if (!IsEnvelopeAddress(recipient)) {
    return absl::FailedPreconditionError("the To address cannot be an SMTP envelope recipient");
  }

  std::unique_ptr<CURL, CurlEasyDeleter> curl(curl_easy_init());
  if (curl == nullptr) return absl::UnavailableError("libcurl cannot create a handle");
  std::unique_ptr<curl_slist, CurlListDeleter> recipients(
      curl_slist_append(nullptr, absl::StrCat("<", recipient, ">").c_str()));
  const std::string mail_from = absl::StrCat("<", sender, ">");
  CurlUpload upload{rfc5322_text};
  char error_buffer[CURL_ERROR_SIZE] = {};

  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(handle, CURLOPT_USE_SSL,
                   static_cast<long>(options_.require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
  if (!options_.username.empty()) {
    curl_easy_setopt(handle, CURLOPT_USERNAME, options_.username.c_str());
    curl_easy_setopt(handle, CURLOPT_PASSWORD, options_.password.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(handle, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(handle, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(handle, CURLOPT_READDATA, &upload);
  curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE,
                   static_cast<curl_off_t>(rfc5322_text.size()));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  // Timeouts must not use signals, because the server has other threads.
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);

  const CURLcode result = curl_easy_perform(handle);
  if (result == CURLE_OK) return absl::OkStatus();

  long reply = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &reply);
  const std::string detail = absl::StrCat(
      "sending to ", options_.url, " failed: ",
      error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(result),
      reply != 0 ? absl::StrCat(" (last SMTP reply ", reply, ")") : "");
  if (reply >= 500 && reply < 600) return absl::FailedPreconditionError(detail);
  return absl::UnavailableError(detail);
}

absl::StatusOr<SmtpCredentials> ReadSmtpAuthFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(absl::StrCat(
        "smtp_auth_file: cannot read ", path, "; check the path and permissions"));
  }
  const std::string content((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
  std::vector<std::string> lines = absl::StrSplit(content, '\n');
  for (std::string& line : lines) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();

  SmtpCredentials credentials;
  if (lines.size() == 2) {
    credentials.username = lines[0];
    credentials.password = lines[1];
  } else if (lines.size() == 1 && lines[0].find(':') != std::string::npos) {
    const size_t colon = lines[0].find(':');
    credentials.username = lines[0].substr(0, colon);
    credentials.password = lines[0].substr(colon + 1);
  }
  if (credentials.username.empty() || credentials.password.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "smtp_auth_file: ", path,
        " must hold the user name and the password on two lines, or one line user:password"));
  }
  return credentials;
}

absl::Status ValidateMailConfig(const Config& config) {
  if (config.mail_transport != "directory" && config.mail_transport != "smtp") {
    return absl::InvalidArgumentError(absl::StrCat(
        "mail_transport is \"", config.mail_transport, "\"; set it to directory or smtp"));
  }
  if (config.mail_transport == "directory" && config.mail_dir.empty()) {
    return absl::InvalidArgumentError("mail_dir is empty");
  }
  if (config.mail_transport == "smtp") {
    if (!absl::StartsWith(config.smtp_url, "smtp://") &&
        !absl::StartsWith(config.smtp_url, "smtps://")) {
      return absl::InvalidArgumentError(
          "smtp_url must start with smtp:// or smtps://, such as smtp://mail.example.org:587");
    }
    const absl::string_view authority =
        absl::string_view(config.smtp_url).substr(config.smtp_url.find("://") + 3);
    if (authority.substr(0, authority.find('/')).find('@') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "smtp_url must not contain credentials; put them in smtp_auth_file");
    }
  }
  if (config.smtp_starttls != "required" && config.smtp_starttls != "none") {
    return absl::InvalidArgumentError(absl::StrCat(
        "smtp_starttls is \"", config.smtp_starttls, "\"; set it to required or none"));
  }
  if (!IsEnvelopeAddress(AddressOf(config.mail_from))) {
    return absl::InvalidArgumentError(
        "mail_from must be an address or \"Name <address>\", such as "
        "\"Patient Portal <no-reply@portal.example.org>\"");
  }
  if (config.mail_max_attempts < 1) {
    return absl::InvalidArgumentError("mail_max_attempts must be at least 1");
  }
  if (config.mail_retry_base <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("mail_retry_base must be positive, such as 30s");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MailTransport>> CreateMailTransport(const Config& config) {
  if (absl::Status status = ValidateMailConfig(config); !status.ok()) return status;
  if (config.mail_transport == "directory") {
    return std::make_unique<DirectoryTransport>(config.mail_dir);
  }

  SmtpOptions options;
  options.url = config.smtp_url;
  options.require_tls = config.smtp_starttls == "required";
  if (!config.smtp_auth_file.empty()) {
    absl::StatusOr<SmtpCredentials> credentials = ReadSmtpAuthFile(config.smtp_auth_file);
    if (!credentials.ok()) return credentials.status();
    options.username = std::move(credentials->username);
    options.password = std::move(credentials->password);
  }
  return std::make_unique<SmtpTransport>(std::move(options));
}

}  // namespace accessdelegation::server
