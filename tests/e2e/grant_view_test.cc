// End-to-end tests of the in-memory grant view behind CheckAccess. Every change must reach
// the next check on the server that made it, and a check on another server that carries
// the change's consistency token. The view must survive a lost listener connection, stay
// within its size bound and install no entry that raced with a change.

#include <pqxx/pqxx>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/grant_view.h"
#include "storage/change_listener.h"
#include "storage/store.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

// How long a test waits for a server to converge on another server's change. Generous,
// since only correctness is tested, never speed.
constexpr absl::Duration kConvergenceTimeout = absl::Seconds(20);

class GrantViewTest : public E2eTest {
 protected:
  void TearDown() override {
    second_service_.reset();
    if (second_server_ != nullptr) {
      second_server_->Shutdown(absl::Seconds(1));
      second_server_->Wait();
      second_server_.reset();
    }
    E2eTest::TearDown();
  }

  // Starts a second server on the same database and returns a service client of it; null
  // if the server did not start.
  sdk::Client* StartSecondServer() {
    server::Config config;
    config.listen_address = "127.0.0.1:0";
    config.database_url = database_url();
    config.database_pool_size = 4;
    config.mail_dir = (temp_dir() / "second-mail").string();
    config.portal_base_url = kPortalBaseUrl;
    config.service_token_file = service_token_file().string();
    config.secret_key_file = secret_key_file().string();
    absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(config);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    second_server_ = std::move(server).value();
    sdk::ClientOptions options;
    options.default_deadline = absl::Seconds(20);
    options.bearer_token = kServiceToken;
    second_service_ =
        sdk::Client::Connect(absl::StrCat("127.0.0.1:", second_server_->port()), options);
    return second_service_.get();
  }

  static v1::CheckAccessRequest MakeCheck(const std::string& account_id,
                                          const std::string& owner_account_id,
                                          const std::string& consistency_token = "") {
    v1::CheckAccessRequest request;
    request.set_account_id(account_id);
    request.set_owner_account_id(owner_account_id);
    request.set_permission(v1::PERMISSION_VIEW_BILLING);
    request.set_consistency_token(consistency_token);
    return request;
  }

  // Runs `sql` with `id` as $1 straight in the test database.
  void ExecuteWithId(const std::string& sql, const std::string& id) {
    pqxx::connection connection(database_url());
    pqxx::work transaction(connection);
    transaction.exec_params(sql, id);
    transaction.commit();
  }

  // Returns the process id of the backend of the server's change listener; 0 if none.
  int ListenerBackendPid() {
    pqxx::connection connection(database_url());
    pqxx::work transaction(connection);
    const pqxx::result result = transaction.exec_params(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
        "AND datname = current_database()",
        storage::kListenerApplicationName);
    return result.empty() ? 0 : result[0][0].as<int>();
  }

  std::unique_ptr<server::Server> second_server_;
  std::unique_ptr<sdk::Client> second_service_;
};

bool Allowed(const absl::StatusOr<v1::CheckAccessResponse>& response) {
  return response.ok() && response->allowed();
}

TEST_F(GrantViewTest, RevokeSeenByNextCheck) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  const v1::CheckAccessRequest check =
      MakeCheck(delegate.account.account_id(), owner.account.account_id());
  absl::StatusOr<v1::CheckAccessResponse> before = service().CheckAccess(check);

  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  ASSERT_OK_AND_ASSIGN(v1::RevokeGrantResponse revoked, owner.client->RevokeGrant(revoke));
  absl::StatusOr<v1::CheckAccessResponse> after = service().CheckAccess(check);

  EXPECT_TRUE(Allowed(before));
  EXPECT_FALSE(revoked.consistency_token().empty());
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
  EXPECT_EQ(after->reason(), v1::CheckAccessResponse::REASON_NO_GRANT);
}

TEST_F(GrantViewTest, LevelChangeSeenByNextCheck) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  const v1::CheckAccessRequest check =
      MakeCheck(delegate.account.account_id(), owner.account.account_id());
  absl::StatusOr<v1::CheckAccessResponse> before = service().CheckAccess(check);

  v1::UpdateGrantRequest update;
  update.set_grant_id(grant.grant_id());
  update.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  ASSERT_OK_AND_ASSIGN(v1::UpdateGrantResponse updated, owner.client->UpdateGrant(update));
  absl::StatusOr<v1::CheckAccessResponse> after = service().CheckAccess(check);

  EXPECT_TRUE(Allowed(before));
  EXPECT_FALSE(updated.consistency_token().empty());
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
  EXPECT_EQ(after->reason(), v1::CheckAccessResponse::REASON_LEVEL_EXCLUDES_PERMISSION);
  EXPECT_EQ(after->access_level(), v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
}

TEST_F(GrantViewTest, LeaveSeenByNextCheck) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  const v1::CheckAccessRequest check =
      MakeCheck(delegate.account.account_id(), owner.account.account_id());
  absl::StatusOr<v1::CheckAccessResponse> before = service().CheckAccess(check);

  v1::LeaveGrantRequest leave;
  leave.set_grant_id(grant.grant_id());
  ASSERT_OK_AND_ASSIGN(v1::LeaveGrantResponse left, delegate.client->LeaveGrant(leave));
  absl::StatusOr<v1::CheckAccessResponse> after = service().CheckAccess(check);

  EXPECT_TRUE(Allowed(before));
  EXPECT_FALSE(left.consistency_token().empty());
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
}

TEST_F(GrantViewTest, DelegateDeletionSeenByNextCheck) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK(GrantAccess(*owner.client, Delegate(), *delegate.client, v1::ACCESS_LEVEL_FULL));
  const v1::CheckAccessRequest check =
      MakeCheck(delegate.account.account_id(), owner.account.account_id());
  const v1::CheckAccessRequest self_check =
      MakeCheck(delegate.account.account_id(), delegate.account.account_id());
  absl::StatusOr<v1::CheckAccessResponse> before = service().CheckAccess(check);
  absl::StatusOr<v1::CheckAccessResponse> self_before = service().CheckAccess(self_check);

  ASSERT_OK_AND_ASSIGN(v1::DeleteAccountResponse deleted, delegate.client->DeleteAccount());
  absl::StatusOr<v1::CheckAccessResponse> after = service().CheckAccess(check);
  absl::StatusOr<v1::CheckAccessResponse> self_after = service().CheckAccess(self_check);

  EXPECT_TRUE(Allowed(before));
  EXPECT_TRUE(Allowed(self_before));
  EXPECT_FALSE(deleted.consistency_token().empty());
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
  ASSERT_OK(self_after);
  EXPECT_FALSE(self_after->allowed());
}

TEST_F(GrantViewTest, OwnerDeletionSeenByNextCheck) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK(GrantAccess(*owner.client, Delegate(), *delegate.client, v1::ACCESS_LEVEL_FULL));
  const v1::CheckAccessRequest check =
      MakeCheck(delegate.account.account_id(), owner.account.account_id());
  const v1::CheckAccessRequest self_check =
      MakeCheck(owner.account.account_id(), owner.account.account_id());
  absl::StatusOr<v1::CheckAccessResponse> before = service().CheckAccess(check);
  absl::StatusOr<v1::CheckAccessResponse> self_before = service().CheckAccess(self_check);

  ASSERT_OK(owner.client->DeleteAccount());
  absl::StatusOr<v1::CheckAccessResponse> after = service().CheckAccess(check);
  absl::StatusOr<v1::CheckAccessResponse> self_after = service().CheckAccess(self_check);

  EXPECT_TRUE(Allowed(before));
  ASSERT_OK(self_before);
  EXPECT_EQ(self_before->reason(), v1::CheckAccessResponse::REASON_OWNER);
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
  ASSERT_OK(self_after);
  EXPECT_FALSE(self_after->allowed());
  EXPECT_EQ(self_after->reason(), v1::CheckAccessResponse::REASON_NO_GRANT);
}

TEST_F(GrantViewTest, ExpirySeenByNextCheck) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  const absl::Time end = absl::Now() + absl::Seconds(2);
  v1::UpdateGrantRequest update;
  update.set_grant_id(grant.grant_id());
  update.set_access_level(v1::ACCESS_LEVEL_FULL);
  update.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(end));
  ASSERT_OK(owner.client->UpdateGrant(update));
  const v1::CheckAccessRequest check =
      MakeCheck(delegate.account.account_id(), owner.account.account_id());
  absl::StatusOr<v1::CheckAccessResponse> before = service().CheckAccess(check);

  // No sweep runs in between: the view itself must honour the end.
  absl::SleepFor(end - absl::Now() + absl::Milliseconds(100));
  absl::StatusOr<v1::CheckAccessResponse> after = service().CheckAccess(check);

  EXPECT_TRUE(Allowed(before));
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
  EXPECT_EQ(after->reason(), v1::CheckAccessResponse::REASON_NO_GRANT);
}

TEST_F(GrantViewTest, TokenCarriesRevokeToOtherServer) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  sdk::Client* other_server = StartSecondServer();
  ASSERT_NE(other_server, nullptr);
  sdk::Client& other = *other_server;
  const v1::CheckAccessRequest check =
      MakeCheck(delegate.account.account_id(), owner.account.account_id());
  absl::StatusOr<v1::CheckAccessResponse> before = other.CheckAccess(check);

  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  ASSERT_OK_AND_ASSIGN(v1::RevokeGrantResponse revoked, owner.client->RevokeGrant(revoke));
  absl::StatusOr<v1::CheckAccessResponse> after = other.CheckAccess(MakeCheck(
      delegate.account.account_id(), owner.account.account_id(), revoked.consistency_token()));

  EXPECT_TRUE(Allowed(before));
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
  EXPECT_FALSE(after->consistency_token().empty());
}

TEST_F(GrantViewTest, OtherServerConvergesWithoutToken) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  sdk::Client* other_server = StartSecondServer();
  ASSERT_NE(other_server, nullptr);
  sdk::Client& other = *other_server;
  const v1::CheckAccessRequest check =
      MakeCheck(delegate.account.account_id(), owner.account.account_id());
  absl::StatusOr<v1::CheckAccessResponse> before = other.CheckAccess(check);

  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  ASSERT_OK(owner.client->RevokeGrant(revoke));
  bool denied = false;
  const absl::Time deadline = absl::Now() + kConvergenceTimeout;
  while (!denied && absl::Now() < deadline) {
    absl::StatusOr<v1::CheckAccessResponse> after = other.CheckAccess(check);
    ASSERT_OK(after);
    denied = !after->allowed();
    if (!denied) absl::SleepFor(absl::Milliseconds(10));
  }

  EXPECT_TRUE(Allowed(before));
  EXPECT_TRUE(denied) << "the second server still allows access "
                      << absl::FormatDuration(kConvergenceTimeout) << " after the revoke";
}

TEST_F(GrantViewTest, NothingStaleAfterListenerReconnects) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  const v1::CheckAccessRequest check =
      MakeCheck(delegate.account.account_id(), owner.account.account_id());
  absl::StatusOr<v1::CheckAccessResponse> before = service().CheckAccess(check);
  const int old_pid = ListenerBackendPid();
  ASSERT_NE(old_pid, 0) << "no backend has application_name "
                        << storage::kListenerApplicationName;

  // The revoke goes straight to the database while the listener's connection is ended, so
  // its notification may never reach this server.
  ExecuteWithId("SELECT pg_terminate_backend($1::int)", std::to_string(old_pid));
  ExecuteWithId("UPDATE grants SET revoke_time = now(), end_reason = 'REVOKED' WHERE id = $1",
                grant.grant_id());
  int new_pid = 0;
  const absl::Time deadline = absl::Now() + kConvergenceTimeout;
  while ((new_pid == 0 || new_pid == old_pid) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    new_pid = ListenerBackendPid();
  }
  absl::StatusOr<v1::CheckAccessResponse> after = service().CheckAccess(check);

  EXPECT_TRUE(Allowed(before));
  ASSERT_NE(new_pid, 0) << "the listener did not reconnect";
  EXPECT_NE(new_pid, old_pid);
  ASSERT_OK(after);
  EXPECT_FALSE(after->allowed());
}

TEST_F(GrantViewTest, MalformedTokenIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));

  absl::StatusOr<v1::CheckAccessResponse> response = service().CheckAccess(
      MakeCheck(owner.account.account_id(), owner.account.account_id(), "not-a-token"));

  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(response.status().message(), "consistency_token"))
      << response.status();
}

// GrantViewStoreTest drives a GrantView directly over a store on the test database.
class GrantViewStoreTest : public GrantViewTest {
 protected:
  void SetUp() override {
    GrantViewTest::SetUp();
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenPostgresStore(database_url(), 2);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }

  std::unique_ptr<storage::Store> store_;
};

TEST_F(GrantViewStoreTest, SizeStaysWithinBound) {
  server::GrantView::Options options;
  options.max_entries = 5;
  server::GrantView view(store_.get(), nullptr, options);
  view.OnListenerReset(absl::OkStatus());

  for (int i = 0; i < 200; ++i) {
    ASSERT_OK(view.FindGrant(RandomUuid(), RandomUuid(), 0, absl::Now()));
    ASSERT_LE(view.size(), 5u) << "after " << i + 1 << " distinct checks";
  }

  EXPECT_GT(view.size(), 0u);
}

TEST_F(GrantViewStoreTest, LoadRacingRevokeInstallsNothing) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  const std::string owner_id = owner.account.account_id();
  const std::string delegate_id = delegate.account.account_id();
  server::GrantView view(store_.get(), nullptr, server::GrantView::Options());
  view.OnListenerReset(absl::OkStatus());
  // Between the load's read and its install, the grant is revoked and its notification
  // handled, as a listener would.
  bool raced = false;
  view.SetLoadHookForTesting([&] {
    if (raced) return;
    raced = true;
    ExecuteWithId("UPDATE grants SET revoke_time = now(), end_reason = 'REVOKED' WHERE id = $1",
                  grant.grant_id());
    view.OnGrantChange(owner_id, delegate_id);
  });

  absl::StatusOr<server::GrantView::GrantAnswer> racing =
      view.FindGrant(owner_id, delegate_id, 0, absl::Now());
  absl::StatusOr<server::GrantView::GrantAnswer> next =
      view.FindGrant(owner_id, delegate_id, 0, absl::Now());

  ASSERT_OK(racing);
  EXPECT_TRUE(racing->grant.has_value()) << "the racing load read before the revoke";
  ASSERT_OK(next);
  EXPECT_FALSE(next->grant.has_value()) << "the racing load installed a stale entry";
}

TEST_F(GrantViewStoreTest, NothingServedWhileNotListening) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(v1::Grant grant, GrantAccess(*owner.client, Delegate(), *delegate.client,
                                                    v1::ACCESS_LEVEL_FULL));
  const std::string owner_id = owner.account.account_id();
  const std::string delegate_id = delegate.account.account_id();
  server::GrantView view(store_.get(), nullptr, server::GrantView::Options());
  view.OnListenerReset(absl::OkStatus());
  ASSERT_OK(view.FindGrant(owner_id, delegate_id, 0, absl::Now()));

  view.OnListenerReset(absl::UnavailableError("connection lost"));
  ExecuteWithId("UPDATE grants SET revoke_time = now(), end_reason = 'REVOKED' WHERE id = $1",
                grant.grant_id());
  absl::StatusOr<server::GrantView::GrantAnswer> after =
      view.FindGrant(owner_id, delegate_id, 0, absl::Now());

  EXPECT_EQ(view.size(), 0u);
  ASSERT_OK(after);
  EXPECT_FALSE(after->grant.has_value());
}

TEST(ConsistencyTokenTest, RoundTrips) {
  const uint64_t position = 0x16B3748;

  absl::StatusOr<uint64_t> parsed =
      server::ParseConsistencyToken("consistency_token", server::RenderConsistencyToken(position));

  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, position);
}

TEST(ConsistencyTokenTest, RejectsMalformed) {
  for (const char* token : {"wal.", "wal.123", "wal.00000000016B374G", "00000000016B3748",
                            "wal.00000000016B37480", "wal.-0000000016B3748"}) {
    absl::StatusOr<uint64_t> parsed = server::ParseConsistencyToken("consistency_token", token);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << token;
  }
}

}  // namespace
}  // namespace accessdelegation::e2e
