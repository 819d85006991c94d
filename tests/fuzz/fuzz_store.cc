#include "tests/fuzz/fuzz_store.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace accessdelegation::fuzz {
namespace {

absl::Status Unavailable() {
  return absl::UnavailableError("the fuzzing store keeps no data; this call is not simulated");
}

storage::AccountRecord AccountWithId(const std::string& account_id) {
  storage::AccountRecord account;
  account.id = account_id;
  account.email = "owner@example.org";
  account.first_name = "Olive";
  account.last_name = "Owner";
  account.create_time = absl::UnixEpoch();
  return account;
}

}  // namespace

absl::StatusOr<std::string> FuzzStore::FindSession(const std::string& token_hash, absl::Time) {
  if (token_hash != session_token_hash_) return absl::NotFoundError("no such session");
  return std::string(kFuzzAccountId);
}

absl::StatusOr<storage::SessionRecord> FuzzStore::GetSession(const std::string& token_hash) {
  if (token_hash != session_token_hash_) return absl::NotFoundError("no such session");
  const absl::Time now = absl::Now();
  storage::SessionRecord session;
  session.account_id = kFuzzAccountId;
  session.create_time = now - absl::Hours(1);
  session.expire_time = now + absl::Hours(11);
  // Older than the authenticator's touch precision and well within its idle timeout, so
  // every session call also runs TouchSession.
  session.last_used_time = now - absl::Minutes(5);
  return session;
}

absl::Status FuzzStore::TouchSession(const std::string&, absl::Time, absl::Duration) {
  return absl::OkStatus();
}

absl::StatusOr<storage::AccountRecord> FuzzStore::GetAccount(const std::string& account_id) {
  return AccountWithId(account_id);
}

absl::StatusOr<int64_t> FuzzStore::LatestGrantChangeId() { return Unavailable(); }

absl::StatusOr<storage::InvitationRecord> FuzzStore::CreateInvitation(
    const storage::Actor&, const storage::NewInvitation& invitation,
    const storage::EmailComposer& compose, const storage::IdempotencyKey&) {
  storage::EmailContext context;
  context.invitation.id = "0b8e7c52-4d0f-4c1e-a3f5-7d9b2e6a1c44";
  context.invitation.owner_account_id = invitation.owner_account_id;
  context.invitation.email = invitation.email;
  context.invitation.first_name = invitation.first_name;
  context.invitation.last_name = invitation.last_name;
  context.invitation.access_level = invitation.access_level;
  context.invitation.state = v1::INVITATION_STATE_PENDING;
  context.invitation.create_time = absl::Now();
  context.invitation.update_time = context.invitation.create_time;
  context.invitation.expire_time = invitation.expire_time;
  context.invitation.version = 1;
  context.invitation.grant_expire_time = invitation.grant_expire_time;
  context.owner = AccountWithId(invitation.owner_account_id);
  compose(context);
  return context.invitation;
}

absl::StatusOr<storage::AccountRecord> FuzzStore::CreateAccount(const storage::Actor&,
                                                                const storage::NewAccount&) {
  return Unavailable();
}

absl::StatusOr<storage::AccountRecord> FuzzStore::SignUpWithInvitation(const storage::Actor&,
                                                                       const std::string&,
                                                                       const storage::NewAccount&,
                                                                       absl::Time) {
  return Unavailable();
}

absl::StatusOr<storage::Credentials> FuzzStore::FindCredentials(const std::string&) {
  return Unavailable();
}

absl::StatusOr<storage::Credentials> FuzzStore::FindCredentialsById(const std::string&) {
  return Unavailable();
}

absl::Status FuzzStore::CreateSession(const std::string&, const std::string&, absl::Time) {
  return Unavailable();
}

absl::StatusOr<storage::SignInAttempt> FuzzStore::BeginSignIn(const std::string&, absl::Time,
                                                               const storage::SignInPolicy&) {
  return Unavailable();
}

absl::Status FuzzStore::ClearSignInFailures(const std::string&) { return Unavailable(); }

absl::Status FuzzStore::EndSession(const std::string&) { return Unavailable(); }

absl::StatusOr<int> FuzzStore::ChangePassword(const storage::Actor&, const std::string&,
                                              const std::string&, const std::string&) {
  return Unavailable();
}

absl::StatusOr<storage::AccountDeletion> FuzzStore::DeleteAccount(const storage::Actor&,
                                                                  const std::string&) {
  return Unavailable();
}

absl::Status FuzzStore::RecordAccountEvent(const storage::Actor&, const std::string&,
                                           const std::string&) {
  return Unavailable();
}

absl::StatusOr<std::vector<storage::AuditEventRecord>> FuzzStore::ListAuditEvents(
    const storage::AuditEventQuery&) {
  return Unavailable();
}

absl::StatusOr<std::vector<storage::GrantChangeRecord>> FuzzStore::ListGrantChanges(int64_t, int) {
  return Unavailable();
}

absl::StatusOr<storage::InvitationLookup> FuzzStore::LookupInvitation(const std::string&,
                                                                      absl::Time) {
  return Unavailable();
}

absl::StatusOr<storage::PasscodeCheck> FuzzStore::CheckInvitationPasscode(
    const storage::Actor&, const std::string&, const std::string&, absl::Time, bool,
    const storage::PasscodeVerifier&, int, const storage::EmailComposer&) {
  return Unavailable();
}

absl::StatusOr<storage::InvitationRecord> FuzzStore::AcceptInvitation(
    const storage::Actor&, const std::string&, const std::string&, absl::Time,
    const storage::EmailComposer&, const storage::IdempotencyKey&) {
  return Unavailable();
}

absl::StatusOr<storage::InvitationRecord> FuzzStore::DeclineInvitation(
    const storage::Actor&, const std::string&, absl::Time, const storage::EmailComposer&,
    const storage::IdempotencyKey&) {
  return Unavailable();
}

absl::StatusOr<storage::Confirmation> FuzzStore::ConfirmInvitation(
    const storage::Actor&, const std::string&, const std::string&, storage::ExpectedVersion,
    const storage::EmailComposer&, const storage::IdempotencyKey&) {
  return Unavailable();
}

absl::StatusOr<storage::InvitationRecord> FuzzStore::DenyInvitation(
    const storage::Actor&, const std::string&, const std::string&, storage::ExpectedVersion,
    const storage::EmailComposer&, const storage::IdempotencyKey&) {
  return Unavailable();
}

absl::StatusOr<storage::InvitationRecord> FuzzStore::ResendInvitation(
    const storage::Actor&, const std::string&, const std::string&, storage::ExpectedVersion,
    const std::string&, absl::Time, absl::Time, int, const storage::EmailComposer&,
    const storage::IdempotencyKey&) {
  return Unavailable();
}

absl::StatusOr<storage::InvitationRecord> FuzzStore::CancelInvitation(
    const storage::Actor&, const std::string&, const std::string&, storage::ExpectedVersion,
    absl::Time, const storage::EmailComposer&, const storage::IdempotencyKey&) {
  return Unavailable();
}

absl::StatusOr<storage::Page<storage::InvitationRecord>> FuzzStore::ListInvitations(
    const std::string&, storage::InvitationState, absl::Time, const storage::PageRequest&) {
  return Unavailable();
}

absl::StatusOr<storage::Page<storage::GrantRecord>> FuzzStore::ListGrants(
    const std::string&, storage::GrantState, absl::Time, const storage::PageRequest&) {
  return Unavailable();
}

absl::StatusOr<storage::Page<storage::GrantRecord>> FuzzStore::ListDelegatedAccess(
    const std::string&, storage::GrantState, absl::Time, const storage::PageRequest&) {
  return Unavailable();
}

absl::StatusOr<storage::GrantRecord> FuzzStore::UpdateGrant(const storage::Actor&,
                                                            const std::string&, const std::string&,
                                                            storage::ExpectedVersion,
                                                            const storage::GrantUpdate&,
                                                            const storage::GrantEmailComposer&,
                                                            const storage::IdempotencyKey&) {
  return Unavailable();
}

absl::StatusOr<storage::GrantRecord> FuzzStore::RevokeGrant(const storage::Actor&,
                                                            const std::string&, const std::string&,
                                                            storage::ExpectedVersion,
                                                            const storage::GrantEmailComposer&,
                                                            const storage::IdempotencyKey&) {
  return Unavailable();
}

absl::StatusOr<storage::GrantRecord> FuzzStore::LeaveGrant(const storage::Actor&,
                                                           const std::string&, const std::string&,
                                                           storage::ExpectedVersion,
                                                           const storage::GrantEmailComposer&,
                                                           const storage::IdempotencyKey&) {
  return Unavailable();
}

absl::StatusOr<std::optional<storage::GrantRecord>> FuzzStore::FindGrant(const std::string&,
                                                                         const std::string&) {
  return Unavailable();
}

absl::StatusOr<storage::SweepResult> FuzzStore::SweepExpiredGrants(const storage::Actor&,
                                                                   const storage::SweepOptions&) {
  return Unavailable();
}

absl::StatusOr<storage::PurgeResult> FuzzStore::PurgeStaleRecords(const storage::PurgeOptions&) {
  return Unavailable();
}

absl::StatusOr<std::vector<storage::QueuedEmail>> FuzzStore::ClaimEmails(int) {
  return Unavailable();
}

void FuzzStore::SetEmailQueuedListener(std::function<void()>) {}

absl::Status FuzzStore::MarkEmailsDelivered(const std::vector<int64_t>&) {
  return Unavailable();
}

absl::Status FuzzStore::MarkEmailFailed(int64_t, const std::string&, absl::Duration) {
  return Unavailable();
}

absl::Status FuzzStore::MarkEmailDead(int64_t, const std::string&) { return Unavailable(); }

absl::StatusOr<std::vector<storage::FailedEmail>> FuzzStore::ListFailedEmails(int64_t, int) {
  return Unavailable();
}

absl::StatusOr<storage::FailedEmail> FuzzStore::RetryEmail(const std::string&) {
  return Unavailable();
}

absl::StatusOr<uint64_t> FuzzStore::CurrentWalPosition() { return Unavailable(); }

absl::Status FuzzStore::Ping() { return Unavailable(); }

absl::StatusOr<storage::StoreStats> FuzzStore::ReadStats() { return Unavailable(); }

}  // namespace accessdelegation::fuzz
