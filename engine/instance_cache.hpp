// The sequencer's cache of committed instances, parsed (record + ctx object), so a hot
// instance is validated and merged without a RocksDB read and a JSON parse per request. It
// holds nothing that is not in RocksDB: an entry may be dropped at any time and is re-read on
// demand.
//
// The index is open addressing (engine/hash_slots.hpp), so the sequencer can warm the lookups
// of a whole group's requests at once (prefetch) instead of each lookup meeting its cache
// misses one after another.
//
// Bounded in bytes (storage.instance_cache_mb; an entry counts its strings plus its ctx twice
// over for the parsed object) with gradual CLOCK eviction: a lookup sets an entry's reference
// bit; when over budget the hand evicts entries whose bit is clear and clears the others
// (second chance), so hot instances stay and one pass over cold data (COMPACT force_snapshot,
// a bulk load) cannot flush everything at once. Keys are client-chosen instance ids, so the
// table uses the process-keyed hash (protocol/seeded_hash.hpp) against hash flooding.
//
// Pinning: an entry looked up by the request now running is never evicted until the next
// begin_request(), so the pointers a request holds stay valid while it runs.
//
// Thread: sequencer only (not thread-safe).
#pragma once

#include "engine/hash_slots.hpp"
#include "engine/view.hpp"
#include "protocol/seeded_hash.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <span>
#include <string>
#include <string_view>

namespace rstmdb::engine {

class InstanceCache {
 public:
  explicit InstanceCache(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // The cached instance, or null. A hit is referenced and pinned for the current request.
  const Instance* find(const std::string& id);
  // find() that changes nothing: no reference bit, no pin (valid until the next change).
  const Instance* peek(const std::string& id) const;
  // Inserts or replaces. `pin`: the current request holds the returned pointer (a lookup that
  // missed); a committed group's instances are not pinned.
  const Instance* put(const std::string& id, Instance inst, bool pin);
  // A new request starts: entries pinned by the previous one may be evicted again.
  void begin_request() noexcept { ++epoch_; }
  void clear();
  // Starts loading what finding these ids will read (their slots, entries and record
  // strings), the loads of all ids in flight together. Changes nothing: no reference bit, no
  // pin.
  void prefetch(std::span<const std::string_view> ids) const;

  std::size_t size() const noexcept { return index_.size(); }
  std::uint64_t bytes() const noexcept { return bytes_; }
  std::uint64_t max_bytes() const noexcept { return max_bytes_; }
  std::uint64_t evictions() const noexcept { return evictions_; }

  // What an entry is charged (exposed for tests).
  static std::uint64_t charge(const std::string& id, const Instance& inst);

 private:
  struct Entry {
    std::string id;
    Instance inst;
    std::uint64_t bytes = 0;
    std::uint64_t pinned_epoch = 0;  // pinned while == epoch_
    bool referenced = false;
    std::uint64_t hash = 0;  // protocol::seeded_hash(id)
  };
  using Ring = std::list<Entry>;  // CLOCK order: the hand is at the front
  struct EntryKey {
    static std::string_view key(const Entry& e) { return e.id; }
    static std::uint64_t hash(const Entry& e) { return e.hash; }
  };
  // Ids a prefetch pass advances together (a core tracks a few dozen misses).
  static constexpr std::size_t kPrefetchChunk = 32;

  void evict_over_budget();

  std::uint64_t max_bytes_;
  std::uint64_t bytes_ = 0;
  std::uint64_t epoch_ = 1;
  std::uint64_t evictions_ = 0;
  Ring ring_;
  HashSlots<Entry, EntryKey> index_;  // entries live in ring_ (stable addresses)
};

}  // namespace rstmdb::engine
