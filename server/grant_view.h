#ifndef ACCESSDELEGATION_SERVER_GRANT_VIEW_H_
#define ACCESSDELEGATION_SERVER_GRANT_VIEW_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace accessdelegation::server {

// Renders a WAL position as a consistency token, such as "wal.00000000016B3748".
std::string RenderConsistencyToken(uint64_t position);

// Returns the WAL position of a token from RenderConsistencyToken; 0 for an empty token.
// INVALID_ARGUMENT naming `field` if the token is malformed.
absl::StatusOr<uint64_t> ParseConsistencyToken(absl::string_view field, const std::string& token);

// GrantView is the server's in-memory view of grants and account existence, read by
// CheckAccess. It holds a bounded number of entries, loaded from the database on a miss
// and evicted by the clock algorithm (an approximation of least recently used). An entry
// of a pair contains the pair's grant in force (level, id, expire_time) or records that
// there is none. An account entry records that a live account exists.
//
// Exactness. The view learns of every change: from this server's writes before they reply
// (InvalidateGrant, InvalidateAccount), and from storage::ChangeListener for changes made
// anywhere (the On* methods). A load that raced with an invalidation of its shard is not
// installed. While the listener is not connected the view holds nothing and installs
// nothing, so every check reads the database.
//
// Positions. `applied_position()` is a WAL position such that every change committed
// before it has reached the view. A check carrying a consistency token waits, bounded by
// Options::token_wait, for the view to pass it, and otherwise reads the primary.
//
// Standby reads. With a `standby` store, misses are read from it once it has replayed both
// the request's token and every change reported to the view. Otherwise, after waiting at
// most Options::token_wait, they are read from the primary.
//
// Thread-safe.
class GrantView {
 public:
  struct Options {
    // Maximum number of entries, grants and accounts together; at least 1.
    size_t max_entries = 1 << 20;
    // Maximum time a check waits for the view or the standby to pass a position.
    absl::Duration token_wait = absl::Milliseconds(50);
  };

  // Grant is a grant in force, as a check needs it.
  struct Grant {
    std::string id;
    storage::AccessLevel access_level = v1::ACCESS_LEVEL_UNSPECIFIED;
    std::optional<absl::Time> expire_time;
  };

  // GrantAnswer is the grant in force on a pair at `now` (nullopt for none), and the WAL
  // position the result is current at.
  struct GrantAnswer {
    std::optional<Grant> grant;
    uint64_t position = 0;
  };

  // AccountAnswer is whether a live account exists, and the position it is current at.
  struct AccountAnswer {
    bool exists = false;
    uint64_t position = 0;
  };

  // `primary` must outlive the view; `standby` may be null, or must outlive it too.
  GrantView(storage::Store* primary, storage::Store* standby, Options options);
  GrantView(const GrantView&) = delete;
  GrantView& operator=(const GrantView&) = delete;
  ~GrantView();

  // Returns the grant of `delegate_id` on `owner_id`'s record in force at `now`, current
  // at least at `min_position` (0 for none). Both ids must be UUIDs. Errors are the
  // store's.
  absl::StatusOr<GrantAnswer> FindGrant(const std::string& owner_id,
                                        const std::string& delegate_id, uint64_t min_position,
                                        absl::Time now);

  // Returns whether a live account with this id exists, as FindGrant does for grants.
  absl::StatusOr<AccountAnswer> FindAccount(const std::string& account_id,
                                            uint64_t min_position);

  // Return what FindGrant and FindAccount would, when the view has the result at once: it is
  // current at `min_position` and contains the entry. Return nullopt when the result needs a
  // wait or a database read, without starting either.
  std::optional<GrantAnswer> FindGrantInView(const std::string& owner_id,
                                             const std::string& delegate_id,
                                             uint64_t min_position, absl::Time now);
  std::optional<AccountAnswer> FindAccountInView(const std::string& account_id,
                                                 uint64_t min_position);

  // Drops the pair's entry; `position` is the WAL position of a committed write of this
  // server that changed it.
  void InvalidateGrant(const std::string& owner_id, const std::string& delegate_id,
                       uint64_t position);
  // Drops the account's entry, as InvalidateGrant does.
  void InvalidateAccount(const std::string& account_id, uint64_t position);

  // Drops the account's entry and the entries of every pair it is part of, for a write of
  // this server that deleted the account at `position` (nullopt when the position could
  // not be read). Waits, at most Options::token_wait, for the listener to report the
  // grants the deletion ended, and drops every entry if it does not.
  void InvalidateAccountWithGrants(const std::string& account_id,
                                   std::optional<uint64_t> position);

  // Waits until every change committed before `position` has reached the view, or until
  // `timeout` passes. Returns whether it did.
  bool AwaitPosition(uint64_t position, absl::Duration timeout);

  // Drops every entry.
  void Clear();

  // Handlers for storage::ChangeListener.
  void OnGrantChange(const std::string& owner_id, const std::string& delegate_id);
  void OnAccountChange(const std::string& account_id);
  void OnListenerReset(const absl::Status& status);
  void OnPosition(uint64_t position, bool covers_handled);

  // Sets what AwaitPosition calls to make the listener report a position soon.
  void SetFenceRequester(std::function<void()> request_fence);

  // Returns the store for a read that must reflect `min_position` (0 for none): the
  // standby once it has replayed `min_position` and every change reported to the view,
  // and otherwise the primary. Waits at most Options::token_wait for the standby.
  storage::Store* ReadStoreFor(uint64_t min_position);

  uint64_t applied_position() const { return applied_position_.load(); }
  size_t size() const;
  const Options& options() const { return options_; }

  // Runs `hook` in every load after the database read and before the entry is installed,
  // so tests can change the database in between.
  void SetLoadHookForTesting(std::function<void()> hook) { load_hook_ = std::move(hook); }

 private:
  struct Key {
    uint64_t first_high = 0;
    uint64_t first_low = 0;
    uint64_t second_high = 0;
    uint64_t second_low = 0;
    uint8_t kind = 0;  // kGrantEntry or kAccountEntry.

    friend bool operator==(const Key& a, const Key& b) {
      return a.first_high == b.first_high && a.first_low == b.first_low &&
             a.second_high == b.second_high && a.second_low == b.second_low && a.kind == b.kind;
    }
    template <typename H>
    friend H AbslHashValue(H h, const Key& key) {
      return H::combine(std::move(h), key.first_high, key.first_low, key.second_high,
                        key.second_low, key.kind);
    }
  };

  // Value is what an entry records; for an account entry only `exists` is meaningful.
  // Plain 64-bit fields keep an entry at 80 bytes with its key.
  struct Value {
    bool exists = false;
    uint8_t access_level = 0;  // A storage::AccessLevel.
    uint64_t grant_id_high = 0;
    uint64_t grant_id_low = 0;
    int64_t expire_unix_micros = INT64_MAX;  // INT64_MAX for no end.
  };

  class Shard;

  // Ticket is the state of a key's shard before a load, checked again on install.
  struct Ticket {
    Shard* shard = nullptr;
    uint64_t sequence = 0;
  };

  // Return the key of a pair's entry and of an account's entry; the ids must be UUIDs.
  static Key GrantKey(const std::string& owner_id, const std::string& delegate_id);
  static Key AccountKey(const std::string& account_id);

  static GrantAnswer GrantAnswerFrom(const Value& value, uint64_t position, absl::Time now);
  Shard& ShardFor(const Key& key) const;
  std::optional<Value> Lookup(const Key& key);
  Ticket BeginLoad(const Key& key);
  void Install(const Key& key, const Value& value, const Ticket& ticket);
  void Invalidate(const Key& key, std::optional<uint64_t> position);
  void RequestFenceForStandby();


  absl::StatusOr<Value> LoadGrant(storage::Store& store, const std::string& owner_id,
                                  const std::string& delegate_id);
  absl::StatusOr<Value> LoadAccount(storage::Store& store, const std::string& account_id);

  storage::Store* const primary_;
  storage::Store* const standby_;
  const Options options_;
  std::vector<std::unique_ptr<Shard>> shards_;

  std::atomic<bool> listening_{false};
  std::atomic<uint64_t> applied_position_{0};
  // The WAL position a standby must have replayed to reflect every change reported to the
  // view, and whether a change arrived whose position is not known yet.
  std::atomic<uint64_t> required_position_{0};
  std::atomic<bool> unfenced_change_{false};

  absl::Mutex position_mutex_;
  absl::CondVar position_advanced_;
  std::function<void()> request_fence_ ABSL_GUARDED_BY(position_mutex_);
  std::function<void()> load_hook_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_GRANT_VIEW_H_
