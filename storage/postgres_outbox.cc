#include <algorithm>

#include "storage/pg_types.h"
#include "storage/postgres_store.h"

namespace accessdelegation::storage {
namespace {

// How long a claimed email stays hidden from other deliverers. The row lock of FOR UPDATE
// SKIP LOCKED ends when ClaimEmails commits, so the claim itself moves deliver_after past
// this lease; MarkEmailDelivered or MarkEmailFailed then settles the row. A deliverer that
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
  WHERE delivered_time IS NULL AND deliver_after <= now()
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

constexpr Statement kMarkEmailDelivered = {"mark_email_delivered", R"sql(
UPDATE outbox
SET delivered_time = COALESCE(delivered_time, now()), last_error = ''
WHERE id = $1
)sql"};

// $3 is the retry delay in microseconds.
constexpr Statement kMarkEmailFailed = {"mark_email_failed", R"sql(
UPDATE outbox
SET attempts = attempts + 1,
    last_error = $2,
    deliver_after = now() + $3::bigint * interval '1 microsecond'
WHERE id = $1 AND delivered_time IS NULL
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

}  // namespace

void PrepareOutboxStatements(pqxx::connection& connection) {
  PrepareStatements(connection,
                    {kInsertOutboxEmail, kClaimEmails, kMarkEmailDelivered, kMarkEmailFailed});
}

absl::Status InsertOutboxEmail(pqxx::transaction_base& txn, const OutboxEmail& email) {
  if (!email.message_id.empty() && !IsUuid(email.message_id)) {
    return absl::InternalError("the composed email's message_id is not a UUID");
  }
  const char* message_id = email.message_id.empty() ? nullptr : email.message_id.c_str();
  txn.exec_prepared0(kInsertOutboxEmail.name, message_id, email.recipient, email.subject,
                     email.body_text, email.body_html, BytesParameter(email.sealed_secret));
  return absl::OkStatus();
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

absl::Status PostgresStore::MarkEmailDelivered(int64_t id) {
  return Transact("MarkEmailDelivered", [&](pqxx::work& txn) -> absl::Status {
    const pqxx::result result = txn.exec_prepared(kMarkEmailDelivered.name, id);
    if (result.affected_rows() == 0) return absl::NotFoundError("no outbox email has this id");
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

}  // namespace accessdelegation::storage
