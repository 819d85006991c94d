#include "server/password_hasher.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/secrets.h"

namespace accessdelegation::server {
namespace {

// Returns the scheduling policies of this process's threads named `name`.
std::vector<int> PoliciesOfThreadsNamed(const std::string& name) {
  std::vector<int> policies;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm_file(entry.path() / "comm");
    std::string comm;
    std::getline(comm_file, comm);
    if (absl::StripAsciiWhitespace(comm) != name) continue;
    pid_t tid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &tid)) continue;
    policies.push_back(sched_getscheduler(tid));
  }
  return policies;
}

TEST(PasswordHasherTest, HashThenVerify) {
  ASSERT_TRUE(InitializeCrypto().ok());
  PasswordHasher hasher(PasswordHasher::Options{/*threads=*/1, /*max_queued=*/4});

  absl::StatusOr<std::string> hash = hasher.Hash("correct horse battery staple");

  ASSERT_TRUE(hash.ok()) << hash.status();
  absl::StatusOr<bool> right = hasher.Verify("correct horse battery staple", *hash);
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_TRUE(*right);
  absl::StatusOr<bool> wrong = hasher.Verify("wrong password", *hash);
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_FALSE(*wrong);
}

TEST(PasswordHasherTest, WorkersRunUnderSchedIdle) {
  ASSERT_TRUE(InitializeCrypto().ok());
  PasswordHasher hasher(PasswordHasher::Options{/*threads=*/2, /*max_queued=*/4});
  ASSERT_TRUE(hasher.Hash("correct horse battery staple").ok());

  // Each worker sets its name and policy as it starts, which may be after the hash above.
  std::vector<int> policies;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline) {
    policies = PoliciesOfThreadsNamed(kPasswordHashThreadName);
    if (policies.size() == 2 && policies[0] == SCHED_IDLE && policies[1] == SCHED_IDLE) break;
    absl::SleepFor(absl::Milliseconds(20));
  }

  ASSERT_EQ(policies.size(), 2u);
  EXPECT_EQ(policies[0], SCHED_IDLE);
  EXPECT_EQ(policies[1], SCHED_IDLE);
}

}  // namespace
}  // namespace accessdelegation::server
