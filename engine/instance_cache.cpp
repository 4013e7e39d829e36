#include "engine/instance_cache.hpp"

#include <algorithm>

namespace rstmdb::engine {

namespace {
// A parsed ctx (boost::json::object) takes about twice its text in memory.
constexpr std::uint64_t kParsedJsonFactor = 2;
// Node, hash-table slot and allocation overhead per entry, roughly.
constexpr std::uint64_t kEntryOverheadBytes = 128;
}  // namespace

std::uint64_t InstanceCache::charge(const std::string& id, const Instance& inst) {
  const auto& r = inst.rec;
  return sizeof(Entry) + kEntryOverheadBytes + 2 * id.size() + r.machine.size() + r.state.size() +
         (r.last_event_id ? r.last_event_id->size() : 0) + r.ctx_json.size() * (1 + kParsedJsonFactor);
}

const Instance* InstanceCache::find(const std::string& id) {
  Entry* e = index_.find(id, protocol::seeded_hash(id));
  if (e == nullptr) return nullptr;
  e->referenced = true;
  e->pinned_epoch = epoch_;
  return &e->inst;
}

const Instance* InstanceCache::peek(const std::string& id) const {
  const Entry* e = index_.find(id, protocol::seeded_hash(id));
  return e == nullptr ? nullptr : &e->inst;
}

const Instance* InstanceCache::put(const std::string& id, Instance inst, bool pin) {
  const std::uint64_t bytes = charge(id, inst);
  const std::uint64_t hash = protocol::seeded_hash(id);
  Entry* entry = index_.find(id, hash);
  if (entry != nullptr) {
    bytes_ = bytes_ - entry->bytes + bytes;
    entry->inst = std::move(inst);
    entry->bytes = bytes;
  } else {
    ring_.push_back(Entry{id, std::move(inst), bytes, 0, false, hash});
    entry = &ring_.back();
    index_.insert(entry);
    bytes_ += bytes;
  }
  entry->referenced = true;
  if (pin) entry->pinned_epoch = epoch_;
  const Instance* out = &entry->inst;
  evict_over_budget();
  // An unpinned entry larger than the whole budget is evicted at once; the caller still gets
  // its copy only if it is pinned.
  return index_.find(id, hash) != nullptr ? out : nullptr;
}

void InstanceCache::prefetch(std::span<const std::string_view> ids) const {
  std::uint64_t hashes[kPrefetchChunk];
  const Entry* entries[kPrefetchChunk];
  for (std::size_t base = 0; base < ids.size(); base += kPrefetchChunk) {
    const std::size_t n = std::min(kPrefetchChunk, ids.size() - base);
    for (std::size_t i = 0; i < n; ++i) {
      hashes[i] = protocol::seeded_hash(ids[base + i]);
      index_.prefetch_slot(hashes[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
      entries[i] = index_.candidate(hashes[i]);
      if (entries[i] != nullptr) __builtin_prefetch(entries[i]);
    }
    // The strings a lookup compares (the id) and a request copies (the record's).
    for (std::size_t i = 0; i < n; ++i) {
      const Entry* e = entries[i];
      if (e == nullptr) continue;
      __builtin_prefetch(e->id.data());
      __builtin_prefetch(e->inst.rec.machine.data());
      __builtin_prefetch(e->inst.rec.ctx_json.data());
    }
  }
}

void InstanceCache::evict_over_budget() {
  // Each entry is passed at most twice (once to clear its bit, once to evict it), so the walk
  // is bounded even when everything is pinned or referenced.
  std::size_t budget_steps = 2 * ring_.size();
  while (bytes_ > max_bytes_ && !ring_.empty() && budget_steps-- > 0) {
    auto it = ring_.begin();
    if (it->pinned_epoch == epoch_ || it->referenced) {
      it->referenced = false;
      ring_.splice(ring_.end(), ring_, it);  // second chance: to the back
      continue;
    }
    bytes_ -= it->bytes;
    index_.erase(&*it);
    ring_.erase(it);
    ++evictions_;
  }
}

void InstanceCache::clear() {
  index_.clear();
  ring_.clear();
  bytes_ = 0;
}

}  // namespace rstmdb::engine
