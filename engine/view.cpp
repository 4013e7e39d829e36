#include "engine/view.hpp"

#include "storage/keys.hpp"

#include <algorithm>

namespace rstmdb::engine {

namespace {
// Bookkeeping bytes counted per staged record on top of its key and value (the group byte cap
// is approximate by design: it bounds a group's memory and WriteBatch, it need not be exact).
constexpr std::uint64_t kRecordOverheadBytes = 64;
}  // namespace

const Instance* View::instance(const std::string& id) {
  if (auto it = instances_.find(id); it != instances_.end()) return &it->second;
  if (parent_ != nullptr) return parent_->instance(id);
  return committed_.instance(id);
}

const Instance* View::peek_instance(const std::string& id) {
  for (View* v = this; v != nullptr; v = v->parent_) {
    if (auto it = v->instances_.find(id); it != v->instances_.end()) return &it->second;
  }
  return committed_.peek_instance(id);
}

bool View::prefix_erased(const std::string& key) const {
  return std::any_of(erased_prefixes_.begin(), erased_prefixes_.end(),
                     [&](const std::string& p) { return key.compare(0, p.size(), p) == 0; });
}

std::optional<std::string> View::idempotent_result(const std::string& key) {
  for (View* v = this; v != nullptr; v = v->parent_) {
    if (auto it = v->idempotency_.find(key); it != v->idempotency_.end()) {
      if (!it->second || committed_.expired(it->second->created_at, now_)) return std::nullopt;
      return it->second->result_json;
    }
    if (v->prefix_erased(key)) return std::nullopt;
  }
  auto committed = committed_.idempotency(key);
  if (!committed || committed_.expired(committed->created_at, now_)) return std::nullopt;
  return std::move(committed->result_json);
}

void View::put_instance(const std::string& id, Instance inst) {
  staged_bytes_ += id.size() + inst.rec.ctx_json.size() + kRecordOverheadBytes;
  instances_.insert_or_assign(id, std::move(inst));
}

void View::put_idempotent_result(const std::string& key, std::string result_json) {
  staged_bytes_ += key.size() + result_json.size() + kRecordOverheadBytes;
  idempotency_.insert_or_assign(key, IdempotencyValue{now_, std::move(result_json)});
}

void View::erase_idempotency_prefix(const std::string& prefix) {
  std::erase_if(idempotency_,
                [&](const auto& entry) { return entry.first.compare(0, prefix.size(), prefix) == 0; });
  erased_prefixes_.push_back(prefix);
}

MachinePtr View::machine(const std::string& name, std::uint32_t version) {
  for (View* v = this; v != nullptr; v = v->parent_) {
    if (auto it = v->machines_.find({name, version}); it != v->machines_.end()) return it->second;
  }
  return committed_.machine(name, version);
}

std::size_t View::machine_versions(const std::string& name) {
  // A version staged in the group in flight may already be in the catalog too (the
  // committer publishes before the sequencer absorbs), so versions are counted once each.
  auto all = committed_.machine_versions(name);
  for (View* v = this; v != nullptr; v = v->parent_) {
    for (auto it = v->machines_.lower_bound({name, 0}); it != v->machines_.end() && it->first.first == name;
         ++it) {
      all.push_back(it->first.second);
    }
  }
  std::sort(all.begin(), all.end());
  return static_cast<std::size_t>(std::unique(all.begin(), all.end()) - all.begin());
}

bool View::snapshot_exists(const std::string& id) {
  for (View* v = this; v != nullptr; v = v->parent_) {
    if (auto it = v->snapshots_.find(id); it != v->snapshots_.end()) return it->second;
  }
  return committed_.snapshot_exists(id);
}

void View::set_snapshot(const std::string& id, std::string doc) {
  if (!snapshot_exists(id)) ++snapshot_delta_;
  snapshots_[id] = true;
  put(storage::Cf::Snapshots, id, std::move(doc));
}

void View::remove_snapshot(const std::string& id) {
  if (!snapshot_exists(id)) return;
  --snapshot_delta_;
  snapshots_[id] = false;
  del(storage::Cf::Snapshots, id);
}

std::uint64_t View::append_entry(std::string entry_json) {
  staged_bytes_ += entry_json.size() + kRecordOverheadBytes;
  ++entries_;
  entry_bytes_ += entry_json.size();
  mutations_.push_back(
      {Mutation::Kind::Put, storage::Cf::Log, storage::offset_key(next_offset_), std::move(entry_json)});
  return next_offset_++;
}

void View::put(storage::Cf cf, std::string key, std::string value) {
  staged_bytes_ += key.size() + value.size() + kRecordOverheadBytes;
  mutations_.push_back({Mutation::Kind::Put, cf, std::move(key), std::move(value)});
}

void View::del(storage::Cf cf, std::string key) {
  staged_bytes_ += key.size() + kRecordOverheadBytes;
  mutations_.push_back({Mutation::Kind::Delete, cf, std::move(key), {}});
}

void View::del_range(storage::Cf cf, std::string begin, std::string end) {
  staged_bytes_ += begin.size() + end.size() + kRecordOverheadBytes;
  mutations_.push_back({Mutation::Kind::DeleteRange, cf, std::move(begin), std::move(end)});
}

std::vector<CommittedEvent> View::take_committed_events() {
  // Log mutations are staged in offset order, and so are events.
  std::size_t next_event = 0;
  for (auto& m : mutations_) {
    if (next_event == events_.size()) break;
    if (m.cf != storage::Cf::Log || m.kind != Mutation::Kind::Put) continue;
    if (storage::decode_offset_key(m.key) == events_[next_event].offset) {
      events_[next_event++].entry_json = std::move(m.value);
    }
  }
  return std::move(events_);
}

void View::merge_into_parent() {
  View& p = *parent_;
  for (auto& [id, inst] : instances_)
    p.instances_.insert_or_assign(id, std::move(inst));
  for (auto& prefix : erased_prefixes_)
    p.erase_idempotency_prefix(prefix);
  for (auto& [key, value] : idempotency_)
    p.idempotency_.insert_or_assign(key, std::move(value));
  for (auto& [key, m] : machines_)
    p.machines_[key] = std::move(m);
  for (auto& [id, exists] : snapshots_)
    p.snapshots_[id] = exists;
  p.snapshot_delta_ += snapshot_delta_;
  for (auto& [key, delta] : count_deltas_)
    p.count_deltas_[key] += delta;
  p.mutations_.insert(p.mutations_.end(), std::make_move_iterator(mutations_.begin()),
                      std::make_move_iterator(mutations_.end()));
  p.events_.insert(p.events_.end(), std::make_move_iterator(events_.begin()),
                   std::make_move_iterator(events_.end()));
  p.after_commit_.insert(p.after_commit_.end(), std::make_move_iterator(after_commit_.begin()),
                         std::make_move_iterator(after_commit_.end()));
  p.after_absorb_.insert(p.after_absorb_.end(), std::make_move_iterator(after_absorb_.begin()),
                         std::make_move_iterator(after_absorb_.end()));
  p.next_offset_ = next_offset_;
  p.entries_ += entries_;
  p.entry_bytes_ += entry_bytes_;
  p.writes_without_entry_ += writes_without_entry_;
  p.staged_bytes_ += staged_bytes_;
}

}  // namespace rstmdb::engine
