#ifndef ACCESSDELEGATION_STORAGE_WRITE_SUPPORT_H_
#define ACCESSDELEGATION_STORAGE_WRITE_SUPPORT_H_

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store.h"

namespace accessdelegation::storage {

// Steps that the invitation and grant writes share: idempotency keys, the serialized
// results that a retried write returns, and the JSON of audit rows. Each runs inside the
// caller's transaction and throws pqxx exceptions.

// Registers the statements of this file on `connection`.
void PrepareWriteSupportStatements(pqxx::connection& connection);

// Serialize the result of a write, to store it with its idempotency key. The text holds
// no secrets: invitation tokens are never part of a record.
std::string SerializeResult(const InvitationRecord& invitation);
std::string SerializeResult(const GrantRecord& grant);
std::string SerializeResult(const Confirmation& confirmation);

// Parse what SerializeResult wrote. False if `bytes` is not such a result.
bool ParseResult(const std::string& bytes, InvitationRecord* invitation);
bool ParseResult(const std::string& bytes, GrantRecord* grant);
bool ParseResult(const std::string& bytes, Confirmation* confirmation);

// Claims `key` for this transaction. Returns nullopt when the key is new (or its
// request_id is empty): the caller then makes the write and stores its result with
// StoreIdempotentResult. Returns the stored result bytes when an earlier committed write
// holds the key with the same fingerprint; INVALID_ARGUMENT when its fingerprint differs.
// A concurrent write holding the same key makes this wait until that write commits or
// rolls back.
absl::StatusOr<std::optional<std::string>> ClaimIdempotencyKey(pqxx::transaction_base& txn,
                                                               const IdempotencyKey& key);

// Stores the result of the write that claimed `key`. A no-op for an empty request_id.
void StoreIdempotentResult(pqxx::transaction_base& txn, const IdempotencyKey& key,
                           const std::string& result);

// Runs `write(txn)`, which returns absl::StatusOr<Result>, at most once per idempotency
// key: a retry of a committed write returns the stored result without running `write`.
// A failed write stores nothing, so its retry runs again.
template <typename Result, typename Write>
absl::StatusOr<Result> RunIdempotent(pqxx::transaction_base& txn, const IdempotencyKey& key,
                                     Write&& write) {
  absl::StatusOr<std::optional<std::string>> stored = ClaimIdempotencyKey(txn, key);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    Result result;
    if (!ParseResult(**stored, &result)) {
      return absl::InternalError("the stored result of an earlier request is unreadable");
    }
    return result;
  }

  absl::StatusOr<Result> result = write(txn);
  if (result.ok()) StoreIdempotentResult(txn, key, SerializeResult(*result));
  return result;
}

// Returns `version` as a query parameter: its decimal text, or nullptr (SQL NULL) for
// nullopt, which the conditional updates read as "any version".
const char* VersionParameter(const ExpectedVersion& version, std::string* storage);

// Return a JSON object of the fields that audit rows keep of a record. Names and emails
// are personal data but no secrets, and audit readers need them to tell people apart.
std::string InvitationJson(const InvitationRecord& invitation);
std::string GrantJson(const GrantRecord& grant);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_WRITE_SUPPORT_H_
