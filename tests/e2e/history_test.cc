// AccessHistory through the SDK and a raw stub against in-process servers.

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "accessdelegation/v1/access_history.grpc.pb.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

class HistoryTest : public E2eTest {
 protected:
  // Returns the actions of the events in `response`, in order.
  static std::vector<std::string> Actions(const v1::ListAuditEventsResponse& response) {
    std::vector<std::string> actions;
    for (const v1::AuditEvent& event : response.events()) actions.push_back(event.action());
    return actions;
  }

  // Starts a second server on the same database, with the same tokens and key.
  absl::StatusOr<std::unique_ptr<server::Server>> StartSecondServer() {
    server::Config config;
    config.listen_address = "127.0.0.1:0";
    config.database_url = database_url();
    config.database_pool_size = 4;
    config.mail_dir = (temp_dir() / "second-mail").string();
    config.portal_base_url = kPortalBaseUrl;
    config.service_token_file = service_token_file().string();
    config.secret_key_file = secret_key_file().string();
    config.allow_insecure_plaintext = true;
    return server::Server::Start(config);
  }

  // Opens WatchAccessChanges on `target` with the service token.
  std::unique_ptr<grpc::ClientReader<v1::WatchAccessChangesResponse>> Watch(
      const std::string& target, const std::string& after_cursor, grpc::ClientContext& context) {
    stub_ =
        v1::AccessHistory::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    context.AddMetadata("authorization", std::string("Bearer ") + kServiceToken);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::WatchAccessChangesRequest request;
    request.set_after_cursor(after_cursor);
    return stub_->WatchAccessChanges(&context, request);
  }

  std::unique_ptr<v1::AccessHistory::Stub> stub_;
};

TEST_F(HistoryTest, OwnerListsOwnAccountEvents) {
  const Person owner = Owner();
  ASSERT_OK_AND_ASSIGN(SignedIn signed_in, CreateAccountAndSignIn(owner));
  v1::ChangePasswordRequest change;
  change.set_current_password(owner.password);
  change.set_new_password("a brand new passphrase");
  ASSERT_OK(signed_in.client->ChangePassword(change));

  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse response, signed_in.client->ListAuditEvents());

  EXPECT_EQ(Actions(response), (std::vector<std::string>{"account.password_changed",
                                                         "account.signed_in", "account.created"}));
  EXPECT_EQ(response.events(0).actor_kind(), v1::ACTOR_KIND_ACCOUNT);
  EXPECT_EQ(response.events(0).actor_id(), signed_in.account.account_id());
  EXPECT_EQ(response.events(2).actor_kind(), v1::ACTOR_KIND_SERVICE);
  EXPECT_TRUE(response.events(0).peer().empty());
  EXPECT_EQ(response.events(0).before_json().find("password_hash"), std::string::npos);
  EXPECT_EQ(response.events(0).after_json().find("argon2"), std::string::npos);
  EXPECT_TRUE(response.next_page_token().empty());
}

TEST_F(HistoryTest, FiltersByActorAndTime) {
  const Person owner = Owner();
  ASSERT_OK_AND_ASSIGN(SignedIn signed_in, CreateAccountAndSignIn(owner));
  const absl::Time middle = absl::Now();
  absl::SleepFor(absl::Milliseconds(20));
  ASSERT_OK(SignIn(owner));

  v1::ListAuditEventsRequest by_actor;
  by_actor.set_actor_id(signed_in.account.account_id());
  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse actor_page,
                       signed_in.client->ListAuditEvents(by_actor));
  v1::ListAuditEventsRequest before_middle;
  before_middle.mutable_end_time()->set_seconds(absl::ToUnixSeconds(middle));
  before_middle.mutable_end_time()->set_nanos(static_cast<int>(
      absl::ToInt64Nanoseconds(middle - absl::FromUnixSeconds(absl::ToUnixSeconds(middle)))));
  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse early_page,
                       signed_in.client->ListAuditEvents(before_middle));
  v1::ListAuditEventsRequest after_middle;
  *after_middle.mutable_start_time() = before_middle.end_time();
  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse late_page,
                       signed_in.client->ListAuditEvents(after_middle));

  EXPECT_EQ(Actions(actor_page),
            (std::vector<std::string>{"account.signed_in", "account.signed_in"}));
  EXPECT_EQ(Actions(early_page),
            (std::vector<std::string>{"account.signed_in", "account.created"}));
  EXPECT_EQ(Actions(late_page), (std::vector<std::string>{"account.signed_in"}));
}

TEST_F(HistoryTest, SessionCannotReadOtherOwner) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn other, CreateAccountAndSignIn(Stranger()));

  v1::ListAuditEventsRequest request;
  request.set_owner_account_id(other.account.account_id());
  const absl::Status status = owner.client->ListAuditEvents(request).status();

  EXPECT_TRUE(absl::IsPermissionDenied(status)) << status;
}

TEST_F(HistoryTest, ServiceListsAnyOwnerAndPages) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(CreateAccountAndSignIn(Stranger()));

  v1::ListAuditEventsRequest request;
  request.set_owner_account_id(owner.account.account_id());
  request.set_page_size(1);
  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse first, service().ListAuditEvents(request));
  request.set_page_token(first.next_page_token());
  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse second, service().ListAuditEvents(request));
  v1::ListAuditEventsRequest everyone;
  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse all, service().ListAuditEvents(everyone));

  EXPECT_EQ(Actions(first), (std::vector<std::string>{"account.signed_in"}));
  EXPECT_FALSE(first.events(0).peer().empty());
  EXPECT_EQ(Actions(second), (std::vector<std::string>{"account.created"}));
  EXPECT_TRUE(second.next_page_token().empty());
  EXPECT_EQ(all.events_size(), 4);
}

TEST_F(HistoryTest, TamperedPageTokenIsInvalid) {
  ASSERT_OK(CreateAccountAndSignIn(Owner()));
  v1::ListAuditEventsRequest request;
  request.set_page_size(1);
  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse first, service().ListAuditEvents(request));
  ASSERT_FALSE(first.next_page_token().empty());

  v1::ListAuditEventsRequest tampered = request;
  tampered.set_page_token("9" + first.next_page_token());
  v1::ListAuditEventsRequest other_filter = request;
  other_filter.set_actor_id("someone-else");
  other_filter.set_page_token(first.next_page_token());

  EXPECT_TRUE(absl::IsInvalidArgument(service().ListAuditEvents(tampered).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(service().ListAuditEvents(other_filter).status()));
}

TEST_F(HistoryTest, AuditRowsRejectChanges) {
  ASSERT_OK(CreateAccountAndSignIn(Owner()));

  pqxx::connection connection(database_url());
  pqxx::work txn(connection);
  EXPECT_THROW(txn.exec("UPDATE audit_events SET action = 'forged'"), pqxx::sql_error);
}

TEST_F(HistoryTest, WatchSeesRevokeFromSecondServer) {
  const Person delegate_person = Delegate();
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(delegate_person));
  ASSERT_OK(GrantAccess(*owner.client, delegate_person, *delegate.client, v1::ACCESS_LEVEL_FULL));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::Server> second, StartSecondServer());
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::WatchAccessChangesResponse>> reader =
      Watch(target(), "", context);
  reader->WaitForInitialMetadata();

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<sdk::Client> via_second,
                       [&]() -> absl::StatusOr<std::unique_ptr<sdk::Client>> {
                         sdk::ClientOptions options;
                         options.bearer_token = owner.session_token;
                         return sdk::Client::Connect(absl::StrCat("127.0.0.1:", second->port()),
                                                     options);
                       }());
  ASSERT_OK_AND_ASSIGN(v1::DeleteAccountResponse deleted, via_second->DeleteAccount());
  ASSERT_EQ(deleted.revoked_grant_count(), 1);
  v1::WatchAccessChangesResponse change;
  ASSERT_TRUE(reader->Read(&change));
  context.TryCancel();
  reader->Finish();
  second->Shutdown(absl::ZeroDuration());

  EXPECT_EQ(change.change(), v1::GRANT_CHANGE_TYPE_REVOKED);
  EXPECT_EQ(change.owner_account_id(), owner.account.account_id());
  EXPECT_EQ(change.delegate_account_id(), delegate.account.account_id());
  EXPECT_EQ(change.access_level(), v1::ACCESS_LEVEL_FULL);
  EXPECT_FALSE(change.cursor().empty());
}

TEST_F(HistoryTest, ResumeReplaysOnlyLaterChanges) {
  const Person delegate_person = Delegate();
  const Person stranger_person = Stranger();
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(delegate_person));
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(stranger_person));
  ASSERT_OK(GrantAccess(*owner.client, delegate_person, *delegate.client, v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(GrantAccess(*owner.client, stranger_person, *stranger.client, v1::ACCESS_LEVEL_FULL));
  v1::DeleteAccountRequest delete_delegate;
  delete_delegate.set_account_id(delegate.account.account_id());
  ASSERT_OK(service().DeleteAccount(delete_delegate));
  v1::DeleteAccountRequest delete_stranger;
  delete_stranger.set_account_id(stranger.account.account_id());
  ASSERT_OK(service().DeleteAccount(delete_stranger));

  grpc::ClientContext first_context;
  auto first_reader = Watch(target(), "0", first_context);
  // Reads up to the two revokes; CREATED changes, when recorded, come before them.
  std::vector<v1::WatchAccessChangesResponse> revokes;
  v1::WatchAccessChangesResponse change;
  while (revokes.size() < 2 && first_reader->Read(&change)) {
    if (change.change() == v1::GRANT_CHANGE_TYPE_REVOKED) revokes.push_back(change);
  }
  first_context.TryCancel();
  first_reader->Finish();
  ASSERT_EQ(revokes.size(), 2u);
  const std::string resume_after = revokes[0].cursor();

  grpc::ClientContext second_context;
  auto second_reader = Watch(target(), resume_after, second_context);
  v1::WatchAccessChangesResponse replayed;
  ASSERT_TRUE(second_reader->Read(&replayed));
  second_context.TryCancel();
  second_reader->Finish();

  EXPECT_EQ(replayed.cursor(), revokes[1].cursor());
  EXPECT_EQ(replayed.change(), v1::GRANT_CHANGE_TYPE_REVOKED);
  EXPECT_EQ(replayed.delegate_account_id(), stranger.account.account_id());
}

TEST_F(HistoryTest, WatchBadCursorIsInvalid) {
  grpc::ClientContext context;
  auto reader = Watch(target(), "not-a-cursor", context);
  v1::WatchAccessChangesResponse change;

  EXPECT_FALSE(reader->Read(&change));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace accessdelegation::e2e
