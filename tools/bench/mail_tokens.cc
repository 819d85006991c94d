#include "tools/bench/mail_tokens.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "tools/walkthrough/mailbox.h"

namespace accessdelegation::bench {
namespace {

// Returns the names of the "*.eml" files in `dir`, or an empty list when it cannot be read.
// The server writes each email under a temporary name and renames it, so a listed file is
// complete.
std::vector<std::string> ListEmailFiles(const std::string& dir) {
  std::vector<std::string> names;
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return names;
  while (const dirent* entry = ::readdir(handle)) {
    const std::string name = entry->d_name;
    if (absl::EndsWith(name, ".eml")) names.push_back(name);
  }
  ::closedir(handle);
  return names;
}

}  // namespace

int MailTokens::Scan() {
  int found = 0;
  for (const std::string& name : ListEmailFiles(mail_dir_)) {
    const std::string path = mail_dir_ + "/" + name;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream contents;
    contents << in.rdbuf();
    const bool read = in.good() || in.eof();
    in.close();
    if (!read || ::unlink(path.c_str()) != 0) {
      absl::MutexLock lock(&mutex_);
      ++read_failures_;
      continue;
    }

    const walkthrough::Email email = walkthrough::ParseEmail(contents.str());
    std::optional<std::string> token = walkthrough::FindInvitationToken(email.text);
    if (!token.has_value()) token = walkthrough::FindInvitationToken(email.html);
    if (!token.has_value()) continue;
    absl::MutexLock lock(&mutex_);
    for (const std::string& to : email.to) tokens_[absl::AsciiStrToLower(to)] = *token;
    ++found;
  }
  return found;
}

std::optional<std::string> MailTokens::Take(const std::string& email) {
  absl::MutexLock lock(&mutex_);
  auto it = tokens_.find(absl::AsciiStrToLower(email));
  if (it == tokens_.end()) return std::nullopt;
  std::string token = std::move(it->second);
  tokens_.erase(it);
  return token;
}

int64_t MailTokens::read_failures() const {
  absl::MutexLock lock(&mutex_);
  return read_failures_;
}

}  // namespace accessdelegation::bench
