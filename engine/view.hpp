// A layer of staged, uncommitted changes over committed state (the staging view).
//
// The write pipeline's group is the root view of a chain whose base is committed state (a
// CommittedReader: the instance cache and the store). Each request runs in a child view that
// is merged into the group only if the request succeeds, so a failed request leaves nothing
// behind; an atomic BATCH is one more child level. A group staged while the previous group is
// still being written sits on top of that group's view, so it sees its changes.
//
// Thread: a view is used by the sequencer only, except that once a group is handed over the
// committer reads it (never writes it) while the sequencer builds the next group on top.
#pragma once

#include "engine/catalog.hpp"
#include "engine/commands.hpp"
#include "protocol/seeded_hash.hpp"
#include "storage/records.hpp"
#include "storage/store.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rstmdb::engine {

// An instance as the sequencer holds it: the stored record and its ctx parsed.
struct Instance {
  storage::InstanceRecord rec;  // rec.ctx_json always matches ctx
  boost::json::object ctx;
};

// One staged storage change, in staging order.
struct Mutation {
  enum class Kind : unsigned char { Put, Delete, DeleteRange } kind;
  storage::Cf cf;
  std::string key;
  std::string value;  // Put: value; DeleteRange: end key
};

struct IdempotencyValue {
  std::int64_t created_at = 0;
  std::string result_json;
};

// What the bottom of a view chain reads: committed state. Sequencer thread only.
class CommittedReader {
 public:
  virtual ~CommittedReader() = default;
  // The committed instance (live or tombstone), or null. The pointer stays valid until the
  // next absorb(); views hold it only while one request runs. Throws StorageError.
  virtual const Instance* instance(const std::string& id) = 0;
  // Like instance(), without taking the instance into any cache (a pass over every instance
  // must not push the hot ones out). The pointer stays valid until the next peek or absorb.
  virtual const Instance* peek_instance(const std::string& id) { return instance(id); }
  virtual std::optional<IdempotencyValue> idempotency(const std::string& key) = 0;
  virtual bool snapshot_exists(const std::string& id) = 0;
  virtual MachinePtr machine(const std::string& name, std::uint32_t version) = 0;
  virtual std::vector<std::uint32_t> machine_versions(const std::string& name) = 0;
  // storage.idempotency_ttl_secs: a record created at `created_at` has expired at `now`.
  virtual bool expired(std::int64_t created_at, std::int64_t now) const = 0;
  // A request starts (its lookups may be held until the next begin_request()).
  virtual void begin_request() {}
  // A hint that these committed instances are about to be read: an implementation may start
  // loading them. No effect on what any read returns.
  virtual void prefetch_instances(std::span<const std::string_view> ids) { (void)ids; }
  // A group was committed: take its instances into the cache. Called once per committed
  // group, in commit order, after the group's write returned.
  virtual void absorb(class View& group) = 0;
};

// Tables keyed by client-chosen strings use the process-keyed hash (hash flooding).
template <typename Value>
using StringMap = std::unordered_map<std::string, Value, protocol::SeededStringHash, std::equal_to<>>;

class View {
 public:
  View(CommittedReader& committed, View* parent, std::uint64_t next_offset, std::int64_t now)
      : committed_(committed), parent_(parent), next_offset_(next_offset), now_(now) {}

  // A child of `parent` (one request, or an atomic BATCH): changes are merged into `parent`
  // only by merge_into_parent().
  explicit View(View& parent) : View(parent.committed_, &parent, parent.next_offset_, parent.now_) {}

  View(const View&) = delete;
  View& operator=(const View&) = delete;

  std::int64_t now() const noexcept { return now_; }
  // Moves the group clock forward (never back, so timestamps follow offset order). The
  // sequencer calls it before staging jobs into a group that stayed open.
  void advance_clock(std::int64_t now) noexcept { now_ = std::max(now_, now); }
  std::uint64_t next_offset() const noexcept { return next_offset_; }

  // --- reads through the chain
  const Instance* instance(const std::string& id);
  // instance() that leaves committed instances out of the cache (CommittedReader::peek_instance).
  const Instance* peek_instance(const std::string& id);
  std::optional<std::string> idempotent_result(const std::string& key);
  MachinePtr machine(const std::string& name, std::uint32_t version);
  std::size_t machine_versions(const std::string& name);
  bool snapshot_exists(const std::string& id);

  // --- staging
  void put_instance(const std::string& id, Instance inst);
  void put_idempotent_result(const std::string& key, std::string result_json);
  void erase_idempotency_prefix(const std::string& prefix);
  void put_machine(MachinePtr m) { machines_[{m->machine, m->version}] = std::move(m); }
  void set_snapshot(const std::string& id, std::string doc);
  void remove_snapshot(const std::string& id);
  // Appends a change-log entry at the next offset; returns that offset.
  std::uint64_t append_entry(std::string entry_json);
  void put(storage::Cf cf, std::string key, std::string value);
  void del(storage::Cf cf, std::string key);
  // Deletes every key in [begin, end).
  void del_range(storage::Cf cf, std::string begin, std::string end);
  void count_delta(const std::string& machine, const std::string& state, std::int64_t delta) {
    count_deltas_[{machine, state}] += delta;
  }
  void add_event(CommittedEvent e) { events_.push_back(std::move(e)); }
  // An acknowledged write that appends no log entry (SNAPSHOT_INSTANCE): counted toward
  // every_n / every_ms syncs like an entry.
  void count_write_without_entry() { ++writes_without_entry_; }
  // Runs on the thread that wrote the group, once it is committed: for shared state.
  void after_commit(std::function<void()> fn) { after_commit_.push_back(std::move(fn)); }
  // Runs on the sequencer when it absorbs the committed group: for its private state.
  void after_absorb(std::function<void()> fn) { after_absorb_.push_back(std::move(fn)); }

  // Moves every staged change into the parent view.
  void merge_into_parent();
  // The group's base becomes plain committed state (its parent group was absorbed).
  void detach_from_parent() noexcept { parent_ = nullptr; }

  bool empty() const noexcept {
    return instances_.empty() && mutations_.empty() && idempotency_.empty() && erased_prefixes_.empty() &&
           machines_.empty() && count_deltas_.empty() && after_commit_.empty() && after_absorb_.empty() &&
           snapshot_delta_ == 0;
  }

  // --- what a committed group publishes and writes (read by the group store and pipeline)
  using CountKey = std::pair<std::string, std::string>;  // (machine, state)
  const std::vector<Mutation>& mutations() const noexcept { return mutations_; }
  const std::vector<std::string>& erased_prefixes() const noexcept { return erased_prefixes_; }
  const StringMap<Instance>& instances() const noexcept { return instances_; }
  StringMap<Instance>& instances() noexcept { return instances_; }
  const StringMap<std::optional<IdempotencyValue>>& idempotency() const noexcept { return idempotency_; }
  const std::map<std::pair<std::string, std::uint32_t>, MachinePtr>& machines() const noexcept {
    return machines_;
  }
  const std::map<CountKey, std::int64_t>& count_deltas() const noexcept { return count_deltas_; }
  std::int64_t snapshot_delta() const noexcept { return snapshot_delta_; }
  const std::vector<CommittedEvent>& events() const noexcept { return events_; }
  // For the commit hook, after the group is written: the events with their entries' text moved
  // in (the batch holds its own copy; nothing reads a committed group's entries or events).
  std::vector<CommittedEvent> take_committed_events();
  std::uint64_t entries() const noexcept { return entries_; }
  std::uint64_t entry_bytes() const noexcept { return entry_bytes_; }
  std::uint64_t writes_without_entry() const noexcept { return writes_without_entry_; }
  const std::vector<std::function<void()>>& after_commit_fns() const noexcept { return after_commit_; }
  const std::vector<std::function<void()>>& after_absorb_fns() const noexcept { return after_absorb_; }
  // Approximate bytes staged (keys, values, entries): the group byte cap.
  std::uint64_t staged_bytes() const noexcept { return staged_bytes_; }

 private:
  bool prefix_erased(const std::string& key) const;

  CommittedReader& committed_;
  View* parent_;
  std::uint64_t next_offset_;
  std::int64_t now_;

  StringMap<Instance> instances_;
  StringMap<std::optional<IdempotencyValue>> idempotency_;  // nullopt = deleted
  std::vector<std::string> erased_prefixes_;
  std::map<std::pair<std::string, std::uint32_t>, MachinePtr> machines_;
  StringMap<bool> snapshots_;  // id → exists after this view
  std::int64_t snapshot_delta_ = 0;
  std::map<CountKey, std::int64_t> count_deltas_;
  std::vector<Mutation> mutations_;
  std::vector<CommittedEvent> events_;
  std::vector<std::function<void()>> after_commit_;
  std::vector<std::function<void()>> after_absorb_;
  std::uint64_t entries_ = 0;
  std::uint64_t entry_bytes_ = 0;
  std::uint64_t writes_without_entry_ = 0;
  std::uint64_t staged_bytes_ = 0;
};

}  // namespace rstmdb::engine
