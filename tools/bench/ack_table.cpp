#include "tools/bench/ack_table.hpp"

#include <algorithm>

namespace rstmdb::bench {
namespace {

// splitmix64's finaliser: a bijection, so distinct offsets give distinct summands.
std::uint64_t mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

AckTable::AckTable() : slots_(new Slot[kCapacity]) {}

void AckTable::record(std::uint64_t offset, const Ack& ack) noexcept {
  Slot& s = slots_[offset % kCapacity];
  s.offset.store(kBusy, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  s.instance.store(ack.instance, std::memory_order_relaxed);
  s.sent_ns.store(ack.sent_ns, std::memory_order_relaxed);
  s.response_ns.store(ack.response_ns, std::memory_order_relaxed);
  s.offset.store(offset, std::memory_order_release);
}

AckTable::Lookup AckTable::lookup(std::uint64_t offset, Ack& out) const noexcept {
  const Slot& s = slots_[offset % kCapacity];
  const std::uint64_t before = s.offset.load(std::memory_order_acquire);
  if (before == kBusy) return Lookup::NotYet;  // being written: this offset or a later one
  if (before != offset) return before < offset ? Lookup::NotYet : Lookup::Overwritten;
  out.instance = s.instance.load(std::memory_order_relaxed);
  out.sent_ns = s.sent_ns.load(std::memory_order_relaxed);
  out.response_ns = s.response_ns.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (s.offset.load(std::memory_order_relaxed) != offset) return Lookup::Overwritten;
  return Lookup::Found;
}

void AckSet::add(std::uint64_t offset) noexcept {
  ++count;
  fingerprint += mix(offset);
  max_offset = std::max(max_offset, offset);
}

void AckSet::merge(const AckSet& other) noexcept {
  count += other.count;
  fingerprint += other.fingerprint;
  max_offset = std::max(max_offset, other.max_offset);
}

}  // namespace rstmdb::bench
