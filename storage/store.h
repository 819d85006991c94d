#ifndef ACCESSDELEGATION_STORAGE_STORE_H_
#define ACCESSDELEGATION_STORAGE_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/resources.pb.h"
#include "storage/audit.h"

namespace accessdelegation::storage {

using v1::AccessLevel;
using v1::GrantState;
using v1::InvitationState;

// AccountRecord is a row of the accounts table.
struct AccountRecord {
  std::string id;
  std::string email;
  std::string first_name;
  std::string last_name;
  std::string phone_e164;
  absl::Time create_time;
};

// NewAccount is an account to insert. The email is the one the person typed; the store
// compares emails by their lower-case form.
struct NewAccount {
  std::string email;
  std::string password_hash;
  std::string first_name;
  std::string last_name;
  std::string phone_e164;
};

// Credentials are what SignIn needs to check a password.
struct Credentials {
  std::string account_id;
  std::string password_hash;
};

// SignInPolicy is how SignIn slows down password guessing for one email. Failures count
// from the last successful sign-in; a count whose last failure is older than `lockout`
// starts again from zero.
struct SignInPolicy {
  // From this many failures on, each further attempt waits `base_delay`, doubled for each
  // failure beyond this one.
  int delay_after_failures = 5;
  absl::Duration base_delay = absl::Seconds(1);
  // At this many failures the email is locked for `lockout`.
  int lockout_after_failures = 10;
  absl::Duration lockout = absl::Minutes(15);
};

// SignInAttempt is a sign-in that BeginSignIn admitted.
struct SignInAttempt {
  std::optional<Credentials> credentials;  // nullopt when no live account has the email.
  int failure_count = 0;  // Failures so far, counting this attempt until it succeeds.
  bool locked = false;    // Whether this attempt, if it fails, started a lockout.
};

// SessionRecord is a row of the sessions table.
struct SessionRecord {
  std::string account_id;
  absl::Time create_time;
  absl::Time expire_time;     // The absolute end, set at sign-in.
  absl::Time last_used_time;  // Kept to within a minute by TouchSession.
  // When SignOut, a password change or the account's deletion ended the session; nullopt
  // while it has not ended.
  std::optional<absl::Time> end_time;
};

// InvitationRecord is a row of the invitations table. `state` is the effective state: a
// PENDING invitation past its expire_time reads as EXPIRED.
struct InvitationRecord {
  std::string id;
  std::string owner_account_id;
  std::string email;
  std::string first_name;
  std::string last_name;
  AccessLevel access_level = v1::ACCESS_LEVEL_UNSPECIFIED;
  InvitationState state = v1::INVITATION_STATE_UNSPECIFIED;
  std::string invitee_account_id;  // Empty until accepted.
  std::string grant_id;            // Empty until confirmed.
  absl::Time create_time;
  absl::Time update_time;
  absl::Time expire_time;
  int64_t version = 0;  // Grows by one with every change; the API's etag.
  std::optional<absl::Time> grant_expire_time;  // End of the grant confirmation creates.
};

// NewInvitation is an invitation to insert in state PENDING.
struct NewInvitation {
  std::string owner_account_id;
  std::string email;
  std::string first_name;
  std::string last_name;
  AccessLevel access_level = v1::ACCESS_LEVEL_UNSPECIFIED;
  std::string token_hash;  // SHA-256 of the invitation token, 32 raw bytes.
  absl::Time expire_time;
  std::optional<absl::Time> grant_expire_time;
  // Argon2id hash of the invitation's passcode, or empty for none.
  std::string passcode_hash;
  // The maximum number of invitations the owner may create in 24 hours, counting this
  // one; 0 for no limit.
  int daily_limit = 0;
};

// GrantRecord is a grant joined with its delegate's and its owner's accounts.
struct GrantRecord {
  std::string id;
  std::string owner_account_id;
  std::string delegate_account_id;
  std::string delegate_email;
  std::string delegate_first_name;
  std::string delegate_last_name;
  AccessLevel access_level = v1::ACCESS_LEVEL_UNSPECIFIED;
  std::string invitation_id;
  absl::Time create_time;
  absl::Time update_time;
  int64_t version = 0;                    // Grows by one with every change; the API's etag.
  std::optional<absl::Time> expire_time;  // When the grant stops allowing anything.
  std::string owner_first_name;
  std::string owner_last_name;
  GrantState state = v1::GRANT_STATE_UNSPECIFIED;  // ACTIVE, or why the grant ended.
  std::optional<absl::Time> end_time;              // When it ended; nullopt while ACTIVE.
};

// GrantUpdate is the change UpdateGrant makes.
struct GrantUpdate {
  AccessLevel access_level = v1::ACCESS_LEVEL_UNSPECIFIED;
  bool change_expire_time = false;        // False keeps the grant's expire_time.
  std::optional<absl::Time> expire_time;  // The new end, or nullopt for none.
};

// PagePosition is where a page of a list ends: the (create_time, id) of its last item.
struct PagePosition {
  absl::Time create_time;
  std::string id;
};

// PageRequest requests up to `limit` items after `after` (from the start when nullopt).
struct PageRequest {
  int limit = 50;
  std::optional<PagePosition> after;
};

// Page is one page of a list; `next` is set when more items may follow.
template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<PagePosition> next;
};

// IdempotencyKey lets a write be retried safely. The store records the key and the result
// in the write's transaction. A later write with the same caller, method and request_id
// returns the recorded result and changes nothing, or fails with INVALID_ARGUMENT when its
// fingerprint differs. An empty request_id records nothing.
struct IdempotencyKey {
  std::string caller;       // The writer, such as "account:<id>" or "service:<name>".
  std::string method;       // The RPC name.
  std::string request_id;   // From the request; empty for none.
  std::string fingerprint;  // A digest of the request.
};

// ExpectedVersion is the version a change requires, from the request's etag; nullopt
// requires none. A change whose row has another version fails with ABORTED.
using ExpectedVersion = std::optional<int64_t>;

// InvitationLookup is what the portal shows for an invitation link.
struct InvitationLookup {
  InvitationRecord invitation;
  AccountRecord owner;
  bool account_exists = false;
  bool passcode_required = false;
};

// PasscodeOutcome is the result of CheckInvitationPasscode.
enum class PasscodeOutcome {
  kNotRequired,  // No PENDING, unexpired invitation with a passcode has the token, or the
                 // caller is the invitation's owner.
  kWrongAccount,  // The caller's email is not the invited one; nothing checked or counted.
  kMissing,       // The invitation has a passcode and none was given; nothing counted.
  kCorrect,
  kWrong,     // Counted; the invitation is still PENDING.
  kCanceled,  // This wrong passcode reached the limit and canceled the invitation.
};

// PasscodeCheck is what CheckInvitationPasscode found.
struct PasscodeCheck {
  PasscodeOutcome outcome = PasscodeOutcome::kNotRequired;
  std::string invitation_id;  // Empty for kNotRequired and kWrongAccount.
  int tries_left = 0;         // Wrong passcodes still allowed, for kWrong.
};

// PasscodeVerifier returns whether the passcode of a request matches `passcode_hash`, or
// the error that kept it from checking, such as RESOURCE_EXHAUSTED from a full hashing
// queue.
using PasscodeVerifier = std::function<absl::StatusOr<bool>(const std::string& passcode_hash)>;

// Confirmation is the result of confirming an invitation.
struct Confirmation {
  InvitationRecord invitation;
  GrantRecord grant;
};

// OutboxEmail is an email to deliver after the transaction that queues it commits.
//
// The bodies may contain the placeholder kSecretPlaceholder; the deliverer replaces it
// with the plain text of `sealed_secret` (encrypted by the server, opaque to the store),
// so that no invitation token is stored in clear text.
struct OutboxEmail {
  std::string message_id;  // Globally unique; the deliverer names files by it.
  std::string recipient;
  std::string subject;
  std::string body_text;
  std::string body_html;
  std::string sealed_secret;  // Raw bytes; empty when the bodies hold no placeholder.
};

inline constexpr char kSecretPlaceholder[] = "{{secret}}";

// The FAILED_PRECONDITION message of ConfirmInvitation when the grant's end time, chosen at
// invitation, has passed: the grant would end before it starts.
inline constexpr char kGrantEndPassedMessage[] =
    "grant_expire_time of this invitation has passed, so the grant would end before it "
    "starts; cancel the invitation and send a new one";

// QueuedEmail is an outbox row waiting for delivery.
struct QueuedEmail {
  int64_t id = 0;
  OutboxEmail email;
  absl::Time create_time;
  int attempts = 0;
};

// FailedEmail is an undelivered outbox email whose last delivery attempt failed: one that
// will be retried, or a dead one that is retried only on request.
struct FailedEmail {
  int64_t id = 0;
  std::string message_id;
  std::string recipient;
  std::string subject;
  int attempts = 0;        // Failed attempts since the email was queued or last revived.
  std::string last_error;  // Error of the last failed attempt; empty after RetryEmail.
  absl::Time create_time;
  std::optional<absl::Time> last_attempt_time;  // When the last attempt failed.
  absl::Time next_attempt_time;  // Earliest next claim; meaningless while dead.
  std::optional<absl::Time> dead_time;  // When the email was given up; nullopt if retrying.
};

// StoreStats is a snapshot of the store for monitoring.
struct StoreStats {
  int pool_size = 0;            // Maximum connections in the pool.
  int pool_in_use = 0;          // Connections lent to calls now.
  int64_t pool_waits = 0;       // Calls that waited for a free connection, since start.
  absl::Duration pool_wait_time;  // Total time of those waits.
  int64_t outbox_backlog = 0;   // Emails not yet delivered.
  int64_t outbox_failing = 0;   // Undelivered emails whose last attempt failed.
  int64_t outbox_dead = 0;      // Undelivered emails given up after failed attempts.
  // Stored invitation states ("PENDING", ...) and how many invitations are in each.
  std::vector<std::pair<std::string, int64_t>> invitations_by_state;
  int64_t live_grants = 0;      // Grants in force.
};

// AuditEventRecord is a row of the audit_events table.
struct AuditEventRecord {
  int64_t id = 0;
  absl::Time event_time;
  std::string actor_kind;        // "account", "service" or "system".
  std::string actor_id;
  std::string owner_account_id;  // Empty when the row has none.
  std::string action;
  std::string target_type;
  std::string target_id;
  std::string before_json;
  std::string after_json;
  std::string request_id;
  std::string peer;
};

// AuditEventQuery selects audit events. Empty strings and unset times select everything.
struct AuditEventQuery {
  std::string owner_account_id;      // A UUID, or empty for every owner.
  std::string actor_id;
  std::optional<absl::Time> start_time;  // Inclusive.
  std::optional<absl::Time> end_time;    // Exclusive.
  std::optional<int64_t> before_id;      // Only events with a smaller id, for paging.
  int limit = 50;
};

// GrantChangeRecord is a row of the grant_changes table; `id` is the stream's cursor.
struct GrantChangeRecord {
  int64_t id = 0;
  absl::Time change_time;
  std::string grant_id;
  std::string owner_account_id;
  std::string delegate_account_id;
  std::string change;  // "CREATED", "LEVEL_CHANGED", "REVOKED" or "EXPIRED".
  AccessLevel access_level = v1::ACCESS_LEVEL_UNSPECIFIED;
};

// AccountDeletion counts what DeleteAccount ended.
struct AccountDeletion {
  int revoked_grants = 0;
  int canceled_invitations = 0;
  int ended_sessions = 0;
};

// EmailContext is what the server needs to compose the email a change sends. `invitee`
// is set once the invitation has an invitee account.
struct EmailContext {
  InvitationRecord invitation;
  AccountRecord owner;
  std::optional<AccountRecord> invitee;
};

// EmailComposer builds the email for a change, inside the change's transaction, so the
// email is queued if and only if the change commits.
using EmailComposer = std::function<OutboxEmail(const EmailContext&)>;

// GrantEmailContext is what the server needs to compose the emails of a grant change.
struct GrantEmailContext {
  GrantRecord grant;
  AccountRecord owner;
  AccountRecord delegate;
};

// GrantEmailComposer builds the emails of a grant change (none, one or several) inside
// the change's transaction.
using GrantEmailComposer = std::function<std::vector<OutboxEmail>(const GrantEmailContext&)>;

// SweepOptions are the settings of one SweepExpiredGrants run.
struct SweepOptions {
  absl::Time now;
  // Grants whose expire_time falls within this window after `now` get one warning.
  absl::Duration warning_window;
  // The most grants handled per step, so that one run stays a short transaction.
  int batch_size = 100;
  GrantEmailComposer compose_expired;   // Emails for a grant that has expired.
  GrantEmailComposer compose_expiring;  // Emails for a grant about to expire.
};

// SweepResult counts what one SweepExpiredGrants run did.
struct SweepResult {
  int expired = 0;   // Grants newly marked expired.
  int notified = 0;  // Expired grants whose emails were queued.
  int warned = 0;    // Grants whose "about to expire" emails were queued.
};

// PurgeOptions are the settings of one PurgeStaleRecords run.
struct PurgeOptions {
  absl::Time now;
  // A request_id is remembered at least this long; a retry after that runs the request
  // again.
  absl::Duration request_id_retention = absl::Hours(24);
  // Sign-in failures older than this no longer count (SignInPolicy::lockout), so their
  // throttle rows go once they block nothing.
  absl::Duration sign_in_failure_lifetime = absl::Minutes(15);
  // Sessions that ended or expired at least this long ago are deleted.
  absl::Duration ended_session_retention = absl::Hours(24);
  // Maximum rows deleted from each table per call, so that one run stays short.
  int batch_size = 1000;
};

// PurgeResult counts the rows one PurgeStaleRecords run deleted.
struct PurgeResult {
  int request_ids = 0;
  int sign_in_throttles = 0;
  int sessions = 0;
};
// Store is the service's durable state. Each method is one database transaction: it
// takes full effect or none.
//
// Status codes, shared by every method: UNAVAILABLE when the database cannot be reached
// (the pool reconnects on the next call) or the connection broke during COMMIT, which
// leaves the outcome unknown until a retry with the same request_id; ABORTED on a serialization failure or deadlock
// (safe to retry); INTERNAL for anything else, with a message that contains no
// parameter values.
//
// Thread-safe: methods may be called concurrently from any thread.
class Store {
 public:
  virtual ~Store() = default;

  // Inserts an account and its "account.created" audit event. ALREADY_EXISTS if a live
  // account has the same email, ignoring case.
  virtual absl::StatusOr<AccountRecord> CreateAccount(const Actor& actor,
                                                      const NewAccount& account) = 0;

  // Creates the invitee's account for the PENDING, unexpired invitation whose token
  // hashes to `token_hash`, using the invited email (account.email is ignored), and marks
  // the token used for sign-up. NOT_FOUND if no such invitation exists or its token was
  // already used for sign-up; ALREADY_EXISTS if the invited email has an account. Writes
  // an "account.created" audit event whose actor id is the new account.
  virtual absl::StatusOr<AccountRecord> SignUpWithInvitation(const Actor& actor,
                                                             const std::string& token_hash,
                                                             const NewAccount& account,
                                                             absl::Time now) = 0;

  // Returns the credentials of the account whose lower-case email is `email_normalized`.
  // NOT_FOUND if there is none.
  virtual absl::StatusOr<Credentials> FindCredentials(const std::string& email_normalized) = 0;

  // Returns the credentials of the live account with this id. NOT_FOUND if there is none,
  // it is deleted, or `account_id` is not a UUID.
  virtual absl::StatusOr<Credentials> FindCredentialsById(const std::string& account_id) = 0;

  // Returns the account with this id. NOT_FOUND if there is none, it is deleted, or
  // `account_id` is not a UUID.
  virtual absl::StatusOr<AccountRecord> GetAccount(const std::string& account_id) = 0;

  // Stores a session by the SHA-256 of its token.
  virtual absl::Status CreateSession(const std::string& token_hash,
                                     const std::string& account_id, absl::Time expire_time) = 0;

  // Returns the account id of the live session whose token hashes to `token_hash`.
  // NOT_FOUND if there is none, or it has ended or expired by `now`. Ignores the idle
  // timeout, which GetSession lets the caller apply.
  virtual absl::StatusOr<std::string> FindSession(const std::string& token_hash,
                                                  absl::Time now) = 0;

  // Returns the session whose token hashes to `token_hash`, whatever its expire_time,
  // last_used_time and end_time. NOT_FOUND if there is none, which includes sessions
  // that PurgeStaleRecords deleted.
  virtual absl::StatusOr<SessionRecord> GetSession(const std::string& token_hash) = 0;

  // Sets the last_used_time of a live session to `now`, unless it is already later than
  // `now - precision`, so that a busy session is written at most once per `precision`.
  virtual absl::Status TouchSession(const std::string& token_hash, absl::Time now,
                                    absl::Duration precision) = 0;

  // Admits a sign-in attempt for the email whose lower-case form is `email_normalized`,
  // whether or not an account has it. RESOURCE_EXHAUSTED with a retry delay (see
  // storage/retry_delay.h) while the email waits out a delay or lockout of `policy`.
  // Otherwise counts the attempt as a failure before the caller checks the password, so
  // that parallel guesses cannot overtake the count, sets the delay that a failure
  // earns, and returns the credentials of the account, if any.
  virtual absl::StatusOr<SignInAttempt> BeginSignIn(const std::string& email_normalized,
                                                    absl::Time now, const SignInPolicy& policy) = 0;

  // Clears the failure count of `email_normalized` after a successful sign-in.
  virtual absl::Status ClearSignInFailures(const std::string& email_normalized) = 0;

  // Ends a session. OK even if it had already ended.
  virtual absl::Status EndSession(const std::string& token_hash) = 0;

  // Sets the password hash of a live account, ends every live session of it except the
  // one whose token hashes to `keep_session_token_hash`, and writes an
  // "account.password_changed" audit event. Returns the number of sessions ended.
  // NOT_FOUND if the account does not exist or is deleted.
  virtual absl::StatusOr<int> ChangePassword(const Actor& actor, const std::string& account_id,
                                             const std::string& password_hash,
                                             const std::string& keep_session_token_hash) = 0;

  // Deletes a live account in one transaction: marks it deleted, clears its password hash,
  // replaces its email_normalized with a tombstone so the email is free, ends its
  // sessions, cancels the PENDING and ACCEPTED invitations it sent and the ACCEPTED ones
  // it accepted, and revokes the live grants on its record and those it holds. Each
  // change writes an audit event, and each revoked grant a REVOKED grant change.
  // NOT_FOUND if the account does not exist, is deleted or `account_id` is not a UUID.
  virtual absl::StatusOr<AccountDeletion> DeleteAccount(const Actor& actor,
                                                        const std::string& account_id) = 0;

  // Appends an audit event about `account_id` that goes with no other change, such as a
  // sign-in. An `account_id` that is not a UUID stores no owner.
  virtual absl::Status RecordAccountEvent(const Actor& actor, const std::string& account_id,
                                          const std::string& action) = 0;

  // Lists audit events that match `query`, newest first by id, at most `query.limit`.
  virtual absl::StatusOr<std::vector<AuditEventRecord>> ListAuditEvents(
      const AuditEventQuery& query) = 0;

  // Lists up to `limit` grant changes with ids above `after_id`, in id order. Ids become
  // visible in increasing order (see RecordGrantChange), so a reader that resumes after the
  // last id it read misses none.
  virtual absl::StatusOr<std::vector<GrantChangeRecord>> ListGrantChanges(int64_t after_id,
                                                                          int limit) = 0;

  // Returns the id of the latest grant change, or 0 when there is none.
  virtual absl::StatusOr<int64_t> LatestGrantChangeId() = 0;

  // Inserts a PENDING invitation and queues the invitation email built by `compose`.
  // NOT_FOUND if the owner account does not exist; INVALID_ARGUMENT if the email is the
  // owner's own; ALREADY_EXISTS if the owner has a PENDING or ACCEPTED unexpired
  // invitation for the same email (ignoring case), or the account with that email holds a
  // live grant on the owner's record. RESOURCE_EXHAUSTED with a retry delay when
  // invitation.daily_limit is set and the owner created that many invitations in the last
  // 24 hours. Racing creates of one owner run one after the other, so none exceeds it.
  virtual absl::StatusOr<InvitationRecord> CreateInvitation(const Actor& actor,
                                                            const NewInvitation& invitation,
                                                            const EmailComposer& compose,
                                                            const IdempotencyKey& idempotency) = 0;

  // Describes the PENDING, unexpired invitation whose token hashes to `token_hash`.
  // NOT_FOUND otherwise.
  virtual absl::StatusOr<InvitationLookup> LookupInvitation(const std::string& token_hash,
                                                            absl::Time now) = 0;

  // Checks the passcode that account `account_id` gives for the PENDING, unexpired
  // invitation whose token hashes to `token_hash`. The invitation's row stays locked from
  // the email match to the count, so racing tries are counted one after the other and no
  // try counts unless the account's email is the invited one (letter case ignored).
  // Returns kWrongAccount for another email and kNotRequired for the owner, without
  // reading or counting the passcode. `has_passcode` is true when the request carries a
  // passcode, and `verify` compares that passcode with the stored hash; its error is
  // returned with nothing counted. A wrong passcode is counted and commits. The
  // `max_failures`th one cancels the invitation, writes an
  // "invitation.passcode_locked" audit event and queues the owner's email built by
  // `compose_canceled`.
  virtual absl::StatusOr<PasscodeCheck> CheckInvitationPasscode(
      const Actor& actor, const std::string& token_hash, const std::string& account_id,
      absl::Time now, bool has_passcode, const PasscodeVerifier& verify, int max_failures,
      const EmailComposer& compose_canceled) = 0;

  // Moves the invitation whose token hashes to `token_hash` from PENDING to ACCEPTED for
  // `invitee_account_id`, and queues the owner's confirmation email built by `compose`.
  // Of concurrent calls, exactly one succeeds.
  //
  // NOT_FOUND if no invitation has this token, or it is expired, or it is past PENDING
  // and this account is not its invitee. FAILED_PRECONDITION if this account already
  // accepted it. PERMISSION_DENIED if the account's email is not the invited one.
  // INVALID_ARGUMENT if the account is the owner.
  virtual absl::StatusOr<InvitationRecord> AcceptInvitation(
      const Actor& actor, const std::string& token_hash, const std::string& invitee_account_id,
      absl::Time now, const EmailComposer& compose, const IdempotencyKey& idempotency) = 0;

  // Moves the PENDING, unexpired invitation whose token hashes to `token_hash` to
  // DECLINED, so the token dies, and queues the owner's email built by `compose`.
  // NOT_FOUND otherwise.
  virtual absl::StatusOr<InvitationRecord> DeclineInvitation(
      const Actor& actor, const std::string& token_hash, absl::Time now,
      const EmailComposer& compose, const IdempotencyKey& idempotency) = 0;

  // Moves an ACCEPTED invitation of `owner_account_id` to CONFIRMED, creates the grant,
  // and queues the delegate's email built by `compose`. NOT_FOUND if the invitation does
  // not exist or belongs to another owner; ABORTED if `expected` is set and stale;
  // FAILED_PRECONDITION if it is not ACCEPTED, or with kGrantEndPassedMessage if its
  // grant_expire_time has passed. Of a concurrent confirm and deny, exactly
  // one succeeds.
  virtual absl::StatusOr<Confirmation> ConfirmInvitation(const Actor& actor,
                                                         const std::string& owner_account_id,
                                                         const std::string& invitation_id,
                                                         ExpectedVersion expected,
                                                         const EmailComposer& compose,
                                                         const IdempotencyKey& idempotency) = 0;

  // Moves an ACCEPTED invitation of `owner_account_id` to DENIED and queues the
  // invitee's email built by `compose`. Errors as ConfirmInvitation.
  virtual absl::StatusOr<InvitationRecord> DenyInvitation(const Actor& actor,
                                                          const std::string& owner_account_id,
                                                          const std::string& invitation_id,
                                                          ExpectedVersion expected,
                                                          const EmailComposer& compose,
                                                          const IdempotencyKey& idempotency) = 0;

  // Gives a PENDING, unexpired invitation of `owner_account_id` the new token hash and
  // expire_time in one conditional update, so the old token dies at once, and queues the
  // new invitation email built by `compose`. NOT_FOUND as ConfirmInvitation; ABORTED if
  // `expected` is set and stale; FAILED_PRECONDITION if it is not PENDING or has expired.
  // When `daily_limit` is positive, a resend counts toward the same daily limit as
  // CreateInvitation, with the same RESOURCE_EXHAUSTED, and the owner's row is locked so
  // that racing creates and resends cannot pass it. A retry with the same request id
  // returns the first response and counts nothing.
  virtual absl::StatusOr<InvitationRecord> ResendInvitation(
      const Actor& actor, const std::string& owner_account_id, const std::string& invitation_id,
      ExpectedVersion expected, const std::string& token_hash, absl::Time expire_time,
      absl::Time now, int daily_limit, const EmailComposer& compose,
      const IdempotencyKey& idempotency) = 0;

  // Moves a PENDING (unexpired) or ACCEPTED invitation of `owner_account_id` to CANCELED,
  // so its token dies, and queues the invitee's email built by `compose`. Errors as
  // ResendInvitation, with FAILED_PRECONDITION for other states.
  virtual absl::StatusOr<InvitationRecord> CancelInvitation(
      const Actor& actor, const std::string& owner_account_id, const std::string& invitation_id,
      ExpectedVersion expected, absl::Time now, const EmailComposer& compose,
      const IdempotencyKey& idempotency) = 0;

  // Lists a page of the owner's invitations, newest first by (create_time, id); `state`
  // filters unless UNSPECIFIED. `page.after` continues after that position.
  virtual absl::StatusOr<Page<InvitationRecord>> ListInvitations(
      const std::string& owner_account_id, InvitationState state, absl::Time now,
      const PageRequest& page) = 0;

  // Lists a page of the grants on the owner's record that are in `state` at `now`,
  // oldest first by (create_time, id). A grant past its expire_time is EXPIRED whether or
  // not the sweep has marked it. INVALID_ARGUMENT for GRANT_STATE_UNSPECIFIED and values
  // outside the enum: the caller picks the state.
  virtual absl::StatusOr<Page<GrantRecord>> ListGrants(const std::string& owner_account_id,
                                                       GrantState state, absl::Time now,
                                                       const PageRequest& page) = 0;

  // As ListGrants, for the grants that `delegate_account_id` holds.
  virtual absl::StatusOr<Page<GrantRecord>> ListDelegatedAccess(
      const std::string& delegate_account_id, GrantState state, absl::Time now,
      const PageRequest& page) = 0;

  // Changes the level and, if asked, the expire_time of a grant of `owner_account_id` in
  // force, and queues the delegate's email built by `compose`. NOT_FOUND if the grant does
  // not exist, has ended or belongs to another owner; ABORTED if `expected` is set and
  // stale.
  virtual absl::StatusOr<GrantRecord> UpdateGrant(const Actor& actor,
                                                  const std::string& owner_account_id,
                                                  const std::string& grant_id,
                                                  ExpectedVersion expected,
                                                  const GrantUpdate& update,
                                                  const GrantEmailComposer& compose,
                                                  const IdempotencyKey& idempotency) = 0;

  // Revokes a grant of `owner_account_id` in force, queues the emails built by `compose`,
  // and returns the grant as it was revoked. Errors as UpdateGrant.
  virtual absl::StatusOr<GrantRecord> RevokeGrant(const Actor& actor,
                                                  const std::string& owner_account_id,
                                                  const std::string& grant_id,
                                                  ExpectedVersion expected,
                                                  const GrantEmailComposer& compose,
                                                  const IdempotencyKey& idempotency) = 0;

  // Ends a grant in force that `delegate_account_id` holds, at the delegate's request,
  // and queues the emails built by `compose`. Errors as UpdateGrant, with NOT_FOUND for a
  // grant that another account holds.
  virtual absl::StatusOr<GrantRecord> LeaveGrant(const Actor& actor,
                                                 const std::string& delegate_account_id,
                                                 const std::string& grant_id,
                                                 ExpectedVersion expected,
                                                 const GrantEmailComposer& compose,
                                                 const IdempotencyKey& idempotency) = 0;

  // Returns the grant of `delegate_account_id` on `owner_account_id`'s record that is in
  // force now (not ended, not past its expire_time), or nullopt. Ids that are not UUIDs
  // simply have no grant.
  virtual absl::StatusOr<std::optional<GrantRecord>> FindGrant(
      const std::string& owner_account_id, const std::string& delegate_account_id) = 0;

  // Marks the grants past their expire_time as expired (auditing as `actor` and recording
  // an EXPIRED grant change), queues their "expired" emails once, and queues the "about
  // to expire" emails once for grants that end within options.warning_window. Handles at
  // most options.batch_size grants of each kind per call; call again while the result is
  // nonzero to drain a backlog. Safe to run from several servers at once.
  virtual absl::StatusOr<SweepResult> SweepExpiredGrants(const Actor& actor,
                                                         const SweepOptions& options) = 0;

  // Deletes rows that no longer affect any result: request_ids older than
  // options.request_id_retention, sign-in throttles whose failures have lapsed and that
  // block nothing, and sessions that ended or expired before options.ended_session_retention.
  // Deletes at most options.batch_size rows of each table per call; call again while the
  // result is nonzero. Safe to run from several servers at once.
  virtual absl::StatusOr<PurgeResult> PurgeStaleRecords(const PurgeOptions& options) = 0;

  // Sets the function that the store calls after a transaction of this store that queued
  // at least one outbox email commits, so that a deliverer in the same process can start
  // at once. It runs on the thread of the transaction. Emails queued through other store
  // objects or processes do not call it. Call before the store is shared between threads.
  // `listener` must be thread-safe and cheap; an empty function removes it.
  virtual void SetEmailQueuedListener(std::function<void()> listener) = 0;

  // Locks and returns up to `limit` undelivered emails, oldest first, skipping rows that
  // another deliverer holds. The caller delivers them and then reports each with
  // MarkEmailsDelivered or MarkEmailFailed.
  virtual absl::StatusOr<std::vector<QueuedEmail>> ClaimEmails(int limit) = 0;

  // Records in one transaction that the emails with these ids were delivered; they are
  // not claimed again. Marking an email twice is harmless. NOT_FOUND, with no email marked,
  // if any id names no outbox email; OK for an empty list.
  virtual absl::Status MarkEmailsDelivered(const std::vector<int64_t>& ids) = 0;

  // Records a failed delivery attempt with its error text; the email is claimed again
  // after `retry_after`.
  virtual absl::Status MarkEmailFailed(int64_t id, const std::string& error,
                                       absl::Duration retry_after) = 0;

  // Records a failed delivery attempt with its error text and gives the email up: it is
  // not claimed again until RetryEmail revives it. NOT_FOUND if no undelivered email has
  // this id.
  virtual absl::Status MarkEmailDead(int64_t id, const std::string& error) = 0;

  // Lists up to `limit` undelivered emails with at least one failed attempt, dead or
  // not, in increasing id (queue order) after the email with id `after_id` (0 for the
  // start). INVALID_ARGUMENT if `limit` is below 1.
  virtual absl::StatusOr<std::vector<FailedEmail>> ListFailedEmails(int64_t after_id,
                                                                    int limit) = 0;

  // Makes the undelivered email with `message_id` due now, with no failed attempts and no
  // dead mark, and returns it as it is after the change. NOT_FOUND if no email has this
  // message id (or it is not a UUID); FAILED_PRECONDITION if it was already delivered.
  virtual absl::StatusOr<FailedEmail> RetryEmail(const std::string& message_id) = 0;

  // Returns the position in the write-ahead log up to which this database's data is
  // current, in bytes (a pg_lsn as a number). On a primary it is the insert position, so a
  // call made after a write has committed returns a position at or after that commit. On
  // a streaming-replication standby it is the replay position.
  virtual absl::StatusOr<uint64_t> CurrentWalPosition() = 0;

  // Returns OK when the database responds to a trivial query.
  virtual absl::Status Ping() = 0;

  // Returns counts for monitoring; doubles as a health check, since it queries the
  // database.
  virtual absl::StatusOr<StoreStats> ReadStats() = 0;
};

// Applies every migration in storage/migrations that the database lacks, in version
// order, each in its own transaction, under an advisory lock so that servers starting
// together apply each one once. Returns the versions it applied (empty if none).
absl::StatusOr<std::vector<int>> ApplyMigrations(const std::string& database_url);

// Opens a Postgres-backed Store with a pool of `pool_size` connections.
// UNAVAILABLE if the database cannot be reached; FAILED_PRECONDITION if migrations
// have not been applied.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& database_url,
                                                         int pool_size);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_STORE_H_
