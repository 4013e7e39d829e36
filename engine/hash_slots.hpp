// An open-addressing index from a string key to an object that holds the key and its hash:
// the instance cache's index (engine/instance_cache.hpp). Slots are {hash, pointer} pairs in one
// array, probed linearly, at most half full; erase shifts the following run back, so there are
// no tombstones.
//
// Why not std::unordered_map: a lookup there loads a bucket, then a node, then the key, each
// load waiting for the one before, and none of those addresses is known before it is loaded.
// Here a key's first slot is `hash & mask`, so a batch of lookups can prefetch every key's
// slot, then every key's object, with all those loads in flight at once (prefetch_slot,
// candidate).
//
// Keys are client-chosen ids, so callers hash with the process-keyed SipHash
// (protocol/seeded_hash.hpp): without the seed nobody can aim keys at one run of slots.
//
// `Traits` gives `static std::string_view key(const T&)` and `static std::uint64_t hash(const T&)`
// (the hash stored with the object, so growing and erasing never rehash a key).
//
// Not thread-safe: one thread at a time (the instance cache's: the sequencer's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace rstmdb::engine {

template <typename T, typename Traits>
class HashSlots {
 public:
  // The object stored for `key` (whose hash is `hash`), or null.
  T* find(std::string_view key, std::uint64_t hash) const {
    if (used_ == 0) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.item == nullptr) return nullptr;
      if (s.hash == hash && Traits::key(*s.item) == key) return s.item;
    }
  }

  // Adds `item`, whose key must not be stored yet.
  void insert(T* item) {
    if ((used_ + 1) * 2 > slots_.size()) grow();
    place(Slot{Traits::hash(*item), item});
    ++used_;
  }

  // Removes `item` (stored) from the index.
  void erase(const T* item) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = Traits::hash(*item) & mask;
    while (slots_[hole].item != item)
      hole = (hole + 1) & mask;
    // Backward shift: move up every later slot of the run that may sit in the hole, i.e. whose
    // home slot is not cyclically inside (hole, at].
    for (std::size_t at = (hole + 1) & mask; slots_[at].item != nullptr; at = (at + 1) & mask) {
      const std::size_t home = slots_[at].hash & mask;
      const bool stays = hole <= at ? (hole < home && home <= at) : (hole < home || home <= at);
      if (stays) continue;
      slots_[hole] = slots_[at];
      hole = at;
    }
    slots_[hole] = Slot{};
    --used_;
  }

  void clear() {
    slots_.clear();
    used_ = 0;
  }

  std::size_t size() const noexcept { return used_; }

  // Batch lookups (see the header comment): the slot where a probe for `hash` starts, as a
  // prefetch hint; then, once that line is likely cached, the object of the first slot with
  // that hash — without comparing keys, which would load the object. Neither changes anything.
  void prefetch_slot(std::uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }
  T* candidate(std::uint64_t hash) const {
    if (used_ == 0) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.item == nullptr) return nullptr;
      if (s.hash == hash) return s.item;
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    T* item = nullptr;  // null: empty
  };

  void place(Slot s) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = s.hash & mask;
    while (slots_[i].item != nullptr)
      i = (i + 1) & mask;
    slots_[i] = s;
  }

  void grow() {
    std::vector<Slot> old(slots_.empty() ? kInitialSlots : slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.item != nullptr) place(s);
    }
  }

  static constexpr std::size_t kInitialSlots = 64;
  std::vector<Slot> slots_;
  std::size_t used_ = 0;
};

}  // namespace rstmdb::engine
