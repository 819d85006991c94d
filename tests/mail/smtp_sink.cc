#include "tests/mail/smtp_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace accessdelegation::mail_testing {
namespace {

// How long the accept loop and a connection wait before they check for Stop.
constexpr int kPollMillis = 50;
constexpr absl::Duration kIdleTimeout = absl::Seconds(5);

// LineReader reads CRLF-terminated lines from a socket.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}

  // Returns the next line without its CRLF, or nullopt when the peer closed or stayed
  // silent for kIdleTimeout.
  std::optional<std::string> ReadLine() {
    const absl::Time deadline = absl::Now() + kIdleTimeout;
    while (true) {
      const size_t end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return line;
      }
      if (absl::Now() > deadline) return std::nullopt;
      pollfd poll_fd{fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, kPollMillis) <= 0) continue;
      char chunk[4096];
      const ssize_t read = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (read <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(read));
    }
  }

 private:
  const int fd_;
  std::string buffer_;
};

void SendText(int fd, absl::string_view text) {
  while (!text.empty()) {
    const ssize_t sent = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (sent <= 0) return;
    text.remove_prefix(static_cast<size_t>(sent));
  }
}

void Reply(int fd, absl::string_view line) { SendText(fd, absl::StrCat(line, "\r\n")); }

std::string DecodeBase64(absl::string_view text) {
  std::string bytes(text.size(), '\0');
  size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(),
                        text.data(), text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return "";
  }
  bytes.resize(length);
  return bytes;
}

// Returns the address inside the angle brackets of "MAIL FROM:<a>" or "RCPT TO:<a>".
std::string PathOf(absl::string_view argument) {
  const size_t open = argument.find('<');
  const size_t close = argument.find('>', open);
  if (open == absl::string_view::npos || close == absl::string_view::npos) return "";
  return std::string(argument.substr(open + 1, close - open - 1));
}

}  // namespace

SmtpSink::~SmtpSink() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

absl::Status SmtpSink::Start() {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialize");
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return absl::InternalError(absl::StrCat("listening on 127.0.0.1 failed: ",
                                            std::strerror(errno)));
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { Serve(); });
  return absl::OkStatus();
}

std::string SmtpSink::url() const { return absl::StrCat("smtp://127.0.0.1:", port_); }

void SmtpSink::RequireAuth(std::string username, std::string password) {
  auth_username_ = std::move(username);
  auth_password_ = std::move(password);
}

void SmtpSink::set_data_reply(DataReply reply) {
  absl::MutexLock lock(&mutex_);
  data_reply_ = reply;
}

std::vector<ReceivedMessage> SmtpSink::messages() const {
  absl::MutexLock lock(&mutex_);
  return messages_;
}

std::vector<AuthAttempt> SmtpSink::auth_attempts() const {
  absl::MutexLock lock(&mutex_);
  return auth_attempts_;
}

std::vector<absl::Time> SmtpSink::data_commands() const {
  absl::MutexLock lock(&mutex_);
  return data_commands_;
}

int SmtpSink::mail_commands() const {
  absl::MutexLock lock(&mutex_);
  return mail_commands_;
}

bool SmtpSink::WaitForMessages(size_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&mutex_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return messages_.size() >= count;
  };
  return mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool SmtpSink::WaitForDataCommands(size_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&mutex_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return data_commands_.size() >= count;
  };
  return mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void SmtpSink::Serve() {
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      if (stopping_) return;
    }
    pollfd poll_fd{listen_fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, kPollMillis) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    HandleConnection(fd);
    ::close(fd);
  }
}

void SmtpSink::HandleConnection(int fd) {
  LineReader reader(fd);
  const bool offer_auth = !auth_username_.empty();
  ReceivedMessage message;
  Reply(fd, "220 sink.test ESMTP ready");

  while (true) {
    const std::optional<std::string> line = reader.ReadLine();
    if (!line.has_value()) return;
    const std::string verb = absl::AsciiStrToUpper(line->substr(0, line->find(' ')));
    const absl::string_view argument =
        line->find(' ') == std::string::npos ? "" : absl::string_view(*line).substr(line->find(' ') + 1);

    if (verb == "EHLO") {
      SendText(fd, "250-sink.test\r\n");
      if (offer_auth) SendText(fd, "250-AUTH PLAIN LOGIN\r\n");
      Reply(fd, "250 8BITMIME");
    } else if (verb == "HELO") {
      Reply(fd, "250 sink.test");
    } else if (verb == "AUTH" && offer_auth) {
      AuthAttempt attempt;
      attempt.mechanism = absl::AsciiStrToUpper(argument.substr(0, argument.find(' ')));
      std::string initial = argument.find(' ') == absl::string_view::npos
                                ? ""
                                : std::string(argument.substr(argument.find(' ') + 1));
      if (attempt.mechanism == "PLAIN") {
        if (initial.empty()) {
          Reply(fd, "334 ");
          initial = reader.ReadLine().value_or("");
        }
        // authzid NUL authcid NUL passwd (RFC 4616).
        const std::string decoded = DecodeBase64(initial);
        const size_t first = decoded.find('\0');
        const size_t second = decoded.find('\0', first + 1);
        if (first != std::string::npos && second != std::string::npos) {
          attempt.username = decoded.substr(first + 1, second - first - 1);
          attempt.password = decoded.substr(second + 1);
        }
      } else if (attempt.mechanism == "LOGIN") {
        if (initial.empty()) {
          Reply(fd, "334 VXNlcm5hbWU6");  // "Username:"
          initial = reader.ReadLine().value_or("");
        }
        attempt.username = DecodeBase64(initial);
        Reply(fd, "334 UGFzc3dvcmQ6");  // "Password:"
        attempt.password = DecodeBase64(reader.ReadLine().value_or(""));
      } else {
        Reply(fd, "504 5.5.4 mechanism not supported");
        continue;
      }
      const bool accepted =
          attempt.username == auth_username_ && attempt.password == auth_password_;
      {
        absl::MutexLock lock(&mutex_);
        auth_attempts_.push_back(attempt);
      }
      Reply(fd, accepted ? "235 2.7.0 authenticated" : "535 5.7.8 credentials invalid");
    } else if (verb == "MAIL") {
      {
        absl::MutexLock lock(&mutex_);
        ++mail_commands_;
      }
      message = ReceivedMessage();
      message.mail_from = PathOf(argument);
      Reply(fd, "250 2.1.0 sender ok");
    } else if (verb == "RCPT") {
      message.recipients.push_back(PathOf(argument));
      Reply(fd, "250 2.1.5 recipient ok");
    } else if (verb == "DATA") {
      DataReply reply;
      {
        absl::MutexLock lock(&mutex_);
        data_commands_.push_back(absl::Now());
        reply = data_reply_;
      }
      if (reply == DataReply::kTransientFailure) {
        Reply(fd, "451 4.3.0 mailbox temporarily unavailable");
        continue;
      }
      if (reply == DataReply::kPermanentFailure) {
        Reply(fd, "554 5.7.1 message rejected");
        continue;
      }
      Reply(fd, "354 end data with <CR><LF>.<CR><LF>");
      while (true) {
        const std::optional<std::string> data_line = reader.ReadLine();
        if (!data_line.has_value()) return;
        if (*data_line == ".") break;
        // Transparency (RFC 5321 section 4.5.2): a leading dot was doubled by the client.
        const absl::string_view text =
            absl::StartsWith(*data_line, ".") ? absl::string_view(*data_line).substr(1)
                                              : absl::string_view(*data_line);
        absl::StrAppend(&message.data, text, "\r\n");
      }
      {
        absl::MutexLock lock(&mutex_);
        messages_.push_back(message);
      }
      Reply(fd, "250 2.0.0 queued");
    } else if (verb == "RSET") {
      message = ReceivedMessage();
      Reply(fd, "250 2.0.0 ok");
    } else if (verb == "NOOP") {
      Reply(fd, "250 2.0.0 ok");
    } else if (verb == "QUIT") {
      Reply(fd, "221 2.0.0 bye");
      return;
    } else {
      Reply(fd, "502 5.5.2 command not implemented");
    }
  }
}

}  // namespace accessdelegation::mail_testing
