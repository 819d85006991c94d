// The adctl binary against an in-process server on a fresh database: its output and exit
// codes for each command.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/access_history.pb.h"
#include "accessdelegation/v1/operations.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

extern char** environ;

namespace accessdelegation::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kAdctlTimeout = absl::Seconds(60);

// AdctlResult is how one adctl run ended and what it printed.
struct AdctlResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

absl::Status WriteTextFile(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << contents;
  file.close();
  if (!file) return absl::InternalError(absl::StrCat("writing ", path.string(), " failed"));
  return absl::OkStatus();
}

// Runs the adctl binary with `args` and `stdin_path` as standard input, and waits for it
// to exit. Output goes through files in `directory`. Kills it after kAdctlTimeout.
AdctlResult RunAdctlBinary(const std::vector<std::string>& args,
                           const std::filesystem::path& directory,
                           const std::string& stdin_path = "/dev/null") {
  std::vector<std::string> argv = {ADCTL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> pointers;
  for (std::string& arg : argv) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  const std::filesystem::path out_path = directory / "adctl.stdout";
  const std::filesystem::path err_path = directory / "adctl.stderr";

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  const int spawn_error =
      posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  AdctlResult result;
  if (spawn_error != 0) {
    result.err = absl::StrCat("posix_spawn of ", argv[0], " failed with error ", spawn_error);
    return result;
  }

  const absl::Time deadline = absl::Now() + kAdctlTimeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.err = "adctl did not exit within the timeout\n";
      return result;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

// Prints a result in assertion messages.
std::string Describe(const AdctlResult& result) {
  return absl::StrCat("exit code ", result.exit_code, "\nstdout:\n", result.out, "\nstderr:\n",
                      result.err);
}

class AdctlTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (HasFatalFailure()) return;
    token_file_ = temp_dir() / "adctl-service-token";
    ASSERT_OK(WriteTextFile(token_file_, absl::StrCat(kServiceToken, "\n")));
  }

  // Runs adctl against the test server with the service token and `args`.
  AdctlResult Run(std::vector<std::string> args, const std::string& stdin_path = "/dev/null") {
    args.insert(args.begin(), {"--target=" + target(),
                               "--service_token_file=" + token_file_.string()});
    return RunAdctlBinary(args, temp_dir(), stdin_path);
  }

  // Writes `password` to a new file and returns its path.
  std::string WritePasswordFile(const std::string& password) {
    const std::filesystem::path path = temp_dir() / "password";
    EXPECT_OK(WriteTextFile(path, password + "\n"));
    return path.string();
  }

  std::vector<std::string> CreateAccountArgs(const Person& person) {
    return {"create-account",
            "--email=" + person.email,
            "--first_name=" + person.first_name,
            "--last_name=" + person.last_name,
            "--phone_number=" + person.phone_number,
            "--password_file=" + WritePasswordFile(person.password)};
  }

  const std::filesystem::path& token_file() const { return token_file_; }

 private:
  std::filesystem::path token_file_;
};

TEST_F(AdctlTest, HelpListsCommandsAndExitCodes) {
  AdctlResult result = RunAdctlBinary({"--help"}, temp_dir());

  EXPECT_EQ(result.exit_code, 0) << Describe(result);
  EXPECT_THAT(result.out, HasSubstr("Usage: adctl [GLOBAL FLAGS] COMMAND [FLAGS]"));
  EXPECT_THAT(result.out, HasSubstr("create-account"));
  EXPECT_THAT(result.out, HasSubstr("check-access"));
  EXPECT_THAT(result.out, HasSubstr("list-grants"));
  EXPECT_THAT(result.out, HasSubstr("audit"));
  EXPECT_THAT(result.out, HasSubstr("2  usage error"));
  EXPECT_EQ(result.err, "");
}

TEST_F(AdctlTest, EveryCommandHasHelp) {
  for (const std::string command :
       {"create-account", "check-access", "list-invitations", "list-grants", "revoke-grant",
        "audit", "emails", "retry-email"}) {
    AdctlResult result = RunAdctlBinary({command, "--help"}, temp_dir());

    EXPECT_EQ(result.exit_code, 0) << command << ": " << Describe(result);
    EXPECT_THAT(result.out, HasSubstr("Usage: adctl [GLOBAL FLAGS] " + command));
    EXPECT_THAT(result.out, HasSubstr("Exit codes:"));
    EXPECT_THAT(result.out, HasSubstr("--service_token_file FILE"));
  }
}

TEST_F(AdctlTest, UsageErrorsExitWithTwo) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "no command given"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"check-access", "--bogus=1"}, "unknown flag --bogus"},
      {{"check-access", "--owner=x", "--permission=VIEW_BILLING"}, "--account is required"},
      {{"check-access", "--account=x", "--owner=y", "--permission=FLY"},
       "--permission=FLY is not one of VIEW_APPOINTMENTS"},
      {{"check-access", "--account=x", "--owner=y", "--permission=VIEW_BILLING",
        "--timeout=soon"},
       "--timeout=soon is not a positive duration"},
      {{"list-grants"}, "--owner is required"},
      {{"list-grants", "--owner=x", "--limit=0"}, "--limit=0 is not a positive integer"},
      {{"list-invitations", "--owner=x", "--state=LOST"}, "--state=LOST is not one of PENDING"},
      {{"list-grants", "--owner=x", "--state=GONE"}, "--state=GONE is not one of ACTIVE"},
      {{"revoke-grant", "--owner=x"}, "--grant is required"},
      {{"audit", "--since=yesterday"}, "--since=yesterday is neither an RFC 3339 time"},
      {{"retry-email"}, "--message is required"},
  };
  for (const auto& [args, message] : cases) {
    AdctlResult result = Run(args);

    EXPECT_EQ(result.exit_code, 2) << message << ": " << Describe(result);
    EXPECT_THAT(result.err, HasSubstr(message));
    EXPECT_EQ(result.out, "");
  }
}

TEST_F(AdctlTest, MissingTokenFileIsUsageError) {
  AdctlResult result = RunAdctlBinary(
      {"--target=" + target(), "--service_token_file=" + (temp_dir() / "missing").string(),
       "check-access", "--account=x", "--owner=y", "--permission=VIEW_BILLING"},
      temp_dir());

  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("cannot read --service_token_file="));
}

TEST_F(AdctlTest, CreateAccountPrintsAccount) {
  const Person owner = Owner();

  AdctlResult result = Run(CreateAccountArgs(owner));

  ASSERT_EQ(result.exit_code, 0) << Describe(result);
  EXPECT_THAT(result.out, HasSubstr("email         " + owner.email));
  EXPECT_THAT(result.out, HasSubstr("name          Ann Owner"));
  EXPECT_THAT(result.out, HasSubstr("phone_number  " + owner.phone_number));
  ASSERT_OK_AND_ASSIGN(SignedIn signed_in, SignIn(owner));
  EXPECT_THAT(result.out, HasSubstr("account_id    " + signed_in.account.account_id()));
}

TEST_F(AdctlTest, CreateAccountReadsPasswordFromStdin) {
  const Person owner = Owner();
  std::vector<std::string> args = CreateAccountArgs(owner);
  args.back() = "--password_file=-";

  AdctlResult result = Run(args, WritePasswordFile(owner.password));

  ASSERT_EQ(result.exit_code, 0) << Describe(result);
  EXPECT_OK(SignIn(owner));
}

TEST_F(AdctlTest, CreateAccountJsonIsTheResponse) {
  const Person owner = Owner();
  std::vector<std::string> args = CreateAccountArgs(owner);
  args.push_back("--json");

  AdctlResult result = Run(args);

  ASSERT_EQ(result.exit_code, 0) << Describe(result);
  v1::CreateAccountResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(result.out, &response).ok())
      << result.out;
  EXPECT_EQ(response.account().email(), owner.email);
  EXPECT_EQ(response.account().account_id().size(), 36);
}

TEST_F(AdctlTest, CreateAccountTwiceFailsWithAlreadyExists) {
  const Person owner = Owner();
  ASSERT_OK(CreateAccount(owner));

  AdctlResult result = Run(CreateAccountArgs(owner));

  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("CreateAccount failed: ALREADY_EXISTS: "));
  EXPECT_EQ(result.out, "");
}

TEST_F(AdctlTest, CheckAccessOwnerIsAllowed) {
  ASSERT_OK_AND_ASSIGN(v1::Account owner, CreateAccount(Owner()));

  AdctlResult result = Run({"check-access", "--account=" + owner.account_id(),
                            "--owner=" + owner.account_id(), "--permission=view-billing"});

  ASSERT_EQ(result.exit_code, 0) << Describe(result);
  EXPECT_EQ(result.out,
            "allowed       true\n"
            "reason        OWNER\n"
            "access_level  -\n"
            "grant_id      -\n");
}

TEST_F(AdctlTest, CheckAccessShowsGrantLevel) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_APPOINTMENTS_ONLY));

  AdctlResult denied = Run({"check-access", "--account=" + delegate.account.account_id(),
                            "--owner=" + owner.account.account_id(),
                            "--permission=PERMISSION_VIEW_HEALTH_RECORD"});
  AdctlResult allowed = Run({"check-access", "--account=" + delegate.account.account_id(),
                             "--owner=" + owner.account.account_id(),
                             "--permission=VIEW_APPOINTMENTS", "--json"});

  ASSERT_EQ(denied.exit_code, 0) << Describe(denied);
  EXPECT_EQ(denied.out, absl::StrCat("allowed       false\n"
                                     "reason        LEVEL_EXCLUDES_PERMISSION\n"
                                     "access_level  APPOINTMENTS_ONLY\n"
                                     "grant_id      ",
                                     grant.grant_id(), "\n"));
  ASSERT_EQ(allowed.exit_code, 0) << Describe(allowed);
  v1::CheckAccessResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(allowed.out, &response).ok())
      << allowed.out;
  EXPECT_TRUE(response.allowed());
  EXPECT_EQ(response.reason(), v1::CheckAccessResponse::REASON_GRANT);
  EXPECT_EQ(response.grant_id(), grant.grant_id());
}

TEST_F(AdctlTest, CheckAccessMalformedIdFailsWithCode) {
  AdctlResult result = Run({"check-access", "--account=not-a-uuid", "--owner=" + RandomUuid(),
                            "--permission=VIEW_BILLING", "--request_id=adctl-test-1"});

  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("CheckAccess failed: INVALID_ARGUMENT: "));
  EXPECT_THAT(result.err, HasSubstr("account_id"));
  EXPECT_EQ(result.out, "");
}

TEST_F(AdctlTest, WrongServiceTokenFailsWithUnauthenticated) {
  const std::filesystem::path wrong_token = temp_dir() / "wrong-token";
  ASSERT_OK(WriteTextFile(wrong_token, RandomToken()));

  AdctlResult result = RunAdctlBinary(
      {"--target=" + target(), "--service_token_file=" + wrong_token.string(), "check-access",
       "--account=" + RandomUuid(), "--owner=" + RandomUuid(), "--permission=VIEW_BILLING"},
      temp_dir());

  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("CheckAccess failed: UNAUTHENTICATED: "));
}

TEST_F(AdctlTest, UnreachableServerFailsWithUnavailable) {
  AdctlResult result = RunAdctlBinary(
      {"--target=127.0.0.1:1", "--service_token_file=" + token_file().string(), "--timeout=5s",
       "check-access", "--account=" + RandomUuid(), "--owner=" + RandomUuid(),
       "--permission=VIEW_BILLING"},
      temp_dir());

  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("CheckAccess failed: UNAVAILABLE: "));
  EXPECT_THAT(result.out, Not(HasSubstr("allowed")));
}

// Returns the lines of `text` without the final empty one.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

TEST_F(AdctlTest, ListGrantsShowsDelegates) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_APPOINTMENTS_ONLY));

  AdctlResult table = Run({"list-grants", "--owner=" + owner.account.account_id()});
  AdctlResult json = Run({"list-grants", "--owner=" + owner.account.account_id(), "--json"});

  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  std::vector<std::string> lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 2) << table.out;
  EXPECT_THAT(lines[0], HasSubstr("GRANT ID"));
  EXPECT_THAT(lines[1], HasSubstr(grant.grant_id()));
  EXPECT_THAT(lines[1], HasSubstr(delegate.account.account_id()));
  EXPECT_THAT(lines[1], HasSubstr(Delegate().email));
  EXPECT_THAT(lines[1], HasSubstr("Dan Delegate"));
  EXPECT_THAT(lines[1], HasSubstr("APPOINTMENTS_ONLY"));
  ASSERT_EQ(json.exit_code, 0) << Describe(json);
  v1::ListGrantsResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &response).ok()) << json.out;
  ASSERT_EQ(response.grants_size(), 1);
  EXPECT_EQ(response.grants(0).grant_id(), grant.grant_id());
}

TEST_F(AdctlTest, ListGrantsByStateShowsRevokedGrants) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  ASSERT_OK(owner.client->RevokeGrant(revoke));

  AdctlResult active = Run({"list-grants", "--owner=" + owner.account.account_id()});
  AdctlResult revoked =
      Run({"list-grants", "--owner=" + owner.account.account_id(), "--state=revoked"});

  ASSERT_EQ(active.exit_code, 0) << Describe(active);
  EXPECT_EQ(Lines(active.out).size(), 1) << active.out;
  ASSERT_EQ(revoked.exit_code, 0) << Describe(revoked);
  std::vector<std::string> lines = Lines(revoked.out);
  ASSERT_EQ(lines.size(), 2) << revoked.out;
  EXPECT_THAT(lines[0], HasSubstr("ENDED"));
  EXPECT_THAT(lines[1], HasSubstr(grant.grant_id()));
  EXPECT_THAT(lines[1], HasSubstr("REVOKED"));
}

TEST_F(AdctlTest, ListGrantsOfOwnerWithoutGrantsPrintsHeaderOnly) {
  ASSERT_OK_AND_ASSIGN(v1::Account owner, CreateAccount(Owner()));

  AdctlResult result = Run({"list-grants", "--owner=" + owner.account_id()});

  ASSERT_EQ(result.exit_code, 0) << Describe(result);
  ASSERT_EQ(Lines(result.out).size(), 1) << result.out;
  EXPECT_THAT(result.out, HasSubstr("GRANT ID"));
}

TEST_F(AdctlTest, ListGrantsOfUnknownOwnerFailsWithNotFound) {
  AdctlResult result = Run({"list-grants", "--owner=" + RandomUuid()});

  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("ListGrants failed: NOT_FOUND: "));
  EXPECT_EQ(result.out, "");
}

TEST_F(AdctlTest, ListInvitationsFiltersAndLimits) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Invite(*owner.client, Stranger(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY));
  const std::string owner_flag = "--owner=" + owner.account.account_id();

  AdctlResult all = Run({"list-invitations", owner_flag});
  AdctlResult pending = Run({"list-invitations", owner_flag, "--state=pending"});
  AdctlResult accepted = Run({"list-invitations", owner_flag, "--state=INVITATION_STATE_ACCEPTED"});
  AdctlResult limited = Run({"list-invitations", owner_flag, "--limit=1", "--json"});

  ASSERT_EQ(all.exit_code, 0) << Describe(all);
  std::vector<std::string> lines = Lines(all.out);
  ASSERT_EQ(lines.size(), 3) << all.out;
  EXPECT_THAT(lines[0], HasSubstr("INVITATION ID"));
  // Newest first.
  EXPECT_THAT(lines[1], HasSubstr(Stranger().email));
  EXPECT_THAT(lines[1], HasSubstr("PENDING"));
  EXPECT_THAT(lines[2], HasSubstr(Delegate().email));
  EXPECT_THAT(lines[2], HasSubstr("FULL"));
  ASSERT_EQ(pending.exit_code, 0) << Describe(pending);
  EXPECT_EQ(Lines(pending.out).size(), 3) << pending.out;
  ASSERT_EQ(accepted.exit_code, 0) << Describe(accepted);
  EXPECT_EQ(Lines(accepted.out).size(), 1) << accepted.out;
  ASSERT_EQ(limited.exit_code, 0) << Describe(limited);
  v1::ListInvitationsResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(limited.out, &response).ok())
      << limited.out;
  ASSERT_EQ(response.invitations_size(), 1);
  EXPECT_EQ(response.invitations(0).email(), Stranger().email);
}

TEST_F(AdctlTest, RevokeGrantEndsAccess) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  const std::vector<std::string> revoke = {"revoke-grant",
                                           "--owner=" + owner.account.account_id(),
                                           "--grant=" + grant.grant_id()};

  AdctlResult first = Run(revoke);
  AdctlResult second = Run(revoke);

  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  EXPECT_EQ(first.out, absl::StrCat("revoked grant ", grant.grant_id(), " on the record of ",
                                    owner.account.account_id(), "\n"));
  ASSERT_OK_AND_ASSIGN(v1::CheckAccessResponse access,
                       CheckAccess(delegate.account.account_id(), owner.account.account_id(),
                                   v1::PERMISSION_VIEW_APPOINTMENTS));
  EXPECT_FALSE(access.allowed());
  EXPECT_EQ(second.exit_code, 1) << Describe(second);
  EXPECT_THAT(second.err, HasSubstr("RevokeGrant failed: NOT_FOUND: "));
}

TEST_F(AdctlTest, RevokeGrantOfAnotherOwnerFailsWithNotFound) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Account stranger, CreateAccount(Stranger()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));

  AdctlResult result = Run(
      {"revoke-grant", "--owner=" + stranger.account_id(), "--grant=" + grant.grant_id()});

  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("RevokeGrant failed: NOT_FOUND: "));
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  EXPECT_EQ(grants.size(), 1);
}

TEST_F(AdctlTest, AuditListsAccountCreation) {
  const Person owner = Owner();
  AdctlResult created = Run(CreateAccountArgs(owner));
  ASSERT_EQ(created.exit_code, 0) << Describe(created);
  ASSERT_OK_AND_ASSIGN(SignedIn signed_in, SignIn(owner));
  const std::string owner_id = signed_in.account.account_id();

  AdctlResult table = Run({"audit", "--owner=" + owner_id, "--since=1h"});
  AdctlResult json = Run({"audit", "--owner=" + owner_id, "--json"});
  AdctlResult future = Run({"audit", "--owner=" + owner_id, "--since=2999-01-01T00:00:00Z"});

  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  EXPECT_THAT(table.out, HasSubstr("account.created"));
  EXPECT_THAT(table.out, HasSubstr("account:" + owner_id));
  ASSERT_EQ(json.exit_code, 0) << Describe(json);
  v1::ListAuditEventsResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &response).ok()) << json.out;
  bool found_creation = false;
  for (const v1::AuditEvent& event : response.events()) {
    EXPECT_EQ(event.owner_account_id(), owner_id);
    if (event.action() == "account.created") found_creation = true;
  }
  EXPECT_TRUE(found_creation) << json.out;
  ASSERT_EQ(future.exit_code, 0) << Describe(future);
  EXPECT_EQ(Lines(future.out).size(), 1) << future.out;
}

TEST_F(AdctlTest, EmailsWithoutFailuresPrintsHeaderOnly) {
  AdctlResult table = Run({"emails"});
  AdctlResult json = Run({"emails", "--json"});

  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  ASSERT_EQ(Lines(table.out).size(), 1) << table.out;
  EXPECT_THAT(table.out, HasSubstr("MESSAGE ID"));
  ASSERT_EQ(json.exit_code, 0) << Describe(json);
  v1::ListFailedEmailsResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &response).ok()) << json.out;
  EXPECT_EQ(response.emails_size(), 0);
}

TEST_F(AdctlTest, RetryUnknownEmailFailsWithNotFound) {
  AdctlResult result = Run({"retry-email", "--message=" + RandomUuid()});

  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("RetryEmail failed: NOT_FOUND: "));
}

}  // namespace
}  // namespace accessdelegation::e2e
