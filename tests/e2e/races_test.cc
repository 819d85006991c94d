// Races between two calls on the same record, each pair run for many rounds against a
// real server and database: in every round exactly one call takes effect, the other fails
// with the status its contract names, and the tables still satisfy their invariants.

#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

using ::testing::AnyOf;

constexpr int kRounds = 50;
constexpr int kRetryRounds = 20;

// Statuses of the two calls of one round, in the order the calls were given.
struct PairResult {
  absl::Status first;
  absl::Status second;

  int ok_count() const { return (first.ok() ? 1 : 0) + (second.ok() ? 1 : 0); }
  // The status of the call that failed; OK when both or neither failed.
  absl::Status loser() const { return first.ok() ? second : first; }
};

// Runs `first` and `second` on two threads released together.
PairResult RunPair(const std::function<absl::Status()>& first,
                   const std::function<absl::Status()>& second) {
  absl::Barrier start(2);
  PairResult result;
  std::thread thread([&] {
    start.Block();
    result.second = second();
  });
  start.Block();
  result.first = first();
  thread.join();
  return result;
}

class RacesTest : public E2eTest {
 protected:
  // Every round invites again and half the rounds leave a dead token behind, so the
  // per-owner invitation cap and the per-address dead-token limit would stop the suite
  // before its 50 rounds.
  void ConfigureServer(server::Config& config) override {
    config.invitations_per_owner_per_day = 0;
    config.peer_token_failure_limit = 0;
  }

  void SetUp() override {
    E2eTest::SetUp();
    if (HasFatalFailure()) return;

    absl::StatusOr<SignedIn> owner = CreateAccountAndSignIn(Owner());
    ASSERT_TRUE(owner.ok()) << owner.status();
    owner_ = std::move(owner).value();
    absl::StatusOr<SignedIn> delegate = CreateAccountAndSignIn(Delegate());
    ASSERT_TRUE(delegate.ok()) << delegate.status();
    delegate_ = std::move(delegate).value();

    // Each racer has its own channel, already connected, so that connection setup does
    // not spread the racing calls apart.
    owner_racer_ = Connect(owner_.session_token);
    delegate_racer_ = Connect(delegate_.session_token);
    owner_racer_->GetAccount().IgnoreError();
    delegate_racer_->GetAccount().IgnoreError();

    database_ = std::make_unique<pqxx::connection>(database_url());
  }

  void TearDown() override {
    database_.reset();
    E2eTest::TearDown();
  }

  // Invites Delegate() as Owner() and returns the invitation with the token of its email.
  absl::StatusOr<SentInvitation> InviteDelegate() {
    v1::CreateInvitationRequest request;
    request.set_first_name(Delegate().first_name);
    request.set_last_name(Delegate().last_name);
    request.set_email(Delegate().email);
    request.set_access_level(v1::ACCESS_LEVEL_FULL);
    absl::StatusOr<v1::CreateInvitationResponse> response =
        owner_.client->CreateInvitation(request);
    if (!response.ok()) return response.status();

    absl::StatusOr<std::string> token = NextDelegateToken();
    if (!token.ok()) return token.status();
    return SentInvitation{response->invitation(), *std::move(token)};
  }

  // Waits for an invitation email to Delegate() with a token not returned before, and
  // returns that token. Every round invites the same address, so the newest email alone
  // would not tell the rounds apart.
  absl::StatusOr<std::string> NextDelegateToken() {
    const absl::Time deadline = absl::Now() + kMailTimeout;
    while (absl::Now() < deadline) {
      absl::StatusOr<std::vector<walkthrough::Email>> emails =
          walkthrough::ReadEmails(mail_dir().string());
      if (!emails.ok()) return emails.status();
      for (const walkthrough::Email& email : *emails) {
        if (!email.IsAddressedTo(Delegate().email)) continue;
        std::optional<std::string> token = walkthrough::FindInvitationToken(email.text);
        if (!token.has_value() || seen_tokens_.count(*token) > 0) continue;
        seen_tokens_.insert(*token);
        return *token;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("no new invitation email to ", Delegate().email, " within ",
                     absl::FormatDuration(kMailTimeout)));
  }

  // Ends a PENDING or ACCEPTED invitation, so that the next round may invite again.
  absl::Status EndInvitation(const std::string& invitation_id, v1::InvitationState state) {
    if (state == v1::INVITATION_STATE_ACCEPTED) {
      v1::DenyInvitationRequest request;
      request.set_invitation_id(invitation_id);
      return owner_.client->DenyInvitation(request).status();
    }
    v1::CancelInvitationRequest request;
    request.set_invitation_id(invitation_id);
    return owner_.client->CancelInvitation(request).status();
  }

  absl::Status AcceptAs(sdk::Client& client, const std::string& token) {
    return Accept(client, token).status();
  }

  absl::Status CancelAs(sdk::Client& client, const v1::Invitation& invitation) {
    v1::CancelInvitationRequest request;
    request.set_invitation_id(invitation.invitation_id());
    request.set_etag(invitation.etag());
    return client.CancelInvitation(request).status();
  }

  absl::Status ResendAs(sdk::Client& client, const v1::Invitation& invitation) {
    v1::ResendInvitationRequest request;
    request.set_invitation_id(invitation.invitation_id());
    request.set_etag(invitation.etag());
    return client.ResendInvitation(request).status();
  }

  std::string InvitationState(const std::string& invitation_id) {
    pqxx::nontransaction txn(*database_);
    return txn.exec_params1("SELECT state FROM invitations WHERE id = $1", invitation_id)[0]
        .as<std::string>();
  }

  // Returns how many audit events record `action` on the record `target_id`.
  int AuditCount(const std::string& target_id, const std::string& action) {
    pqxx::nontransaction txn(*database_);
    return txn
        .exec_params1("SELECT count(*) FROM audit_events WHERE target_id = $1 AND action = $2",
                      target_id, action)[0]
        .as<int>();
  }

  int LiveGrantCount() {
    pqxx::nontransaction txn(*database_);
    return txn
        .exec_params1(
            "SELECT count(*) FROM grants WHERE owner_account_id = $1 AND delegate_account_id = "
            "$2 AND revoke_time IS NULL",
            owner_.account.account_id(), delegate_.account.account_id())[0]
        .as<int>();
  }

  int LiveInvitationCount() {
    pqxx::nontransaction txn(*database_);
    return txn
        .exec_params1(
            "SELECT count(*) FROM invitations WHERE owner_account_id = $1 AND "
            "email_normalized = $2 AND state IN ('PENDING', 'ACCEPTED') AND expire_time > now()",
            owner_.account.account_id(), Delegate().email)[0]
        .as<int>();
  }

  // Checks the invariants that hold across all owners after any round: at most one live
  // invitation per owner and email, and at most one live grant per owner and delegate.
  void ExpectTableInvariants(int round) {
    pqxx::nontransaction txn(*database_);
    EXPECT_EQ(txn.exec1("SELECT count(*) FROM (SELECT 1 FROM invitations WHERE state IN "
                        "('PENDING', 'ACCEPTED') GROUP BY owner_account_id, email_normalized "
                        "HAVING count(*) > 1) AS duplicates")[0]
                  .as<int>(),
              0)
        << "round " << round << ": an owner has two live invitations for one email";
    EXPECT_EQ(txn.exec1("SELECT count(*) FROM (SELECT 1 FROM grants WHERE revoke_time IS NULL "
                        "GROUP BY owner_account_id, delegate_account_id HAVING count(*) > 1) "
                        "AS duplicates")[0]
                  .as<int>(),
              0)
        << "round " << round << ": a delegate has two live grants on one record";
  }

  SignedIn owner_;
  SignedIn delegate_;
  std::unique_ptr<sdk::Client> owner_racer_;
  std::unique_ptr<sdk::Client> delegate_racer_;
  std::unique_ptr<pqxx::connection> database_;
  std::set<std::string> seen_tokens_;
};

TEST_F(RacesTest, TwoAcceptsSucceedOnce) {
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_OK_AND_ASSIGN(SentInvitation sent, InviteDelegate());
    const std::string id = sent.invitation.invitation_id();

    const PairResult result = RunPair([&] { return AcceptAs(*delegate_.client, sent.token); },
                                      [&] { return AcceptAs(*delegate_racer_, sent.token); });

    ASSERT_EQ(result.ok_count(), 1) << "round " << round << ": " << result.first << " / "
                                    << result.second;
    EXPECT_EQ(result.loser().code(), absl::StatusCode::kFailedPrecondition) << result.loser();
    EXPECT_FALSE(result.loser().message().empty());
    EXPECT_EQ(InvitationState(id), "ACCEPTED") << "round " << round;
    EXPECT_EQ(AuditCount(id, "invitation.accepted"), 1) << "round " << round;
    ExpectTableInvariants(round);
    ASSERT_OK(EndInvitation(id, v1::INVITATION_STATE_ACCEPTED));
  }
}

TEST_F(RacesTest, AcceptAndCancelOneWins) {
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_OK_AND_ASSIGN(SentInvitation sent, InviteDelegate());
    const std::string id = sent.invitation.invitation_id();

    const PairResult result =
        RunPair([&] { return AcceptAs(*delegate_racer_, sent.token); },
                [&] { return CancelAs(*owner_racer_, sent.invitation); });

    ASSERT_EQ(result.ok_count(), 1) << "round " << round << ": " << result.first << " / "
                                    << result.second;
    const bool accept_won = result.first.ok();
    if (accept_won) {
      // The accept changed the version that the cancel names in its etag.
      EXPECT_THAT(result.second.code(), AnyOf(absl::StatusCode::kAborted,
                                              absl::StatusCode::kFailedPrecondition))
          << result.second;
      EXPECT_EQ(InvitationState(id), "ACCEPTED") << "round " << round;
    } else {
      // A canceled invitation's token no longer finds it.
      EXPECT_THAT(result.first.code(), AnyOf(absl::StatusCode::kNotFound,
                                             absl::StatusCode::kFailedPrecondition))
          << result.first;
      EXPECT_EQ(InvitationState(id), "CANCELED") << "round " << round;
    }
    EXPECT_FALSE(result.loser().message().empty());
    EXPECT_EQ(AuditCount(id, "invitation.accepted"), accept_won ? 1 : 0) << "round " << round;
    EXPECT_EQ(AuditCount(id, "invitation.canceled"), accept_won ? 0 : 1) << "round " << round;
    ExpectTableInvariants(round);
    if (accept_won) ASSERT_OK(EndInvitation(id, v1::INVITATION_STATE_ACCEPTED));
  }
}

TEST_F(RacesTest, ConfirmAndDenyOneWins) {
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_OK_AND_ASSIGN(SentInvitation sent, InviteDelegate());
    const std::string id = sent.invitation.invitation_id();
    ASSERT_OK(Accept(*delegate_.client, sent.token));

    const PairResult result = RunPair(
        [&] { return Confirm(*owner_.client, id).status(); },
        [&] {
          v1::DenyInvitationRequest request;
          request.set_invitation_id(id);
          return owner_racer_->DenyInvitation(request).status();
        });

    ASSERT_EQ(result.ok_count(), 1) << "round " << round << ": " << result.first << " / "
                                    << result.second;
    const bool confirm_won = result.first.ok();
    EXPECT_EQ(result.loser().code(), absl::StatusCode::kFailedPrecondition) << result.loser();
    EXPECT_FALSE(result.loser().message().empty());
    EXPECT_EQ(InvitationState(id), confirm_won ? "CONFIRMED" : "DENIED") << "round " << round;
    EXPECT_EQ(LiveGrantCount(), confirm_won ? 1 : 0) << "round " << round;
    EXPECT_EQ(AuditCount(id, "invitation.confirmed"), confirm_won ? 1 : 0) << "round " << round;
    EXPECT_EQ(AuditCount(id, "invitation.denied"), confirm_won ? 0 : 1) << "round " << round;
    ExpectTableInvariants(round);

    if (confirm_won) {
      ASSERT_OK_AND_ASSIGN(std::vector<v1::Grant> grants, ListGrants(*owner_.client));
      ASSERT_EQ(grants.size(), 1u);
      v1::RevokeGrantRequest revoke;
      revoke.set_grant_id(grants[0].grant_id());
      ASSERT_OK(owner_.client->RevokeGrant(revoke));
    }
  }
}

TEST_F(RacesTest, ResendAndAcceptOneWins) {
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_OK_AND_ASSIGN(SentInvitation sent, InviteDelegate());
    const std::string id = sent.invitation.invitation_id();

    const PairResult result =
        RunPair([&] { return AcceptAs(*delegate_racer_, sent.token); },
                [&] { return ResendAs(*owner_racer_, sent.invitation); });

    ASSERT_EQ(result.ok_count(), 1) << "round " << round << ": " << result.first << " / "
                                    << result.second;
    const bool accept_won = result.first.ok();
    if (accept_won) {
      EXPECT_THAT(result.second.code(), AnyOf(absl::StatusCode::kAborted,
                                              absl::StatusCode::kFailedPrecondition))
          << result.second;
      EXPECT_EQ(InvitationState(id), "ACCEPTED") << "round " << round;
    } else {
      // The resend replaced the token that the accept carried.
      EXPECT_THAT(result.first.code(), AnyOf(absl::StatusCode::kNotFound,
                                             absl::StatusCode::kFailedPrecondition))
          << result.first;
      EXPECT_EQ(InvitationState(id), "PENDING") << "round " << round;
      ASSERT_OK(NextDelegateToken());
    }
    EXPECT_FALSE(result.loser().message().empty());
    EXPECT_EQ(AuditCount(id, "invitation.accepted"), accept_won ? 1 : 0) << "round " << round;
    EXPECT_EQ(AuditCount(id, "invitation.resent"), accept_won ? 0 : 1) << "round " << round;
    ExpectTableInvariants(round);
    ASSERT_OK(EndInvitation(
        id, accept_won ? v1::INVITATION_STATE_ACCEPTED : v1::INVITATION_STATE_PENDING));
  }
}

TEST_F(RacesTest, UpdateAndRevokeOneWins) {
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_OK_AND_ASSIGN(SentInvitation sent, InviteDelegate());
    ASSERT_OK(Accept(*delegate_.client, sent.token));
    ASSERT_OK_AND_ASSIGN(v1::ConfirmInvitationResponse confirmed,
                         Confirm(*owner_.client, sent.invitation.invitation_id()));
    const v1::Grant grant = confirmed.grant();
    const std::string id = grant.grant_id();

    const PairResult result = RunPair(
        [&] {
          v1::UpdateGrantRequest request;
          request.set_grant_id(id);
          request.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
          request.set_etag(grant.etag());
          return owner_.client->UpdateGrant(request).status();
        },
        [&] {
          v1::RevokeGrantRequest request;
          request.set_grant_id(id);
          request.set_etag(grant.etag());
          return owner_racer_->RevokeGrant(request).status();
        });

    ASSERT_EQ(result.ok_count(), 1) << "round " << round << ": " << result.first << " / "
                                    << result.second;
    const bool update_won = result.first.ok();
    // The loser names a version that the winner replaced; a revoked grant is also gone.
    EXPECT_THAT(result.loser().code(),
                AnyOf(absl::StatusCode::kAborted, absl::StatusCode::kNotFound,
                      absl::StatusCode::kFailedPrecondition))
        << result.loser();
    EXPECT_FALSE(result.loser().message().empty());
    EXPECT_EQ(LiveGrantCount(), update_won ? 1 : 0) << "round " << round;
    EXPECT_EQ(AuditCount(id, "grant.updated"), update_won ? 1 : 0) << "round " << round;
    EXPECT_EQ(AuditCount(id, "grant.revoked"), update_won ? 0 : 1) << "round " << round;
    ASSERT_OK_AND_ASSIGN(v1::CheckAccessResponse check,
                         CheckAccess(delegate_.account.account_id(), owner_.account.account_id(),
                                     v1::PERMISSION_VIEW_APPOINTMENTS));
    EXPECT_EQ(check.allowed(), update_won) << "round " << round;
    ExpectTableInvariants(round);

    if (update_won) {
      v1::RevokeGrantRequest revoke;
      revoke.set_grant_id(id);
      ASSERT_OK(owner_.client->RevokeGrant(revoke));
    }
  }
}

TEST_F(RacesTest, TwoInvitationsOfOneEmailCreateOne) {
  const auto invite = [this](sdk::Client& client) {
    v1::CreateInvitationRequest request;
    request.set_first_name(Delegate().first_name);
    request.set_last_name(Delegate().last_name);
    request.set_email(Delegate().email);
    request.set_access_level(v1::ACCESS_LEVEL_FULL);
    return client.CreateInvitation(request);
  };
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<v1::CreateInvitationResponse> first;
    absl::StatusOr<v1::CreateInvitationResponse> second;
    const PairResult result = RunPair(
        [&] {
          first = invite(*owner_.client);
          return first.status();
        },
        [&] {
          second = invite(*owner_racer_);
          return second.status();
        });

    ASSERT_EQ(result.ok_count(), 1) << "round " << round << ": " << result.first << " / "
                                    << result.second;
    EXPECT_EQ(result.loser().code(), absl::StatusCode::kAlreadyExists) << result.loser();
    EXPECT_FALSE(result.loser().message().empty());
    const v1::Invitation& winner = first.ok() ? first->invitation() : second->invitation();
    EXPECT_EQ(LiveInvitationCount(), 1) << "round " << round;
    EXPECT_EQ(AuditCount(winner.invitation_id(), "invitation.created"), 1) << "round " << round;
    ExpectTableInvariants(round);
    ASSERT_OK(NextDelegateToken());
    ASSERT_OK(EndInvitation(winner.invitation_id(), v1::INVITATION_STATE_PENDING));
  }
}

TEST_F(RacesTest, RetriesWithOneRequestIdCreateOneInvitation) {
  for (int round = 0; round < kRetryRounds; ++round) {
    v1::CreateInvitationRequest request;
    request.set_first_name(Delegate().first_name);
    request.set_last_name(Delegate().last_name);
    request.set_email(Delegate().email);
    request.set_access_level(v1::ACCESS_LEVEL_FULL);
    request.set_request_id(RandomUuid());
    absl::StatusOr<v1::CreateInvitationResponse> first;
    absl::StatusOr<v1::CreateInvitationResponse> second;

    RunPair(
        [&] {
          first = owner_.client->CreateInvitation(request);
          return first.status();
        },
        [&] {
          second = owner_racer_->CreateInvitation(request);
          return second.status();
        });

    ASSERT_OK(first);
    ASSERT_OK(second);
    const std::string id = first->invitation().invitation_id();
    EXPECT_EQ(second->invitation().invitation_id(), id) << "round " << round;
    EXPECT_EQ(LiveInvitationCount(), 1) << "round " << round;
    EXPECT_EQ(AuditCount(id, "invitation.created"), 1) << "round " << round;
    ExpectTableInvariants(round);
    ASSERT_OK(NextDelegateToken());
    ASSERT_OK(EndInvitation(id, v1::INVITATION_STATE_PENDING));
  }
  // One invitation email per round: the retry queued none.
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> emails,
                       WaitForEmailsTo(Delegate().email, kRetryRounds));
  int invitation_emails = 0;
  for (const walkthrough::Email& email : emails) {
    if (walkthrough::FindInvitationToken(email.text).has_value()) ++invitation_emails;
  }
  EXPECT_EQ(invitation_emails, kRetryRounds);
}

}  // namespace
}  // namespace accessdelegation::e2e
