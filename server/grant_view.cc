#include "server/grant_view.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace accessdelegation::server {
namespace {

constexpr char kTokenPrefix[] = "wal.";
constexpr size_t kTokenDigits = 16;
constexpr size_t kMaxShards = 64;
constexpr uint8_t kGrantEntry = 1;
constexpr uint8_t kAccountEntry = 2;
// How often a check polls a standby that has not yet replayed a position.
constexpr absl::Duration kStandbyPollInterval = absl::Milliseconds(2);

// Parses a UUID in its 36-character text form; any case.
absl::uint128 ParseUuid(const std::string& text) {
  uint64_t high = 0;
  uint64_t low = 0;
  int digits = 0;
  for (const char c : text) {
    if (c == '-') continue;
    const int value = absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
    uint64_t& half = digits < 16 ? high : low;
    half = (half << 4) | static_cast<uint64_t>(value & 0xF);
    ++digits;
  }
  return absl::MakeUint128(high, low);
}

std::string FormatUuid(absl::uint128 value) {
  const std::string hex = absl::StrCat(absl::Hex(absl::Uint128High64(value), absl::kZeroPad16),
                                       absl::Hex(absl::Uint128Low64(value), absl::kZeroPad16));
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

}  // namespace

std::string RenderConsistencyToken(uint64_t position) {
  return absl::StrCat(kTokenPrefix, absl::Hex(position, absl::kZeroPad16));
}

absl::StatusOr<uint64_t> ParseConsistencyToken(absl::string_view field, const std::string& token) {
  if (token.empty()) return 0;
  absl::string_view digits = token;
  uint64_t position = 0;
  if (!absl::ConsumePrefix(&digits, kTokenPrefix) || digits.size() != kTokenDigits ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleHexAtoi(digits, &position)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is not a consistency token from this service; pass the consistency_token "
               "of a write's response unchanged, or leave it empty"));
  }
  return position;
}

// Shard is one lock's share of the entries: a fixed array of slots swept by a clock hand,
// and a hash set of slot indexes looked up by key.
class GrantView::Shard {
 public:
  explicit Shard(size_t capacity)
      : capacity_(capacity), index_(0, SlotHash{this}, SlotEq{this}) {
    // Reserved, not filled: pages are touched only as entries arrive.
    slots_.reserve(capacity_);
  }

  std::optional<Value> Find(const Key& key) ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    Slot& slot = slots_[*it];
    slot.referenced = true;
    return slot.value;
  }

  uint64_t sequence() const ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    return sequence_;
  }

  // Stores the entry unless the shard changed since `sequence` was read.
  void Insert(const Key& key, const Value& value, uint64_t sequence)
      ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    if (sequence != sequence_) return;
    auto it = index_.find(key);
    if (it != index_.end()) {
      slots_[*it].value = value;
      return;
    }
    const uint32_t slot = TakeSlot();
    slots_[slot].key = key;
    slots_[slot].value = value;
    slots_[slot].used = true;
    slots_[slot].referenced = false;
    index_.insert(slot);
  }

  void Erase(const Key& key) ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    ++sequence_;
    auto it = index_.find(key);
    if (it == index_.end()) return;
    const uint32_t slot = *it;
    index_.erase(it);
    slots_[slot].used = false;
    free_.push_back(slot);
  }

  void Clear() ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    ++sequence_;
    index_.clear();
    slots_.clear();
    free_.clear();
    hand_ = 0;
  }

  size_t size() const ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    return index_.size();
  }

 private:
  struct Slot {
    Key key;
    Value value;
    bool used = false;
    bool referenced = false;
  };

  // Hash and equality over slot indexes that also accept a Key, so that the set stores
  // only 4-byte indexes and not a second copy of each key.
  struct SlotHash {
    using is_transparent = void;
    const Shard* shard;
    size_t operator()(uint32_t slot) const { return absl::Hash<Key>()(shard->slots_[slot].key); }
    size_t operator()(const Key& key) const { return absl::Hash<Key>()(key); }
  };
  struct SlotEq {
    using is_transparent = void;
    const Shard* shard;
    const Key& KeyOf(uint32_t slot) const { return shard->slots_[slot].key; }
    const Key& KeyOf(const Key& key) const { return key; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return KeyOf(a) == KeyOf(b);
    }
  };

  // Returns a free slot: a released one, a new one below capacity, or the first one the
  // clock hand finds unreferenced, whose entry is evicted.
  uint32_t TakeSlot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!free_.empty()) {
      const uint32_t slot = free_.back();
      free_.pop_back();
      return slot;
    }
    if (slots_.size() < capacity_) {
      slots_.emplace_back();
      return static_cast<uint32_t>(slots_.size() - 1);
    }
    while (true) {
      Slot& slot = slots_[hand_];
      const uint32_t current = static_cast<uint32_t>(hand_);
      hand_ = (hand_ + 1) % slots_.size();
      if (slot.referenced) {
        slot.referenced = false;
        continue;
      }
      index_.erase(current);
      slot.used = false;
      return current;
    }
  }

  const size_t capacity_;
  mutable absl::Mutex mutex_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_set<uint32_t, SlotHash, SlotEq> index_ ABSL_GUARDED_BY(mutex_);
  std::vector<uint32_t> free_ ABSL_GUARDED_BY(mutex_);
  size_t hand_ ABSL_GUARDED_BY(mutex_) = 0;
  // Grows with every erase and clear, so that a load that began before one is dropped.
  uint64_t sequence_ ABSL_GUARDED_BY(mutex_) = 0;
};

GrantView::GrantView(storage::Store* primary, storage::Store* standby, Options options)
    : primary_(primary), standby_(standby), options_(options) {
  const size_t max_entries = std::max<size_t>(options_.max_entries, 1);
  const size_t shard_count = std::min(kMaxShards, max_entries);
  shards_.reserve(shard_count);
  for (size_t i = 0; i < shard_count; ++i) {
    shards_.push_back(std::make_unique<Shard>(max_entries / shard_count));
  }
}

GrantView::~GrantView() = default;

GrantView::Key GrantView::GrantKey(const std::string& owner_id, const std::string& delegate_id) {
  const absl::uint128 owner = ParseUuid(owner_id);
  const absl::uint128 delegate = ParseUuid(delegate_id);
  Key key;
  key.first_high = absl::Uint128High64(owner);
  key.first_low = absl::Uint128Low64(owner);
  key.second_high = absl::Uint128High64(delegate);
  key.second_low = absl::Uint128Low64(delegate);
  key.kind = kGrantEntry;
  return key;
}

GrantView::Key GrantView::AccountKey(const std::string& account_id) {
  const absl::uint128 account = ParseUuid(account_id);
  Key key;
  key.first_high = absl::Uint128High64(account);
  key.first_low = absl::Uint128Low64(account);
  key.kind = kAccountEntry;
  return key;
}

GrantView::Shard& GrantView::ShardFor(const Key& key) const {
  const size_t hash = absl::Hash<Key>()(key);
  return *shards_[(hash >> 40) % shards_.size()];
}

std::optional<GrantView::Value> GrantView::Lookup(const Key& key) {
  if (!listening_.load()) return std::nullopt;
  return ShardFor(key).Find(key);
}

GrantView::Ticket GrantView::BeginLoad(const Key& key) {
  Shard& shard = ShardFor(key);
  return Ticket{&shard, shard.sequence()};
}

void GrantView::Install(const Key& key, const Value& value, const Ticket& ticket) {
  if (load_hook_) load_hook_();
  // A reset after BeginLoad has advanced every shard's sequence, so checking `listening_`
  // here suffices.
  if (!listening_.load()) return;
  ticket.shard->Insert(key, value, ticket.sequence);
}

void GrantView::Invalidate(const Key& key, std::optional<uint64_t> position) {
  if (position.has_value()) {
    uint64_t required = required_position_.load();
    while (required < *position &&
           !required_position_.compare_exchange_weak(required, *position)) {
    }
  } else {
    unfenced_change_.store(true);
  }
  ShardFor(key).Erase(key);
}

storage::Store* GrantView::ReadStoreFor(uint64_t min_position) {
  if (standby_ == nullptr) return primary_;
  const absl::Time deadline = absl::Now() + options_.token_wait;
  while (true) {
    // A change whose commit position is unknown may not have reached the standby.
    if (listening_.load() && !unfenced_change_.load()) {
      const uint64_t needed = std::max(min_position, required_position_.load());
      absl::StatusOr<uint64_t> replayed = standby_->CurrentWalPosition();
      if (!replayed.ok()) return primary_;
      if (*replayed >= needed) return standby_;
    }
    if (absl::Now() + kStandbyPollInterval > deadline) return primary_;
    absl::SleepFor(kStandbyPollInterval);
  }
}

absl::StatusOr<GrantView::Value> GrantView::LoadGrant(storage::Store& store,
                                                      const std::string& owner_id,
                                                      const std::string& delegate_id) {
  absl::StatusOr<std::optional<storage::GrantRecord>> grant =
      store.FindGrant(owner_id, delegate_id);
  if (!grant.ok()) return grant.status();
  Value value;
  if (!grant->has_value()) return value;
  const storage::GrantRecord& record = **grant;
  const absl::uint128 grant_id = ParseUuid(record.id);
  value.exists = true;
  value.access_level = static_cast<uint8_t>(record.access_level);
  value.grant_id_high = absl::Uint128High64(grant_id);
  value.grant_id_low = absl::Uint128Low64(grant_id);
  if (record.expire_time.has_value()) {
    value.expire_unix_micros = absl::ToUnixMicros(*record.expire_time);
  }
  return value;
}

absl::StatusOr<GrantView::Value> GrantView::LoadAccount(storage::Store& store,
                                                        const std::string& account_id) {
  absl::StatusOr<storage::AccountRecord> account = store.GetAccount(account_id);
  Value value;
  if (absl::IsNotFound(account.status())) return value;
  if (!account.ok()) return account.status();
  value.exists = true;
  return value;
}

absl::StatusOr<GrantView::GrantAnswer> GrantView::FindGrant(const std::string& owner_id,
                                                            const std::string& delegate_id,
                                                            uint64_t min_position,
                                                            absl::Time now) {
  const Key key = GrantKey(owner_id, delegate_id);

  const bool view_current =
      min_position <= applied_position() || AwaitPosition(min_position, options_.token_wait);
  // Read before the lookup: every change committed before it has reached the view, so a
  // load that starts afterwards reflects it too.
  const uint64_t position = std::max(min_position, applied_position());
  std::optional<Value> value;
  if (view_current) value = Lookup(key);
  if (!value.has_value()) {
    const Ticket ticket = BeginLoad(key);
    storage::Store* store = view_current ? ReadStoreFor(min_position) : primary_;
    absl::StatusOr<Value> loaded = LoadGrant(*store, owner_id, delegate_id);
    if (!loaded.ok()) return loaded.status();
    Install(key, *loaded, ticket);
    value = *loaded;
  }

  return GrantAnswerFrom(*value, position, now);
}

GrantView::GrantAnswer GrantView::GrantAnswerFrom(const Value& value, uint64_t position,
                                                  absl::Time now) {
  GrantAnswer answer;
  answer.position = position;
  if (!value.exists || absl::ToUnixMicros(now) >= value.expire_unix_micros) return answer;
  Grant grant;
  grant.id = FormatUuid(absl::MakeUint128(value.grant_id_high, value.grant_id_low));
  grant.access_level = static_cast<storage::AccessLevel>(value.access_level);
  if (value.expire_unix_micros != INT64_MAX) {
    grant.expire_time = absl::FromUnixMicros(value.expire_unix_micros);
  }
  answer.grant = std::move(grant);
  return answer;
}

std::optional<GrantView::GrantAnswer> GrantView::FindGrantInView(const std::string& owner_id,
                                                                 const std::string& delegate_id,
                                                                 uint64_t min_position,
                                                                 absl::Time now) {
  if (min_position > applied_position()) return std::nullopt;
  // Read before the lookup, as FindGrant does.
  const uint64_t position = std::max(min_position, applied_position());
  const std::optional<Value> value = Lookup(GrantKey(owner_id, delegate_id));
  if (!value.has_value()) return std::nullopt;
  return GrantAnswerFrom(*value, position, now);
}

std::optional<GrantView::AccountAnswer> GrantView::FindAccountInView(const std::string& account_id,
                                                                     uint64_t min_position) {
  if (min_position > applied_position()) return std::nullopt;
  const uint64_t position = std::max(min_position, applied_position());
  const std::optional<Value> value = Lookup(AccountKey(account_id));
  if (!value.has_value()) return std::nullopt;
  AccountAnswer answer;
  answer.exists = value->exists;
  answer.position = position;
  return answer;
}

absl::StatusOr<GrantView::AccountAnswer> GrantView::FindAccount(const std::string& account_id,
                                                                uint64_t min_position) {
  const Key key = AccountKey(account_id);

  const bool view_current =
      min_position <= applied_position() || AwaitPosition(min_position, options_.token_wait);
  // Read before the lookup: every change committed before it has reached the view, so a
  // load that starts afterwards reflects it too.
  const uint64_t position = std::max(min_position, applied_position());
  std::optional<Value> value;
  if (view_current) value = Lookup(key);
  if (!value.has_value()) {
    const Ticket ticket = BeginLoad(key);
    storage::Store* store = view_current ? ReadStoreFor(min_position) : primary_;
    absl::StatusOr<Value> loaded = LoadAccount(*store, account_id);
    if (!loaded.ok()) return loaded.status();
    // Only live accounts are kept: a missing one is rare, and its id could not be
    // invalidated by anything before an account with it exists.
    if (loaded->exists) Install(key, *loaded, ticket);
    value = *loaded;
  }

  AccountAnswer answer;
  answer.exists = value->exists;
  answer.position = position;
  return answer;
}

void GrantView::InvalidateGrant(const std::string& owner_id, const std::string& delegate_id,
                                uint64_t position) {
  Invalidate(GrantKey(owner_id, delegate_id), position);
}

void GrantView::InvalidateAccount(const std::string& account_id, uint64_t position) {
  Invalidate(AccountKey(account_id), position);
}

bool GrantView::AwaitPosition(uint64_t position, absl::Duration timeout) {
  if (applied_position() >= position) return true;
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&position_mutex_);
  if (request_fence_) request_fence_();
  while (applied_position() < position) {
    if (position_advanced_.WaitWithDeadline(&position_mutex_, deadline)) {
      return applied_position() >= position;
    }
  }
  return true;
}

void GrantView::Clear() {
  for (const std::unique_ptr<Shard>& shard : shards_) shard->Clear();
}

void GrantView::OnGrantChange(const std::string& owner_id, const std::string& delegate_id) {
  Invalidate(GrantKey(owner_id, delegate_id), std::nullopt);
  RequestFenceForStandby();
}

void GrantView::OnAccountChange(const std::string& account_id) {
  Invalidate(AccountKey(account_id), std::nullopt);
  RequestFenceForStandby();
}

void GrantView::RequestFenceForStandby() {
  if (standby_ == nullptr) return;
  absl::MutexLock lock(&position_mutex_);
  if (request_fence_) request_fence_();
}

void GrantView::InvalidateAccountWithGrants(const std::string& account_id,
                                            std::optional<uint64_t> position) {
  if (!position.has_value()) {
    Clear();
    return;
  }
  InvalidateAccount(account_id, *position);
  // The grants the change ended are known only from their notifications.
  if (!AwaitPosition(*position, options_.token_wait)) Clear();
}

void GrantView::OnListenerReset(const absl::Status& status) {
  // Changes may have been missed in either case, because no connection was listening
  // between the loss and the reconnect.
  listening_.store(false);
  unfenced_change_.store(true);
  Clear();
  {
    absl::MutexLock lock(&position_mutex_);
    applied_position_.store(0);
  }
  if (status.ok()) listening_.store(true);
}

void GrantView::OnPosition(uint64_t position, bool covers_handled) {
  // Only a reported change raises what the standby must have replayed. Raising it on every
  // periodic fence would tie standby reads to the WAL of every database in the cluster, so
  // a standby that lags on unrelated writes would never be read.
  if (covers_handled && unfenced_change_.load()) {
    uint64_t required = required_position_.load();
    while (required < position && !required_position_.compare_exchange_weak(required, position)) {
    }
    unfenced_change_.store(false);
  }
  absl::MutexLock lock(&position_mutex_);
  if (position > applied_position_.load()) applied_position_.store(position);
  position_advanced_.SignalAll();
}

void GrantView::SetFenceRequester(std::function<void()> request_fence) {
  absl::MutexLock lock(&position_mutex_);
  request_fence_ = std::move(request_fence);
}

size_t GrantView::size() const {
  size_t total = 0;
  for (const std::unique_ptr<Shard>& shard : shards_) total += shard->size();
  return total;
}

}  // namespace accessdelegation::server
