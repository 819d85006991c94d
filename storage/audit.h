#ifndef ACCESSDELEGATION_STORAGE_AUDIT_H_
#define ACCESSDELEGATION_STORAGE_AUDIT_H_

#include <initializer_list>
#include <string>
#include <utility>

// Forward-declared so that store.h, which includes this header, does not pull in libpqxx.
namespace pqxx {
class transaction_base;
}  // namespace pqxx

namespace accessdelegation::storage {

// Actor is who makes a change and from where; every mutating Store method takes one.
struct Actor {
  std::string kind;        // "account", "service" or "system"
  std::string id;          // account id, service name, or "" for system
  std::string request_id;  // from the call's x-request-id, "-" if none
  std::string peer;        // the call's peer address
};

// Appends one row to the append-only audit table in `txn`. before/after are JSON objects as
// text ("{}" when none); they must hold no secrets. `owner_account_id` is the account whose
// record the change concerns; "" or a non-UUID stores NULL, so the row still commits.
// Throws pqxx exceptions, like the other steps that run inside a caller's transaction.
void InsertAuditEvent(pqxx::transaction_base& txn, const Actor& actor,
                      const std::string& owner_account_id,
                      const std::string& action /* e.g. "invitation.created" */,
                      const std::string& target_type /* "invitation"|"grant"|"account" */,
                      const std::string& target_id, const std::string& before_json,
                      const std::string& after_json);

// Returns a JSON object with the given string members, in order, escaped per RFC 8259.
// For example, JsonObject({{"state", "PENDING"}}) returns {"state":"PENDING"}.
std::string JsonObject(std::initializer_list<std::pair<std::string, std::string>> members);

// Appends a grant change to the change stream read by WatchAccessChanges. change is
// "CREATED", "LEVEL_CHANGED", "REVOKED" or "EXPIRED"; access_level "FULL"/"APPOINTMENTS_ONLY".
//
// It takes a transaction-scoped advisory lock, so that transactions recording grant changes
// commit one after another and the stream's ids become visible in increasing order. Call it
// after the transaction's other writes, so the lock is held briefly. Throws pqxx exceptions.
void RecordGrantChange(pqxx::transaction_base& txn, const std::string& grant_id,
                       const std::string& owner_account_id, const std::string& delegate_account_id,
                       const std::string& change, const std::string& access_level);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_AUDIT_H_
