#ifndef ACCESSDELEGATION_TESTS_MAIL_SMTP_SINK_H_
#define ACCESSDELEGATION_TESTS_MAIL_SMTP_SINK_H_

#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace accessdelegation::mail_testing {

// ReceivedMessage is one message an SmtpSink accepted.
struct ReceivedMessage {
  std::string mail_from;                // The MAIL FROM address, without angle brackets.
  std::vector<std::string> recipients;  // The RCPT TO addresses, without angle brackets.
  std::string data;                     // The DATA text, dot-unstuffed, CRLF line ends.
};

// AuthAttempt is one AUTH exchange an SmtpSink saw, with the decoded credentials.
struct AuthAttempt {
  std::string mechanism;  // "PLAIN" or "LOGIN".
  std::string username;
  std::string password;
};

// SmtpSink is a small SMTP server for tests (RFC 5321 subset) on 127.0.0.1 and a free port.
// It speaks the greeting, EHLO, HELO, AUTH PLAIN and AUTH LOGIN, MAIL FROM, RCPT TO,
// DATA, RSET, NOOP and QUIT, one connection at a time, and records what it receives. It
// offers no STARTTLS. Thread-safe.
class SmtpSink {
 public:
  // DataReply is how the sink answers the DATA command.
  enum class DataReply {
    kAccept,                // 354, then 250 after the message.
    kTransientFailure,      // 451: the client should try again later.
    kPermanentFailure,      // 554: the client should give up.
  };

  SmtpSink() = default;
  ~SmtpSink();

  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  // Listens on 127.0.0.1 with a port the kernel picks and starts serving. Call once.
  absl::Status Start();

  // Returns "smtp://127.0.0.1:<port>".
  std::string url() const;

  // Advertises AUTH PLAIN LOGIN and accepts only these credentials (535 otherwise);
  // without this call the sink offers no AUTH. Call before Start.
  void RequireAuth(std::string username, std::string password);

  void set_data_reply(DataReply reply) ABSL_LOCKS_EXCLUDED(mutex_);

  std::vector<ReceivedMessage> messages() const ABSL_LOCKS_EXCLUDED(mutex_);
  std::vector<AuthAttempt> auth_attempts() const ABSL_LOCKS_EXCLUDED(mutex_);
  // Times at which DATA commands arrived, accepted or not.
  std::vector<absl::Time> data_commands() const ABSL_LOCKS_EXCLUDED(mutex_);
  // Number of MAIL FROM commands, accepted or not.
  int mail_commands() const ABSL_LOCKS_EXCLUDED(mutex_);

  // Waits until at least `count` messages have been accepted; returns whether they were.
  bool WaitForMessages(size_t count, absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mutex_);

  // Waits until at least `count` DATA commands have arrived; returns whether they did.
  bool WaitForDataCommands(size_t count, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  void Serve();
  void HandleConnection(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::string auth_username_;
  std::string auth_password_;
  std::thread thread_;

  mutable absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  DataReply data_reply_ ABSL_GUARDED_BY(mutex_) = DataReply::kAccept;
  std::vector<ReceivedMessage> messages_ ABSL_GUARDED_BY(mutex_);
  std::vector<AuthAttempt> auth_attempts_ ABSL_GUARDED_BY(mutex_);
  std::vector<absl::Time> data_commands_ ABSL_GUARDED_BY(mutex_);
  int mail_commands_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace accessdelegation::mail_testing

#endif  // ACCESSDELEGATION_TESTS_MAIL_SMTP_SINK_H_
