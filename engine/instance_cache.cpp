#include "engine/instance_cache.hpp"

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
  auto it = index_.find(std::string_view(id));
  if (it == index_.end()) return nullptr;
  Entry& e = *it->second;
  e.referenced = true;
  e.pinned_epoch = epoch_;
  return &e.inst;
}

const Instance* InstanceCache::peek(const std::string& id) const {
  auto it = index_.find(std::string_view(id));
  return it == index_.end() ? nullptr : &it->second->inst;
}

const Instance* InstanceCache::put(const std::string& id, Instance inst, bool pin) {
  const std::uint64_t bytes = charge(id, inst);
  Entry* entry;
  if (auto it = index_.find(std::string_view(id)); it != index_.end()) {
    entry = &*it->second;
    bytes_ = bytes_ - entry->bytes + bytes;
    entry->inst = std::move(inst);
    entry->bytes = bytes;
  } else {
    ring_.push_back(Entry{id, std::move(inst), bytes, 0, false});
    auto pos = std::prev(ring_.end());
    index_.emplace(std::string_view(pos->id), pos);
    bytes_ += bytes;
    entry = &*pos;
  }
  entry->referenced = true;
  if (pin) entry->pinned_epoch = epoch_;
  const Instance* out = &entry->inst;
  evict_over_budget();
  // An unpinned entry larger than the whole budget is evicted at once; the caller still gets
  // its copy only if it is pinned.
  return index_.contains(std::string_view(id)) ? out : nullptr;
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
    index_.erase(std::string_view(it->id));
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
