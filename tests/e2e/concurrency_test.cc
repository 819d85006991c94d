// Racing state changes: of concurrent calls that move one invitation out of a state,
// exactly one succeeds and the others fail with FAILED_PRECONDITION.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

using ::testing::SizeIs;

constexpr int kRacers = 20;

// Long enough for the outbox deliverer, which polls every 20 ms in these tests, to
// deliver any email still queued.
constexpr absl::Duration kDeliverySettleTime = absl::Milliseconds(500);

// Runs `call(i)` for i in [0, kRacers) on kRacers threads released together, and returns
// each call's status by i.
std::vector<absl::Status> RunTogether(const std::function<absl::Status(int)>& call) {
  absl::Barrier start(kRacers);
  std::vector<absl::Status> statuses(kRacers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRacers; ++i) {
    threads.emplace_back([&start, &statuses, &call, i] {
      start.Block();
      statuses[i] = call(i);
    });
  }
  for (std::thread& thread : threads) thread.join();
  return statuses;
}

int CountOk(const std::vector<absl::Status>& statuses) {
  int count = 0;
  for (const absl::Status& status : statuses) count += status.ok() ? 1 : 0;
  return count;
}

class ConcurrencyTest : public E2eTest {
 protected:
  // Returns kRacers clients that carry `bearer_token`, each on its own channel and already
  // connected by one GetAccount call, so that connection setup does not spread the racing
  // calls apart.
  std::vector<std::unique_ptr<sdk::Client>> ConnectRacers(const std::string& bearer_token) {
    std::vector<std::unique_ptr<sdk::Client>> clients;
    for (int i = 0; i < kRacers; ++i) {
      clients.push_back(Connect(bearer_token));
      clients.back()->GetAccount().IgnoreError();
    }
    return clients;
  }
};

TEST_F(ConcurrencyTest, ConcurrentAcceptsSucceedOnce) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  std::vector<std::unique_ptr<sdk::Client>> racers = ConnectRacers(delegate.session_token);

  std::vector<absl::Status> statuses =
      RunTogether([&](int i) { return Accept(*racers[i], sent.token).status(); });

  EXPECT_EQ(CountOk(statuses), 1);
  for (const absl::Status& status : statuses) {
    if (status.ok()) continue;
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  }
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_THAT(invitations, SizeIs(1));
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_ACCEPTED);
  EXPECT_EQ(invitations[0].invitee_account_id(), delegate.account.account_id());
  ASSERT_OK(WaitForEmailsTo(Owner().email, 1));
  absl::SleepFor(kDeliverySettleTime);
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> owner_emails,
                       WaitForEmailsTo(Owner().email, 1));
  EXPECT_EQ(owner_emails.size(), 1u);
}

TEST_F(ConcurrencyTest, ConcurrentConfirmsAndDenialsSucceedOnce) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, CreateAccountAndSignIn(Delegate()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  ASSERT_OK(Accept(*delegate.client, sent.token));
  const std::string invitation_id = sent.invitation.invitation_id();
  std::vector<std::unique_ptr<sdk::Client>> racers = ConnectRacers(owner.session_token);

  // Even racers confirm and odd racers deny.
  std::vector<absl::Status> statuses = RunTogether([&](int i) {
    if (i % 2 == 0) return Confirm(*racers[i], invitation_id).status();
    v1::DenyInvitationRequest request;
    request.set_invitation_id(invitation_id);
    return racers[i]->DenyInvitation(request).status();
  });

  ASSERT_EQ(CountOk(statuses), 1);
  bool confirm_won = false;
  for (int i = 0; i < kRacers; ++i) {
    if (statuses[i].ok()) {
      confirm_won = (i % 2 == 0);
      continue;
    }
    EXPECT_EQ(statuses[i].code(), absl::StatusCode::kFailedPrecondition) << statuses[i];
  }
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner.client));
  ASSERT_THAT(invitations, SizeIs(1));
  EXPECT_EQ(invitations[0].state(),
            confirm_won ? v1::INVITATION_STATE_CONFIRMED : v1::INVITATION_STATE_DENIED);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner.client));
  EXPECT_THAT(grants, SizeIs(confirm_won ? 1 : 0));
  ASSERT_OK_AND_ASSIGN(v1::CheckAccessResponse check,
                       CheckAccess(delegate.account.account_id(), owner.account.account_id(),
                                   v1::PERMISSION_VIEW_APPOINTMENTS));
  EXPECT_EQ(check.allowed(), confirm_won);
}

}  // namespace
}  // namespace accessdelegation::e2e
