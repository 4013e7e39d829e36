#include "engine/committed_state.hpp"

#include "engine/stored_json.hpp"
#include "protocol/error.hpp"
#include "statemachine/definition.hpp"
#include "storage/keys.hpp"
#include "storage/records.hpp"

#include <algorithm>

namespace rstmdb::engine {

using storage::Cf;

namespace {

std::optional<std::uint64_t> read_meta_u64(const storage::Store& store, std::string_view key) {
  auto value = store.get(Cf::Meta, key);
  if (!value) return std::nullopt;
  return storage::decode_u64_value(*value);
}

storage::StorageError corrupt(const std::string& what) {
  return storage::StorageError(what, storage::StorageError::Kind::Corruption);
}

MachinePtr compile_machine(std::string machine, std::uint32_t version, const storage::MachineRecord& record) {
  auto definition = parse_stored(record.definition_json, "definition of " + machine);
  auto parsed = statemachine::parse_machine_definition(definition);
  if (auto* e = std::get_if<protocol::Error>(&parsed)) {
    throw corrupt("stored definition of " + machine + " v" + std::to_string(version) +
                  " no longer validates: " + e->message);
  }
  return std::make_shared<MachineVersion>(MachineVersion{
      std::move(machine), version, std::get<statemachine::MachineDefinition>(std::move(parsed)),
      record.definition_json, record.created_at});
}

std::uint64_t add_clamped(std::uint64_t current, std::int64_t delta) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, static_cast<std::int64_t>(current) + delta));
}

}  // namespace

void CommittedState::load(const storage::Store& store) {
  latest_offset_ = read_meta_u64(store, storage::kMetaLatestOffset).value_or(0);
  oldest_offset_ = read_meta_u64(store, storage::kMetaOldestOffset).value_or(1);
  snapshot_count_ = read_meta_u64(store, kMetaSnapshotCount).value_or(0);
  store.scan(Cf::Machines, "", "", [&](std::string_view key, std::string_view value) {
    std::string name;
    std::uint32_t version = 0;
    storage::MachineRecord record;
    if (!storage::decode_machine_key(key, name, version) || !storage::decode_machine(value, record)) {
      throw corrupt("corrupt machine record");
    }
    catalog_.insert(compile_machine(std::move(name), version, record));
    return true;
  });
  std::lock_guard lock(counts_mutex_);
  store.scan(Cf::Counts, "", "", [&](std::string_view key, std::string_view value) {
    std::string machine, state;
    const auto count = storage::decode_u64_value(value);
    if (!storage::decode_count_key(key, machine, state) || !count) throw corrupt("corrupt instance counter");
    counts_[{std::move(machine), std::move(state)}] = *count;
    live_total_ += *count;
    return true;
  });
}

std::vector<CommittedState::CountUpdate> CommittedState::count_updates(const View& group) const {
  std::vector<CountUpdate> out;
  std::lock_guard lock(counts_mutex_);
  for (const auto& [key, delta] : group.count_deltas()) {
    if (delta == 0) continue;
    auto it = counts_.find(key);
    out.push_back(CountUpdate{key, add_clamped(it == counts_.end() ? 0 : it->second, delta)});
  }
  return out;
}

std::uint64_t CommittedState::live_total() const {
  std::lock_guard lock(counts_mutex_);
  return live_total_;
}

std::uint64_t CommittedState::count(const std::optional<std::string>& machine,
                                    const std::optional<std::string>& state) const {
  std::lock_guard lock(counts_mutex_);
  if (machine && state) {
    auto it = counts_.find({*machine, *state});
    return it == counts_.end() ? 0 : it->second;
  }
  std::uint64_t total = 0;
  if (machine) {
    for (auto it = counts_.lower_bound({*machine, ""}); it != counts_.end() && it->first.first == *machine;
         ++it)
      total += it->second;
    return total;
  }
  if (state) {
    for (const auto& [key, n] : counts_) {
      if (key.second == *state) total += n;
    }
    return total;
  }
  return live_total_;
}

std::map<View::CountKey, std::uint64_t> CommittedState::counts() const {
  std::lock_guard lock(counts_mutex_);
  return counts_;
}

std::uint64_t CommittedState::snapshot_count_after(const View& group) const noexcept {
  return add_clamped(snapshot_count_.load(), group.snapshot_delta());
}

void CommittedState::publish(const View& group, const std::vector<CountUpdate>& counts) {
  ++commits_;
  {
    std::lock_guard lock(counts_mutex_);
    for (const auto& [key, n] : counts) {
      auto it = counts_.find(key);
      const std::uint64_t before = it == counts_.end() ? 0 : it->second;
      live_total_ = live_total_ - before + n;
      if (n == 0) {
        if (it != counts_.end()) counts_.erase(it);
      } else {
        counts_[key] = n;
      }
    }
  }
  for (const auto& [key, m] : group.machines())
    catalog_.insert(m);
  snapshot_count_ = snapshot_count_after(group);
  if (group.entries() > 0) {
    writes_ += group.entries();
    bytes_written_ += group.entry_bytes();
    entries_since_compaction_ += group.entries();
    latest_offset_.store(group.next_offset() - 1, std::memory_order_release);
  }
}

void CommittedState::clear_all() {
  catalog_.clear();
  {
    std::lock_guard lock(counts_mutex_);
    counts_.clear();
    live_total_ = 0;
  }
  snapshot_count_ = 0;
}

IoStats CommittedState::io_stats() const {
  return IoStats{bytes_written_.load(), bytes_read_.load(), writes_.load(),
                 reads_.load(),         fsyncs_.load(),     commits_.load()};
}

}  // namespace rstmdb::engine
