#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/pg_types.h"
#include "storage/postgres_store.h"

namespace accessdelegation::storage {
namespace {

// How long a claimed email stays hidden from other deliverers. The row lock of FOR UPDATE
// SKIP LOCKED ends when ClaimEmails commits, so the claim itself moves deliver_after past
// this lease; MarkEmailsDelivered or MarkEmailFailed then settles the row. A deliverer that
// dies in between leaves the email to be claimed again once the lease runs out, so an
// email written just before such a crash can be delivered twice.
constexpr absl::Duration kClaimLease = absl::Minutes(1);

// A NULL message id ($1) gets a random one.
constexpr Statement kInsertOutboxEmail = {"insert_outbox_email", R"sql(
INSERT INTO outbox (message_id, recipient, subject, body_text, body_html, sealed_secret)
VALUES (COALESCE($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6)
)sql"};

// Claims the oldest due emails that no other transaction has locked, and moves their
// deliver_after past the lease ($2 microseconds) in the same statement.
constexpr Statement kClaimEmails = {"claim_emails", R"sql(
WITH due AS (
  SELECT id
  FROM outbox
  WHERE delivered_time IS NULL AND dead_time IS NULL AND deliver_after <= now()
  ORDER BY id
  LIMIT $1
  FOR UPDATE SKIP LOCKED
)
UPDATE outbox o
SET deliver_after = now() + $2::bigint * interval '1 microsecond'
FROM due
WHERE o.id = due.id
RETURNING o.id, o.message_id::text AS message_id, o.recipient, o.subject, o.body_text,
          o.body_html, o.sealed_secret, unix_micros(o.create_time) AS create_time, o.attempts
)sql"};

// $1 is a bigint[] of outbox ids.
constexpr Statement kMarkEmailsDelivered = {"mark_emails_delivered", R"sql(
UPDATE outbox
SET delivered_time = COALESCE(delivered_time, now()), last_error = ''
WHERE id = ANY($1::bigint[])
)sql"};

// $3 is the retry delay in microseconds.
constexpr Statement kMarkEmailFailed = {"mark_email_failed", R"sql(
UPDATE outbox
SET attempts = attempts + 1,
    last_error = $2,
    last_attempt_time = now(),
    deliver_after = now() + $3::bigint * interval '1 microsecond'
WHERE id = $1 AND delivered_time IS NULL
)sql"};

constexpr Statement kMarkEmailDead = {"mark_email_dead", R"sql(
UPDATE outbox
SET attempts = attempts + 1,
    last_error = $2,
    last_attempt_time = now(),
    dead_time = now()
WHERE id = $1 AND delivered_time IS NULL
)sql"};

// $1 is the id after which the page starts, $2 the page size. The columns are those that
// FailedEmailFromRow reads, as in kReviveEmail.
constexpr Statement kListFailedEmails = {"list_failed_emails", R"sql(
SELECT id, message_id::text AS message_id, recipient, subject, attempts, last_error,
       unix_micros(create_time) AS create_time,
       unix_micros(last_attempt_time) AS last_attempt_time,
       unix_micros(deliver_after) AS next_attempt_time, unix_micros(dead_time) AS dead_time
FROM outbox
WHERE delivered_time IS NULL AND attempts > 0 AND id > $1
ORDER BY id
LIMIT $2
)sql"};

// Locks the row, so that RetryEmail tells "delivered" from "unknown" consistently.
constexpr Statement kFindEmailByMessageId = {"find_email_by_message_id", R"sql(
SELECT delivered_time IS NOT NULL AS delivered FROM outbox WHERE message_id = $1::uuid
FOR UPDATE
)sql"};

constexpr Statement kReviveEmail = {"revive_email", R"sql(
UPDATE outbox
SET attempts = 0, last_error = '', dead_time = NULL, deliver_after = now()
WHERE message_id = $1::uuid AND delivered_time IS NULL
RETURNING id, message_id::text AS message_id, recipient, subject, attempts, last_error,
          unix_micros(create_time) AS create_time,
          unix_micros(last_attempt_time) AS last_attempt_time,
          unix_micros(deliver_after) AS next_attempt_time, unix_micros(dead_time) AS dead_time
)sql"};

QueuedEmail QueuedEmailFromRow(const pqxx::row& row) {
  QueuedEmail queued;
  queued.id = row["id"].as<int64_t>();
  queued.email.message_id = ReadText(row["message_id"]);
  queued.email.recipient = ReadText(row["recipient"]);
  queued.email.subject = ReadText(row["subject"]);
  queued.email.body_text = ReadText(row["body_text"]);
  queued.email.body_html = ReadText(row["body_html"]);
  queued.email.sealed_secret = ReadBytes(row["sealed_secret"]);
  queued.create_time = ReadTime(row["create_time"]);
  queued.attempts = row["attempts"].as<int>();
  return queued;
}

std::optional<absl::Time> ReadOptionalTime(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return ReadTime(field);
}

FailedEmail FailedEmailFromRow(const pqxx::row& row) {
  FailedEmail email;
  email.id = row["id"].as<int64_t>();
  email.message_id = ReadText(row["message_id"]);
  email.recipient = ReadText(row["recipient"]);
  email.subject = ReadText(row["subject"]);
  email.attempts = row["attempts"].as<int>();
  email.last_error = ReadText(row["last_error"]);
  email.create_time = ReadTime(row["create_time"]);
  email.last_attempt_time = ReadOptionalTime(row["last_attempt_time"]);
  email.next_attempt_time = ReadTime(row["next_attempt_time"]);
  email.dead_time = ReadOptionalTime(row["dead_time"]);
  return email;
}

}  // namespace

void PrepareOutboxStatements(pqxx::connection& connection) {
  PrepareStatements(connection, {kInsertOutboxEmail, kClaimEmails, kMarkEmailsDelivered,
                                 kMarkEmailFailed, kMarkEmailDead, kListFailedEmails,
                                 kFindEmailByMessageId, kReviveEmail});
}

thread_local int64_t emails_queued_on_this_thread = 0;

int64_t EmailsQueuedOnThisThread() { return emails_queued_on_this_thread; }

absl::Status InsertOutboxEmail(pqxx::transaction_base& txn, const OutboxEmail& email) {
  if (!email.message_id.empty() && !IsUuid(email.message_id)) {
    return absl::InternalError("the composed email's message_id is not a UUID");
  }
  const char* message_id = email.message_id.empty() ? nullptr : email.message_id.c_str();
  txn.exec_prepared0(kInsertOutboxEmail.name, message_id, email.recipient, email.subject,
                     email.body_text, email.body_html, BytesParameter(email.sealed_secret));
  ++emails_queued_on_this_thread;
  return absl::OkStatus();
}

void PostgresStore::SetEmailQueuedListener(std::function<void()> listener) {
  email_queued_listener_ = std::move(listener);
}

absl::StatusOr<std::vector<QueuedEmail>> PostgresStore::ClaimEmails(int limit) {
  if (limit < 1) return absl::InvalidArgumentError("limit must be at least 1");

  using Emails = std::vector<QueuedEmail>;
  return Transact("ClaimEmails", [&](pqxx::work& txn) -> absl::StatusOr<Emails> {
    const pqxx::result result =
        txn.exec_prepared(kClaimEmails.name, limit, MicrosecondsParameter(kClaimLease));
    Emails emails;
    emails.reserve(result.size());
    for (const pqxx::row& row : result) emails.push_back(QueuedEmailFromRow(row));
    // RETURNING has no defined order.
    std::sort(emails.begin(), emails.end(),
              [](const QueuedEmail& a, const QueuedEmail& b) { return a.id < b.id; });
    return emails;
  });
}

absl::Status PostgresStore::MarkEmailsDelivered(const std::vector<int64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();

  // The ids as an array literal, such as {3,4,9}.
  const std::string id_array = absl::StrCat("{", absl::StrJoin(ids, ","), "}");
  const std::set<int64_t> distinct(ids.begin(), ids.end());
  return Transact("MarkEmailsDelivered", [&](pqxx::work& txn) -> absl::Status {
    const pqxx::result result = txn.exec_prepared(kMarkEmailsDelivered.name, id_array);
    if (result.affected_rows() < distinct.size()) {
      // Returning an error rolls the marks back.
      return absl::NotFoundError(absl::StrCat(distinct.size() - result.affected_rows(), " of ",
                                              distinct.size(), " ids name no outbox email"));
    }
    return absl::OkStatus();
  });
}

absl::Status PostgresStore::MarkEmailFailed(int64_t id, const std::string& error,
                                            absl::Duration retry_after) {
  return Transact("MarkEmailFailed", [&](pqxx::work& txn) -> absl::Status {
    const pqxx::result result =
        txn.exec_prepared(kMarkEmailFailed.name, id, error, MicrosecondsParameter(retry_after));
    if (result.affected_rows() == 0) {
      return absl::NotFoundError("no undelivered outbox email has this id");
    }
    return absl::OkStatus();
  });
}

absl::Status PostgresStore::MarkEmailDead(int64_t id, const std::string& error) {
  return Transact("MarkEmailDead", [&](pqxx::work& txn) -> absl::Status {
    const pqxx::result result = txn.exec_prepared(kMarkEmailDead.name, id, error);
    if (result.affected_rows() == 0) {
      return absl::NotFoundError("no undelivered outbox email has this id");
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<FailedEmail>> PostgresStore::ListFailedEmails(int64_t after_id,
                                                                         int limit) {
  if (limit < 1) return absl::InvalidArgumentError("limit must be at least 1");

  using Emails = std::vector<FailedEmail>;
  return Transact("ListFailedEmails", [&](pqxx::work& txn) -> absl::StatusOr<Emails> {
    const pqxx::result result = txn.exec_prepared(kListFailedEmails.name, after_id, limit);
    Emails emails;
    emails.reserve(result.size());
    for (const pqxx::row& row : result) emails.push_back(FailedEmailFromRow(row));
    return emails;
  });
}

absl::StatusOr<FailedEmail> PostgresStore::RetryEmail(const std::string& message_id) {
  if (!IsUuid(message_id)) return absl::NotFoundError("no outbox email has this message id");

  return Transact("RetryEmail", [&](pqxx::work& txn) -> absl::StatusOr<FailedEmail> {
    const pqxx::result found = txn.exec_prepared(kFindEmailByMessageId.name, message_id);
    if (found.empty()) return absl::NotFoundError("no outbox email has this message id");
    if (found[0]["delivered"].as<bool>()) {
      return absl::FailedPreconditionError("the email was already delivered");
    }

    const pqxx::result revived = txn.exec_prepared(kReviveEmail.name, message_id);
    if (revived.empty()) return absl::InternalError("the locked outbox row was not updated");
    return FailedEmailFromRow(revived[0]);
  });
}

}  // namespace accessdelegation::storage
