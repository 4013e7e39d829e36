// A writer-only map from a user key to the newest memtable node holding it, used by the
// ordered memtable to link a new version of a key from that key's node instead of searching
// the skip list from the head.
//
// Open addressing with linear probing over {hash, node} slots; the key bytes are not copied,
// they are read from the node (`key_of(node)`) only when the stored hashes match. Entries
// are only added or repointed, never removed (the table lives as long as its memtable).
// Load stays at or below 1/2. A lookup probes at most kMaxProbes slots and then gives up:
// keys chosen to collide cost a bounded amount and are simply searched for from the head.
//
// Not thread-safe: only the memtable's single writer uses it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace rstmdb::storage {

template <typename Node>
class FingerTable {
 public:
  static constexpr int kMaxProbes = 32;

  // The slot for `key` with hash `hash`: holding the key's node, or holding null if the key
  // is new (the caller must then store a node with that user key in it before the next
  // call). Null if the probe gave up. `key_of(node)` returns a node's user key.
  template <typename KeyOf>
  Node** slot(std::string_view key, std::uint64_t hash, KeyOf key_of) {
    if ((used_ + 1) * 2 > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    for (int probes = 0; probes < kMaxProbes; ++probes, i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.node == nullptr) {
        ++used_;
        s.hash = hash;
        return &s.node;
      }
      if (s.hash == hash && key_of(s.node) == key) return &s.node;
    }
    return nullptr;
  }

  // Read-only helpers for a batch's prefetch pass (OrderedMemTable::prefetch_inserts): they
  // never change the table, so they may run between inserts on the writer's thread.
  // A prefetch hint for the slot where a probe for `hash` starts.
  void prefetch_slot(std::uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }
  // The node of the first slot that stores `hash` within kMaxProbes, without comparing keys
  // (that would load the node): the key's node, or rarely another key's. Null if none.
  Node* candidate(std::uint64_t hash) const {
    if (slots_.empty()) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    for (int probes = 0; probes < kMaxProbes; ++probes, i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.node == nullptr) return nullptr;
      if (s.hash == hash) return s.node;
    }
    return nullptr;
  }

  std::size_t size() const { return used_; }
  std::size_t bytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    Node* node = nullptr;
  };

  void grow() {
    std::vector<Slot> old(std::max<std::size_t>(slots_.size() * 2, kInitialSlots));
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.node == nullptr) continue;
      std::size_t i = s.hash & mask;
      while (slots_[i].node != nullptr)
        i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  static constexpr std::size_t kInitialSlots = 1024;
  std::vector<Slot> slots_;
  std::size_t used_ = 0;
};

}  // namespace rstmdb::storage
