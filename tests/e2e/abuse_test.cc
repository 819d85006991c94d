// Defences against guessing and abuse through the SDK against an in-process server:
// sign-in throttling, session expiry, the daily invitation limit, token throttling and
// invitation passcodes. Limits are set low per fixture; timestamps are moved in the
// database rather than waited for.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/retry_delay.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

constexpr char kPasscode[] = "Tulip2026";
constexpr char kWrongPasscode[] = "Daisy1999";

// Returns the retry delay that the server put in the status details, or zero when there
// is none.
absl::Duration RetryDelay(const absl::Status& status) {
  return storage::RetryDelayOf(status).value_or(absl::ZeroDuration());
}

absl::Status TrySignIn(sdk::Client& client, const std::string& email, const std::string& password) {
  v1::SignInRequest request;
  request.set_email(email);
  request.set_password(password);
  return client.SignIn(request).status();
}

// Expects RESOURCE_EXHAUSTED with a positive retry delay and a message saying when.
void ExpectThrottled(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_GT(RetryDelay(status), absl::ZeroDuration()) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "retry after")) << status;
}

v1::CreateInvitationRequest InvitationRequest(const Person& invitee) {
  v1::CreateInvitationRequest request;
  request.set_first_name(invitee.first_name);
  request.set_last_name(invitee.last_name);
  request.set_email(invitee.email);
  request.set_access_level(v1::ACCESS_LEVEL_FULL);
  return request;
}

absl::Status AcceptWithPasscode(sdk::Client& invitee, const std::string& token,
                                const std::string& passcode) {
  v1::AcceptInvitationRequest request;
  request.set_invitation_token(token);
  request.set_passcode(passcode);
  return invitee.AcceptInvitation(request).status();
}

absl::Status TryChangePassword(sdk::Client& client, const std::string& current_password) {
  v1::ChangePasswordRequest request;
  request.set_current_password(current_password);
  request.set_new_password("a brand new passphrase");
  return client.ChangePassword(request).status();
}

// SignInLockoutTest locks an email at the third failure, with no delays before it.
class SignInLockoutTest : public E2eTest {
 protected:
  void ConfigureServer(server::Config& config) override {
    config.sign_in_delay_after_failures = 0;
    config.sign_in_lockout_after_failures = 3;
  }
};

TEST_F(SignInLockoutTest, LocksEmailAfterFailures) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> client = Connect();

  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(TrySignIn(*client, Owner().email, "wrong-password-123").code(),
              absl::StatusCode::kUnauthenticated);
  }
  const absl::Status locked = TrySignIn(*client, Owner().email, Owner().password);

  ExpectThrottled(locked);
  EXPECT_GT(RetryDelay(locked), absl::Minutes(14));
}

TEST_F(SignInLockoutTest, LockoutIgnoresLetterCase) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> client = Connect();

  for (const char* email :
       {"ANN.OWNER@example.org", "ann.owner@EXAMPLE.org", "Ann.Owner@Example.Org"}) {
    EXPECT_EQ(TrySignIn(*client, email, "wrong-password-123").code(),
              absl::StatusCode::kUnauthenticated);
  }

  ExpectThrottled(TrySignIn(*client, Owner().email, Owner().password));
}

TEST_F(SignInLockoutTest, SuccessResetsFailures) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> client = Connect();

  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(TrySignIn(*client, Owner().email, "wrong-password-123").code(),
              absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(TrySignIn(*client, Owner().email, "wrong-password-456").code(),
              absl::StatusCode::kUnauthenticated);
    EXPECT_OK(TrySignIn(*client, Owner().email, Owner().password));
  }

  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT count(*) FROM sign_in_throttles"));
  EXPECT_EQ(rows[0][0], "0");
}

TEST_F(SignInLockoutTest, LockoutEndsWhenItsTimePasses) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> client = Connect();
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(TrySignIn(*client, Owner().email, "wrong-password-123").ok());
  }
  ExpectThrottled(TrySignIn(*client, Owner().email, Owner().password));

  ASSERT_OK(RunSql("UPDATE sign_in_throttles SET blocked_until = now() - interval '1 second'"));

  EXPECT_OK(TrySignIn(*client, Owner().email, Owner().password));
}

TEST_F(SignInLockoutTest, UnknownEmailAnswersLikeWrongPassword) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> client = Connect();

  const absl::Status wrong_password = TrySignIn(*client, Owner().email, "wrong-password-123");
  const absl::Status unknown_email = TrySignIn(*client, "nobody@example.org", "wrong-password-123");

  EXPECT_EQ(wrong_password.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(unknown_email.code(), wrong_password.code());
  EXPECT_EQ(unknown_email.message(), wrong_password.message());
}

TEST_F(SignInLockoutTest, UnknownEmailLocksLikeKnownEmail) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> client = Connect();
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(TrySignIn(*client, Owner().email, "wrong-password-123").ok());
    EXPECT_FALSE(TrySignIn(*client, "nobody@example.org", "wrong-password-123").ok());
  }

  const absl::Status known = TrySignIn(*client, Owner().email, "wrong-password-123");
  const absl::Status unknown = TrySignIn(*client, "nobody@example.org", "wrong-password-123");

  ExpectThrottled(known);
  ExpectThrottled(unknown);
  EXPECT_EQ(unknown.message().substr(0, unknown.message().find(';')),
            known.message().substr(0, known.message().find(';')));
}

TEST_F(SignInLockoutTest, ParallelGuessesStopAtLimit) {
  ASSERT_OK(CreateAccount(Owner()));
  constexpr int kGuesses = 12;
  std::atomic<int> unauthenticated{0};
  std::atomic<int> throttled{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < kGuesses; ++i) {
    threads.emplace_back([&] {
      std::unique_ptr<sdk::Client> client = Connect();
      const absl::Status status = TrySignIn(*client, Owner().email, "wrong-password-123");
      if (absl::IsUnauthenticated(status)) ++unauthenticated;
      if (absl::IsResourceExhausted(status)) ++throttled;
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(unauthenticated.load(), 3);
  EXPECT_EQ(throttled.load(), kGuesses - 3);
}

TEST_F(SignInLockoutTest, WrongCurrentPasswordsLockSignIn) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));

  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(TryChangePassword(*owner.client, "wrong-password-123").code(),
              absl::StatusCode::kPermissionDenied);
  }
  const absl::Status change = TryChangePassword(*owner.client, Owner().password);
  const absl::Status sign_in = TrySignIn(*Connect(), Owner().email, Owner().password);

  ExpectThrottled(change);
  EXPECT_GT(RetryDelay(change), absl::Minutes(14));
  ExpectThrottled(sign_in);
}

TEST_F(SignInLockoutTest, WrongCurrentPasswordsAddToSignInFailures) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  std::unique_ptr<sdk::Client> client = Connect();

  EXPECT_EQ(TrySignIn(*client, Owner().email, "wrong-password-123").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(TryChangePassword(*owner.client, "wrong-password-123").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(TrySignIn(*client, Owner().email, "wrong-password-123").code(),
            absl::StatusCode::kUnauthenticated);

  ExpectThrottled(TryChangePassword(*owner.client, Owner().password));
}

TEST_F(SignInLockoutTest, CorrectCurrentPasswordClearsFailures) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  EXPECT_EQ(TryChangePassword(*owner.client, "wrong-password-123").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(TryChangePassword(*owner.client, "wrong-password-456").code(),
            absl::StatusCode::kPermissionDenied);

  ASSERT_OK(TryChangePassword(*owner.client, Owner().password));

  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT count(*) FROM sign_in_throttles"));
  EXPECT_EQ(rows[0][0], "0");
}

// SignInDelayTest delays attempts from the second failure on, by 1m doubling: long enough
// that a slow password check, as under a sanitizer, cannot outlast the delay.
class SignInDelayTest : public E2eTest {
 protected:
  void ConfigureServer(server::Config& config) override {
    config.sign_in_delay_after_failures = 2;
    config.sign_in_base_delay = absl::Minutes(1);
    config.sign_in_lockout_after_failures = 10;
  }
};

TEST_F(SignInDelayTest, DelayGrowsWithFailures) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> client = Connect();
  EXPECT_FALSE(TrySignIn(*client, Owner().email, "wrong-password-1").ok());
  EXPECT_FALSE(TrySignIn(*client, Owner().email, "wrong-password-2").ok());
  const absl::Status first = TrySignIn(*client, Owner().email, Owner().password);
  ExpectThrottled(first);

  ASSERT_OK(RunSql("UPDATE sign_in_throttles SET blocked_until = now() - interval '1 second'"));
  EXPECT_EQ(TrySignIn(*client, Owner().email, "wrong-password-3").code(),
            absl::StatusCode::kUnauthenticated);
  const absl::Status second = TrySignIn(*client, Owner().email, Owner().password);

  ExpectThrottled(second);
  EXPECT_GT(RetryDelay(second), RetryDelay(first));
}

// ChangePasswordDelayTest delays attempts from the second failure on, by 1m doubling: long
// enough that a slow password check cannot outlast the delay.
class ChangePasswordDelayTest : public E2eTest {
 protected:
  void ConfigureServer(server::Config& config) override {
    config.sign_in_delay_after_failures = 2;
    config.sign_in_base_delay = absl::Minutes(1);
    config.sign_in_lockout_after_failures = 10;
  }
};

TEST_F(ChangePasswordDelayTest, WrongCurrentPasswordsEarnDelay) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));

  EXPECT_EQ(TryChangePassword(*owner.client, "wrong-password-1").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(TryChangePassword(*owner.client, "wrong-password-2").code(),
            absl::StatusCode::kPermissionDenied);
  const absl::Status status = TryChangePassword(*owner.client, Owner().password);

  ExpectThrottled(status);
  EXPECT_GT(RetryDelay(status), absl::Seconds(30));
  EXPECT_LE(RetryDelay(status), absl::Minutes(1));
}

// PeerSignInLimitTest limits one address to three failed sign-ins, whatever the emails.
class PeerSignInLimitTest : public E2eTest {
 protected:
  void ConfigureServer(server::Config& config) override {
    config.sign_in_delay_after_failures = 0;
    config.sign_in_lockout_after_failures = 0;
    config.peer_sign_in_failure_limit = 3;
  }
};

TEST_F(PeerSignInLimitTest, LimitsFailuresAcrossEmails) {
  ASSERT_OK(CreateAccount(Owner()));
  std::unique_ptr<sdk::Client> client = Connect();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(
        TrySignIn(*client, absl::StrCat("guess", i, "@example.org"), "wrong-password-1").code(),
        absl::StatusCode::kUnauthenticated);
  }

  const absl::Status status = TrySignIn(*client, Owner().email, Owner().password);

  ExpectThrottled(status);
  EXPECT_TRUE(absl::StrContains(status.message(), "network address")) << status;
}

// SessionExpiryTest uses the default limits: 30 minutes idle, 12 hours in all.
class SessionExpiryTest : public E2eTest {};

TEST_F(SessionExpiryTest, IdleSessionExpires) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(owner.client->GetAccount());

  ASSERT_OK(RunSql("UPDATE sessions SET last_used_time = now() - interval '31 minutes'"));
  const absl::Status status = owner.client->GetAccount().status();

  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(status.message(), "sign in again")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "inactivity")) << status;
}

TEST_F(SessionExpiryTest, BusySessionExpiresAtAbsoluteLimit) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));

  ASSERT_OK(RunSql(
      "UPDATE sessions SET expire_time = now() - interval '1 second', last_used_time = now()"));
  const absl::Status status = owner.client->GetAccount().status();

  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(status.message(), "sign in again")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "maximum lifetime")) << status;
}

TEST_F(SessionExpiryTest, UseKeepsSessionAlive) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(RunSql("UPDATE sessions SET last_used_time = now() - interval '20 minutes'"));

  ASSERT_OK(owner.client->GetAccount());

  ASSERT_OK_AND_ASSIGN(
      auto rows,
      RunSql("SELECT count(*) FROM sessions WHERE last_used_time > now() - interval '1 minute'"));
  EXPECT_EQ(rows[0][0], "1");
  ASSERT_OK(RunSql("UPDATE sessions SET last_used_time = last_used_time - interval '20 minutes'"));
  EXPECT_OK(owner.client->GetAccount());
}

TEST_F(SessionExpiryTest, RecentUseWritesNothing) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(RunSql("UPDATE sessions SET last_used_time = now() - interval '30 seconds'"));
  ASSERT_OK_AND_ASSIGN(auto before, RunSql("SELECT last_used_time::text FROM sessions"));

  ASSERT_OK(owner.client->GetAccount());

  ASSERT_OK_AND_ASSIGN(auto after, RunSql("SELECT last_used_time::text FROM sessions"));
  EXPECT_EQ(after[0][0], before[0][0]);
}

TEST_F(SessionExpiryTest, SignOutEndsSession) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));

  ASSERT_OK(owner.client->SignOut());

  const absl::Status status = owner.client->GetAccount().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(status.message(), "session has ended")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "sign in again")) << status;
}

TEST_F(SessionExpiryTest, PasswordChangeTellsOtherSessionItEnded) {
  ASSERT_OK_AND_ASSIGN(SignedIn first, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SignedIn second, SignIn(Owner()));

  ASSERT_OK(TryChangePassword(*first.client, Owner().password));

  const absl::Status status = second.client->GetAccount().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(status.message(), "session has ended")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "sign in again")) << status;
}

TEST_F(SessionExpiryTest, UnknownTokenGetsGenericMessage) {
  const absl::Status status = Connect(RandomToken())->GetAccount().status();

  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(absl::StrContains(status.message(), "ended")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "invalid credentials")) << status;
}

// InvitationLimitTest allows ten invitations per owner per day.
class InvitationLimitTest : public E2eTest {
 protected:
  void ConfigureServer(server::Config& config) override {
    config.invitations_per_owner_per_day = 10;
  }
};

TEST_F(InvitationLimitTest, RacingBurstStopsAtLimit) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  constexpr int kCreates = 20;
  std::atomic<int> created{0};
  std::atomic<int> throttled{0};
  std::atomic<int> throttled_with_delay{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      Person invitee = Delegate();
      invitee.email = absl::StrCat("invitee", i, "@example.org");
      const absl::Status status =
          owner.client->CreateInvitation(InvitationRequest(invitee)).status();
      if (status.ok()) ++created;
      if (absl::IsResourceExhausted(status)) ++throttled;
      if (RetryDelay(status) > absl::ZeroDuration()) ++throttled_with_delay;
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(created.load(), 10);
  EXPECT_EQ(throttled.load(), kCreates - 10);
  EXPECT_EQ(throttled_with_delay.load(), kCreates - 10);
  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT count(*) FROM invitations"));
  EXPECT_EQ(rows[0][0], "10");
}

TEST_F(InvitationLimitTest, DayOldInvitationsDoNotCount) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  for (int i = 0; i < 10; ++i) {
    Person invitee = Delegate();
    invitee.email = absl::StrCat("invitee", i, "@example.org");
    ASSERT_OK(owner.client->CreateInvitation(InvitationRequest(invitee)));
  }
  ExpectThrottled(owner.client->CreateInvitation(InvitationRequest(Delegate())).status());

  ASSERT_OK(RunSql("UPDATE invitations SET create_time = now() - interval '25 hours'"));

  EXPECT_OK(owner.client->CreateInvitation(InvitationRequest(Delegate())));
}

TEST_F(InvitationLimitTest, ResendsCountTowardLimit) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse created,
                       owner.client->CreateInvitation(InvitationRequest(Delegate())));
  v1::ResendInvitationRequest resend;
  resend.set_invitation_id(created.invitation().invitation_id());
  for (int i = 0; i < 9; ++i) ASSERT_OK(owner.client->ResendInvitation(resend));

  const absl::Status resent = owner.client->ResendInvitation(resend).status();
  Person other = Stranger();
  const absl::Status created_too = owner.client->CreateInvitation(InvitationRequest(other)).status();

  ExpectThrottled(resent);
  ExpectThrottled(created_too);
  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT count(*) FROM audit_events "
                                         "WHERE action = 'invitation.resent'"));
  EXPECT_EQ(rows[0][0], "9");
}

TEST_F(InvitationLimitTest, RacingResendsStopAtLimit) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse created,
                       owner.client->CreateInvitation(InvitationRequest(Delegate())));
  constexpr int kResends = 20;
  std::atomic<int> resent{0};
  std::atomic<int> throttled_with_delay{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < kResends; ++i) {
    threads.emplace_back([&] {
      v1::ResendInvitationRequest request;
      request.set_invitation_id(created.invitation().invitation_id());
      const absl::Status status = owner.client->ResendInvitation(request).status();
      if (status.ok()) ++resent;
      if (absl::IsResourceExhausted(status) && RetryDelay(status) > absl::ZeroDuration()) {
        ++throttled_with_delay;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(resent.load(), 9);
  EXPECT_EQ(throttled_with_delay.load(), kResends - 9);
}

TEST_F(InvitationLimitTest, ResendRetryAtLimitIsFree) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse created,
                       owner.client->CreateInvitation(InvitationRequest(Delegate())));
  v1::ResendInvitationRequest plain;
  plain.set_invitation_id(created.invitation().invitation_id());
  for (int i = 0; i < 8; ++i) ASSERT_OK(owner.client->ResendInvitation(plain));
  v1::ResendInvitationRequest with_id = plain;
  with_id.set_request_id("resend-at-limit");

  ASSERT_OK_AND_ASSIGN(v1::ResendInvitationResponse first,
                       owner.client->ResendInvitation(with_id));
  ASSERT_OK_AND_ASSIGN(v1::ResendInvitationResponse retry,
                       owner.client->ResendInvitation(with_id));

  EXPECT_EQ(retry.DebugString(), first.DebugString());
  ExpectThrottled(owner.client->ResendInvitation(plain).status());
}

TEST_F(InvitationLimitTest, DayOldResendsDoNotCount) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse created,
                       owner.client->CreateInvitation(InvitationRequest(Delegate())));
  v1::ResendInvitationRequest resend;
  resend.set_invitation_id(created.invitation().invitation_id());
  for (int i = 0; i < 9; ++i) ASSERT_OK(owner.client->ResendInvitation(resend));
  ExpectThrottled(owner.client->ResendInvitation(resend).status());

  // audit_events is append-only, so its trigger is turned off while the resends are aged.
  ASSERT_OK(RunSql("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"));
  ASSERT_OK(RunSql("UPDATE audit_events SET event_time = now() - interval '25 hours'"));
  ASSERT_OK(RunSql("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"));
  ASSERT_OK(RunSql("UPDATE invitations SET create_time = now() - interval '25 hours'"));

  EXPECT_OK(owner.client->ResendInvitation(resend));
}

// TokenThrottleTest allows one address three unknown or dead invitation tokens.
class TokenThrottleTest : public E2eTest {
 protected:
  void ConfigureServer(server::Config& config) override { config.peer_token_failure_limit = 3; }
};

TEST_F(TokenThrottleTest, LookupsStopAfterDeadTokens) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  std::unique_ptr<sdk::Client> anonymous = Connect();
  for (int i = 0; i < 3; ++i) {
    v1::LookupInvitationRequest request;
    request.set_invitation_token(RandomToken());
    EXPECT_EQ(anonymous->LookupInvitation(request).status().code(), absl::StatusCode::kNotFound);
  }

  v1::LookupInvitationRequest live;
  live.set_invitation_token(sent.token);
  const absl::Status status = anonymous->LookupInvitation(live).status();

  ExpectThrottled(status);
  EXPECT_TRUE(absl::StrContains(status.message(), "network address")) << status;
}

TEST_F(TokenThrottleTest, EveryTokenCallCounts) {
  ASSERT_OK(CreateAccount(Delegate()));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, SignIn(Delegate()));
  std::unique_ptr<sdk::Client> anonymous = Connect();

  v1::SignUpRequest sign_up;
  sign_up.set_invitation_token(RandomToken());
  sign_up.set_password("a-long-password-123");
  sign_up.set_first_name("Dan");
  sign_up.set_last_name("Delegate");
  sign_up.set_phone_number("+14155550102");
  EXPECT_EQ(anonymous->SignUp(sign_up).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Accept(*delegate.client, RandomToken()).status().code(), absl::StatusCode::kNotFound);
  v1::DeclineInvitationRequest decline;
  decline.set_invitation_token(RandomToken());
  EXPECT_EQ(anonymous->DeclineInvitation(decline).status().code(), absl::StatusCode::kNotFound);

  ExpectThrottled(anonymous->SignUp(sign_up).status());
  ExpectThrottled(Accept(*delegate.client, RandomToken()).status());
  ExpectThrottled(anonymous->DeclineInvitation(decline).status());
}

// CreateInvitationAnswerTest compares CreateInvitation's responses for invited emails with
// and without an account.
class CreateInvitationAnswerTest : public E2eTest {};

TEST_F(CreateInvitationAnswerTest, SameWhetherOrNotEmailHasAccount) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK(CreateAccount(Delegate()));
  Person without_account = Delegate();
  without_account.email = "no.account@example.org";

  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse with,
                       owner.client->CreateInvitation(InvitationRequest(Delegate())));
  ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse without,
                       owner.client->CreateInvitation(InvitationRequest(without_account)));

  // Ids, emails and times differ by construction; every other field must match.
  for (v1::CreateInvitationResponse* response : {&with, &without}) {
    v1::Invitation* invitation = response->mutable_invitation();
    EXPECT_FALSE(invitation->invitation_id().empty());
    invitation->clear_invitation_id();
    invitation->clear_email();
    invitation->clear_create_time();
    invitation->clear_update_time();
    invitation->clear_expire_time();
  }
  EXPECT_EQ(with.DebugString(), without.DebugString());
  EXPECT_EQ(with.invitation().invitee_account_id(), "");
  EXPECT_EQ(with.invitation().state(), v1::INVITATION_STATE_PENDING);
}

// PasscodeTest invites with a passcode; token throttling is off so that dead-token responses
// do not run into it.
class PasscodeTest : public E2eTest {
 protected:
  void ConfigureServer(server::Config& config) override { config.peer_token_failure_limit = 0; }

  // Creates the owner and the delegate, signs both in, and invites the delegate with
  // kPasscode.
  void SetUpInvitation() {
    ASSERT_OK_AND_ASSIGN(owner_, CreateAccountAndSignIn(Owner()));
    ASSERT_OK_AND_ASSIGN(delegate_, CreateAccountAndSignIn(Delegate()));
    v1::CreateInvitationRequest request = InvitationRequest(Delegate());
    request.set_passcode(kPasscode);
    ASSERT_OK_AND_ASSIGN(v1::CreateInvitationResponse response,
                         owner_.client->CreateInvitation(request));
    invitation_id_ = response.invitation().invitation_id();
    ASSERT_OK_AND_ASSIGN(token_, ReadInvitationToken(Delegate().email));
  }

  SignedIn owner_;
  SignedIn delegate_;
  std::string invitation_id_;
  std::string token_;
};

TEST_F(PasscodeTest, LookupSaysPasscodeRequired) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());
  v1::LookupInvitationRequest request;
  request.set_invitation_token(token_);

  ASSERT_OK_AND_ASSIGN(v1::LookupInvitationResponse response, Connect()->LookupInvitation(request));

  EXPECT_TRUE(response.passcode_required());
}

TEST_F(PasscodeTest, PasscodeStaysOutOfEmailAndDatabase) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());

  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> emails,
                       WaitForEmailsTo(Delegate().email, 1));
  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT passcode_hash FROM invitations"));

  for (const walkthrough::Email& email : emails) {
    EXPECT_FALSE(absl::StrContains(email.text, kPasscode));
    EXPECT_FALSE(absl::StrContains(email.html, kPasscode));
  }
  EXPECT_TRUE(absl::StartsWith(rows[0][0], "$argon2id$")) << rows[0][0];
}

TEST_F(PasscodeTest, AcceptWithoutPasscodeIsInvalid) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());

  const absl::Status status = Accept(*delegate_.client, token_).status();

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "passcode")) << status;
}

TEST_F(PasscodeTest, CorrectPasscodeAccepts) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());

  EXPECT_OK(AcceptWithPasscode(*delegate_.client, token_, kPasscode));
}

TEST_F(PasscodeTest, WrongPasscodeNamesTriesLeft) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());

  const absl::Status first = AcceptWithPasscode(*delegate_.client, token_, kWrongPasscode);
  const absl::Status second = AcceptWithPasscode(*delegate_.client, token_, kWrongPasscode);

  EXPECT_EQ(first.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StartsWith(first.message(), "passcode")) << first;
  EXPECT_TRUE(absl::StrContains(first.message(), "2 tries left")) << first;
  EXPECT_TRUE(absl::StrContains(second.message(), "1 try left")) << second;
  EXPECT_OK(AcceptWithPasscode(*delegate_.client, token_, kPasscode));
}

TEST_F(PasscodeTest, ThirdWrongPasscodeKillsInvitation) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());
  EXPECT_EQ(AcceptWithPasscode(*delegate_.client, token_, kWrongPasscode).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(AcceptWithPasscode(*delegate_.client, token_, kWrongPasscode).code(),
            absl::StatusCode::kPermissionDenied);

  const absl::Status third = AcceptWithPasscode(*delegate_.client, token_, kWrongPasscode);

  EXPECT_EQ(third.code(), absl::StatusCode::kFailedPrecondition) << third;
  EXPECT_TRUE(absl::StartsWith(third.message(), "passcode is incorrect")) << third;
  EXPECT_TRUE(absl::StrContains(third.message(), "invitation is now canceled")) << third;
  EXPECT_TRUE(absl::StrContains(third.message(), "new invitation")) << third;
  const absl::Status later = AcceptWithPasscode(*delegate_.client, token_, kPasscode);
  EXPECT_EQ(later.code(), absl::StatusCode::kNotFound) << later;
  v1::LookupInvitationRequest lookup;
  lookup.set_invitation_token(token_);
  const absl::Status looked_up = Connect()->LookupInvitation(lookup).status();
  EXPECT_EQ(looked_up.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(looked_up.message(), later.message());
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Invitation> invitations, ListInvitations(*owner_.client));
  ASSERT_EQ(invitations.size(), 1u);
  EXPECT_EQ(invitations[0].state(), v1::INVITATION_STATE_CANCELED);
  ASSERT_OK_AND_ASSIGN(std::vector<walkthrough::Email> owner_emails,
                       WaitForEmailsTo(Owner().email, 1));
  EXPECT_TRUE(absl::StrContains(owner_emails.back().subject, "wrong passcodes"))
      << owner_emails.back().subject;
}

TEST_F(PasscodeTest, RacingWrongTriesNeverExceedThree) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());
  constexpr int kTries = 10;
  std::atomic<int> denied{0};
  std::atomic<int> canceled{0};
  std::atomic<int> not_found{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < kTries; ++i) {
    threads.emplace_back([&] {
      const absl::Status status = AcceptWithPasscode(*delegate_.client, token_, kWrongPasscode);
      if (absl::IsPermissionDenied(status)) ++denied;
      if (absl::IsFailedPrecondition(status)) ++canceled;
      if (absl::IsNotFound(status)) ++not_found;
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(denied.load(), 2);
  EXPECT_EQ(canceled.load(), 1);
  EXPECT_EQ(not_found.load(), kTries - 3);
  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT passcode_failures, state FROM invitations"));
  EXPECT_EQ(rows[0][0], "3");
  EXPECT_EQ(rows[0][1], "CANCELED");
  EXPECT_EQ(AcceptWithPasscode(*delegate_.client, token_, kPasscode).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PasscodeTest, MalformedPasscodeIsInvalid) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));

  const std::vector<std::string> passcodes = {"abc12", "with space1", "symbols!!1",
                                              std::string(33, 'a')};
  for (const std::string& passcode : passcodes) {
    v1::CreateInvitationRequest request = InvitationRequest(Delegate());
    request.set_passcode(passcode);
    const absl::Status status = owner.client->CreateInvitation(request).status();

    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << passcode;
    EXPECT_TRUE(absl::StartsWith(status.message(), "passcode")) << status;
  }
}

// PasscodeHashingTest runs one hashing thread with room for one waiting call, so that a
// burst of invitations with passcodes fills the queue.
class PasscodeHashingTest : public E2eTest {
 protected:
  void ConfigureServer(server::Config& config) override {
    config.password_hash_threads = 1;
    config.password_hash_queue = 1;
    config.invitations_per_owner_per_day = 0;
  }
};

TEST_F(PasscodeHashingTest, FullHashingQueueRejectsPasscodes) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  constexpr int kCreates = 12;
  std::atomic<int> created{0};
  std::atomic<int> rejected{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      Person invitee = Delegate();
      invitee.email = absl::StrCat("invitee", i, "@example.org");
      v1::CreateInvitationRequest request = InvitationRequest(invitee);
      request.set_passcode(kPasscode);
      const absl::Status status = owner.client->CreateInvitation(request).status();
      if (status.ok()) ++created;
      if (absl::IsResourceExhausted(status)) ++rejected;
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_GE(created.load(), 1);
  EXPECT_GE(rejected.load(), 1);
  EXPECT_EQ(created.load() + rejected.load(), kCreates);
  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT count(*) FROM invitations"));
  EXPECT_EQ(rows[0][0], std::to_string(created.load()));
}

TEST_F(PasscodeTest, MalformedAcceptPasscodeUsesNoTry) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());

  const std::vector<std::string> passcodes = {"x", "abc12", "with space1", std::string(33, 'a')};
  for (const std::string& passcode : passcodes) {
    const absl::Status status = AcceptWithPasscode(*delegate_.client, token_, passcode);

    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << passcode;
    EXPECT_TRUE(absl::StartsWith(status.message(), "passcode")) << status;
  }
  const absl::Status short_one = AcceptWithPasscode(*delegate_.client, token_, "x");
  EXPECT_TRUE(absl::StrContains(short_one.message(), "6 to 32 ASCII letters and digits"))
      << short_one;
  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT passcode_failures, state FROM invitations"));
  EXPECT_EQ(rows[0][0], "0");
  EXPECT_EQ(rows[0][1], "PENDING");
  const absl::Status wrong = AcceptWithPasscode(*delegate_.client, token_, kWrongPasscode);
  EXPECT_TRUE(absl::StrContains(wrong.message(), "2 tries left")) << wrong;
}

TEST_F(PasscodeTest, OtherAccountUsesNoTries) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(Stranger()));
  ASSERT_OK_AND_ASSIGN(auto audit_before, RunSql("SELECT count(*) FROM audit_events"));

  // More tries than the limit, with wrong, right and empty passcodes.
  const std::vector<std::string> passcodes = {kWrongPasscode, kWrongPasscode, kWrongPasscode,
                                              kPasscode, "", kWrongPasscode};
  std::vector<absl::Status> statuses;
  for (const std::string& passcode : passcodes) {
    statuses.push_back(AcceptWithPasscode(*stranger.client, token_, passcode));
  }

  for (const absl::Status& status : statuses) {
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
    EXPECT_EQ(status.message(), statuses[0].message());
  }
  EXPECT_TRUE(absl::StrContains(statuses[0].message(), "different email address")) << statuses[0];
  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT passcode_failures, state FROM invitations"));
  EXPECT_EQ(rows[0][0], "0");
  EXPECT_EQ(rows[0][1], "PENDING");
  ASSERT_OK_AND_ASSIGN(auto audit_after, RunSql("SELECT count(*) FROM audit_events"));
  EXPECT_EQ(audit_after[0][0], audit_before[0][0]);
  EXPECT_OK(AcceptWithPasscode(*delegate_.client, token_, kPasscode));
}

TEST_F(PasscodeTest, RacingOtherAccountLeavesTriesToInvitee) {
  ASSERT_NO_FATAL_FAILURE(SetUpInvitation());
  ASSERT_OK_AND_ASSIGN(SignedIn stranger, CreateAccountAndSignIn(Stranger()));
  constexpr int kTries = 10;
  std::atomic<int> other_email{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < kTries; ++i) {
    threads.emplace_back([&] {
      const absl::Status status = AcceptWithPasscode(*stranger.client, token_, kWrongPasscode);
      if (absl::IsPermissionDenied(status) &&
          absl::StrContains(status.message(), "different email address")) {
        ++other_email;
      }
    });
  }
  const absl::Status invitee_try = AcceptWithPasscode(*delegate_.client, token_, kWrongPasscode);
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(other_email.load(), kTries);
  EXPECT_TRUE(absl::StrContains(invitee_try.message(), "2 tries left")) << invitee_try;
  ASSERT_OK_AND_ASSIGN(auto rows, RunSql("SELECT passcode_failures, state FROM invitations"));
  EXPECT_EQ(rows[0][0], "1");
  EXPECT_EQ(rows[0][1], "PENDING");
}

}  // namespace
}  // namespace accessdelegation::e2e
