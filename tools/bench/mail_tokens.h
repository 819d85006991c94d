#ifndef ACCESSDELEGATION_TOOLS_BENCH_MAIL_TOKENS_H_
#define ACCESSDELEGATION_TOOLS_BENCH_MAIL_TOKENS_H_

#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace accessdelegation::bench {

// MailTokens collects the invitation tokens that the server emails into its mail directory,
// by recipient, so that the write scenario can accept its own invitations.
//
// Scan() reads each "*.eml" file once, keeps the invitation token it contains under each
// To address (lower case), and deletes the file, so the directory stays small during a long
// run. Only the benchmark may use that directory: emails of other users are deleted too.
// Thread-safe.
class MailTokens {
 public:
  explicit MailTokens(std::string mail_dir) : mail_dir_(std::move(mail_dir)) {}

  // Reads and deletes the emails delivered since the last scan. Returns the number of
  // invitation tokens found. A file that cannot be read or deleted is skipped and counted
  // in read_failures().
  int Scan();

  // Removes and returns the token last found for `email` (any letter case), or nullopt
  // when none arrived since the last call for that address.
  std::optional<std::string> Take(const std::string& email);

  int64_t read_failures() const;

 private:
  const std::string mail_dir_;
  mutable absl::Mutex mutex_;
  std::map<std::string, std::string> tokens_ ABSL_GUARDED_BY(mutex_);
  int64_t read_failures_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace accessdelegation::bench

#endif  // ACCESSDELEGATION_TOOLS_BENCH_MAIL_TOKENS_H_
