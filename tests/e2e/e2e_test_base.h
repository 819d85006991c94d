#ifndef ACCESSDELEGATION_TESTS_E2E_E2E_TEST_BASE_H_
#define ACCESSDELEGATION_TESTS_E2E_E2E_TEST_BASE_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/access_delegation.pb.h"
#include "accessdelegation/v1/accounts.pb.h"
#include "accessdelegation/v1/resources.pb.h"
#include "gtest/gtest.h"
#include "sdk/client.h"
#include "server/server.h"
#include "tests/support/test_database.h"
#include "tools/walkthrough/mailbox.h"

// Evaluates `expr`, an absl::StatusOr<T>, asserts that it is OK and moves its value into `lhs`,
// which may be a declaration. Usable only in functions that return void.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  E2E_ASSERT_OK_AND_ASSIGN_IMPL(E2E_CONCAT(e2e_status_or_, __LINE__), lhs, expr)
#define E2E_ASSERT_OK_AND_ASSIGN_IMPL(status_or, lhs, expr) \
  auto status_or = (expr);                                  \
  ASSERT_TRUE(status_or.ok()) << status_or.status();        \
  lhs = std::move(status_or).value()
#define E2E_CONCAT(a, b) E2E_CONCAT_INNER(a, b)
#define E2E_CONCAT_INNER(a, b) a##b

// Asserts that `expr`, an absl::Status or absl::StatusOr<T>, is OK.
#define ASSERT_OK(expr) ASSERT_TRUE(::accessdelegation::e2e::IsOk(expr))
// Expects that `expr`, an absl::Status or absl::StatusOr<T>, is OK.
#define EXPECT_OK(expr) EXPECT_TRUE(::accessdelegation::e2e::IsOk(expr))

namespace accessdelegation::e2e {

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Succeeds when `value`, an absl::Status or absl::StatusOr<T>, is OK, and otherwise fails
// with the status.
template <typename T>
::testing::AssertionResult IsOk(const T& value) {
  const absl::Status& status = StatusOf(value);
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << status;
}

// The service token every test server accepts; its SHA-256 is in the service-token file.
inline constexpr char kServiceToken[] = "e2e-service-token-7f3c9a1d5b2e4f60a8c7d9e1b3f5a7c9";

// Base URL the test servers put in invitation links.
inline constexpr char kPortalBaseUrl[] = "https://portal.example.test";

// How long helpers wait for an email to be delivered.
inline constexpr absl::Duration kMailTimeout = absl::Seconds(10);

// Person is what a test needs to create, invite and sign in one account.
struct Person {
  std::string email;
  std::string first_name;
  std::string last_name;
  std::string phone_number = "+14155550123";
  std::string password;
};

// Returns a Person with these fields.
Person MakePerson(std::string email, std::string first_name, std::string last_name,
                  std::string phone_number, std::string password);

// Returns the owner that most tests use.
Person Owner();
// Returns the person that most tests invite.
Person Delegate();
// Returns a person unrelated to Owner() and Delegate().
Person Stranger();

// SignedIn is a client whose bearer token is the session token of `account`.
struct SignedIn {
  std::unique_ptr<sdk::Client> client;
  v1::Account account;
  std::string session_token;
};

// SentInvitation is a created invitation with the token read from its email.
struct SentInvitation {
  v1::Invitation invitation;
  std::string token;
};

// Returns every Permission value except PERMISSION_UNSPECIFIED.
std::vector<v1::Permission> AllPermissions();

// Returns whether `level` includes `permission`, as resources.proto defines the levels.
bool LevelIncludes(v1::AccessLevel level, v1::Permission permission);

// Returns a random UUID (version 4) in canonical lower-case form.
std::string RandomUuid();

// Returns a random token in the server's format (32 random bytes, base64url) that no
// server issued.
std::string RandomToken();

// Returns the lower-case hex SHA-256 of `data`.
std::string Sha256Hex(const std::string& data);

// Returns whether `text` contains `part`, ignoring ASCII letter case.
bool ContainsIgnoringCase(absl::string_view text, absl::string_view part);

// Returns the value of the environment variable `name`, or an empty string when unset.
std::string GetEnv(const char* name);

// ScopedTempDir is a fresh directory under the system temp directory, removed with its
// contents on destruction.
class ScopedTempDir {
 public:
  ScopedTempDir();
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// E2eTest starts, for each test, an in-process server on 127.0.0.1 against a fresh
// database, with its own mail directory, service-token file and secret key file, and
// offers helpers that drive the server through the SDK.
//
// Helpers return the first failed call's status, so that a test can assert on it.
class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Changes the settings of the test's server before it starts. The default keeps them.
  virtual void ConfigureServer(server::Config& config) {}

  // Returns "127.0.0.1:<port>" of the running server.
  std::string target() const;

  // Returns a new client that sends `bearer_token`, or no token when it is empty.
  std::unique_ptr<sdk::Client> Connect(const std::string& bearer_token = "") const;

  // Returns the client that sends kServiceToken.
  sdk::Client& service() { return *service_client_; }

  // Creates an account for `person` with the service token.
  absl::StatusOr<v1::Account> CreateAccount(const Person& person);

  // Signs in as `person` and returns a client that carries the session token.
  absl::StatusOr<SignedIn> SignIn(const Person& person);

  // Creates an account for `person` and signs in.
  absl::StatusOr<SignedIn> CreateAccountAndSignIn(const Person& person);

  // Invites `invitee` at `level` as the owner signed in on `owner`, then reads the
  // invitation token from the email sent to the invitee.
  // NOTE: The token comes from the newest invitation email to the invitee that has arrived,
  // so a test that invites the same address twice must wait for the second email itself.
  absl::StatusOr<SentInvitation> Invite(sdk::Client& owner, const Person& invitee,
                                        v1::AccessLevel level);

  // Accepts the invitation behind `token` as the account signed in on `invitee`.
  absl::StatusOr<v1::Invitation> Accept(sdk::Client& invitee, const std::string& token);

  // Confirms an accepted invitation as the owner signed in on `owner`.
  absl::StatusOr<v1::ConfirmInvitationResponse> Confirm(sdk::Client& owner,
                                                        const std::string& invitation_id);

  // Invites `delegate_person`, accepts as `delegate` and confirms as `owner`: the
  // delegate then holds a grant at `level` on the owner's record.
  absl::StatusOr<v1::Grant> GrantAccess(sdk::Client& owner, const Person& delegate_person,
                                        sdk::Client& delegate, v1::AccessLevel level);

  // Calls CheckAccess with the service token.
  absl::StatusOr<v1::CheckAccessResponse> CheckAccess(const std::string& account_id,
                                                      const std::string& owner_account_id,
                                                      v1::Permission permission);

  // Lists the invitations of the owner signed in on `owner`, in every state.
  absl::StatusOr<std::vector<v1::Invitation>> ListInvitations(sdk::Client& owner);

  // Lists the grants on the record of the owner signed in on `owner`.
  absl::StatusOr<std::vector<v1::Grant>> ListGrants(sdk::Client& owner);

  // Waits until an invitation email to `recipient` is delivered and returns its token.
  absl::StatusOr<std::string> ReadInvitationToken(const std::string& recipient);

  // Waits until at least `count` emails to `recipient` are delivered and returns every
  // delivered email to `recipient`, oldest first.
  absl::StatusOr<std::vector<walkthrough::Email>> WaitForEmailsTo(const std::string& recipient,
                                                                  size_t count);

  // Moves the expire_time of the invitation `invitation_id` one minute into the past,
  // straight in the test database.
  absl::Status ExpireInvitation(const std::string& invitation_id);

  // Runs `sql` with the parameters `parameters` in the test database and returns the
  // rows as text (NULL as an empty string), so that a test can move timestamps rather
  // than wait.
  absl::StatusOr<std::vector<std::vector<std::string>>> RunSql(
      const std::string& sql, const std::vector<std::string>& parameters = {});

  const std::string& database_url() const { return database_->url(); }
  const std::filesystem::path& temp_dir() const { return temp_dir_->path(); }
  const std::filesystem::path& mail_dir() const { return mail_dir_; }
  const std::filesystem::path& service_token_file() const { return service_token_file_; }
  const std::filesystem::path& secret_key_file() const { return secret_key_file_; }

 private:
  std::unique_ptr<testing::TestDatabase> database_;
  std::unique_ptr<ScopedTempDir> temp_dir_;
  std::filesystem::path mail_dir_;
  std::filesystem::path service_token_file_;
  std::filesystem::path secret_key_file_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<sdk::Client> service_client_;
};

}  // namespace accessdelegation::e2e

#endif  // ACCESSDELEGATION_TESTS_E2E_E2E_TEST_BASE_H_
