#include "engine/engine.hpp"

#include "engine/catalog.hpp"
#include "engine/object_writer.hpp"
#include "protocol/crc32c.hpp"
#include "protocol/envelope.hpp"
#include "protocol/frame.hpp"
#include "protocol/json_text.hpp"
#include "statemachine/context.hpp"
#include "statemachine/definition.hpp"
#include "statemachine/transition.hpp"
#include "storage/keys.hpp"
#include "storage/records.hpp"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <random>
#include <stdexcept>
#include <unordered_map>

namespace rstmdb::engine {

namespace json = boost::json;
using protocol::Error;
using protocol::ErrorCode;
using storage::Cf;

namespace {

// Most jobs one group takes from the queue; bounds one WriteBatch and the latency a job can
// add to the others in its group.
constexpr std::size_t kMaxGroupJobs = 1024;
// Committed instances kept parsed in the sequencer's cache. When full the cache is dropped
// and refilled from RocksDB on demand; it holds no state that is not in RocksDB.
constexpr std::size_t kMaxCachedInstances = 200000;
constexpr std::string_view kMetaSnapshotCount = "snapshot_count";
// Room kept in a response for the envelope around a list page.
constexpr std::size_t kEnvelopeReserveBytes = 4096;
// Maintenance cadence (runtime.md §1.3: automatic compaction is checked every 10 s).
constexpr auto kMaintenanceTick = std::chrono::seconds(10);
constexpr auto kIdempotencyPurgeInterval = std::chrono::seconds(60);
// Expired idempotency records deleted per sequenced purge step.
constexpr std::size_t kPurgeChunk = 10000;

// Thrown inside an operation to answer it with an error.
struct OpFailure {
  Error error;
};

[[noreturn]] void fail(ErrorCode code, std::string message, json::object details = {}) {
  throw OpFailure{Error{code, std::move(message), std::move(details)}};
}

Error storage_failure(const storage::StorageError& e) {
  return Error{ErrorCode::WalIoError, "storage error: " + e.message(), {}};
}

// The answer to a write whose group was being written when storage failed: its batch may or
// may not be on disk, and RocksDB's recovery at the next start decides.
Error outcome_unknown(const storage::StorageError& cause) {
  return Error{
      ErrorCode::WalIoError,
      "storage error: " + cause.message() +
          "; the outcome of this write is unknown (the server stops; read it back after it restarts)",
      {}};
}

// The answer to a write that was never attempted because storage had already failed.
Error not_applied(const storage::StorageError& cause) {
  return Error{ErrorCode::WalIoError,
               "storage error: writes stopped after a storage failure (" + cause.message() +
                   "); this write was not applied",
               {}};
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string uuid_v4() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::uint64_t hi = (rng() & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;
  const std::uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
  return buf;
}

// Stored JSON, re-read with the stored-depth limit and the request number rules
// (protocol::parse_stored_json). What no longer parses is corruption.
json::value parse_stored(std::string_view text, std::string_view what) {
  json::value out;
  protocol::JsonParseError error;
  if (!protocol::parse_stored_json(text, out, error)) {
    throw storage::StorageError("stored " + std::string(what) + " does not parse: " + error.reason,
                                storage::StorageError::Kind::Corruption);
  }
  return out;
}

std::string hex8(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

Error instance_not_found(const std::string& id) {
  json::object d;
  d["instance_id"] = id;
  return Error{ErrorCode::InstanceNotFound, "instance not found: " + id, std::move(d)};
}

Error machine_not_found(const std::string& machine, std::uint32_t version) {
  json::object d;
  d["machine"] = machine;
  d["version"] = version;
  return Error{ErrorCode::MachineNotFound,
               "machine version not found: " + machine + " v" + std::to_string(version), std::move(d)};
}

void check_entry_size(std::size_t size) {
  if (size > protocol::kMaxLogEntryBytes) {
    fail(ErrorCode::BadRequest, "change-log entry too large (" + std::to_string(size) + " bytes, max " +
                                    std::to_string(protocol::kMaxLogEntryBytes) + ")");
  }
}

std::string result_text(const Result& r) {
  if (auto* o = std::get_if<json::object>(&r)) return protocol::to_json(*o);
  return std::get<RawJson>(r).text;
}

// An APPLY_EVENT replay answers the stored result with "applied":false. The stored text was
// written by apply() and holds `,"applied":true` exactly once outside any string (a JSON
// string cannot contain an unescaped quote), as its last such occurrence.
std::string as_replay(std::string stored) {
  constexpr std::string_view kApplied = ",\"applied\":true";
  const auto pos = stored.rfind(kApplied);
  if (pos != std::string::npos) stored.replace(pos, kApplied.size(), ",\"applied\":false");
  return stored;
}

struct Instance {
  storage::InstanceRecord rec;  // rec.ctx_json always matches ctx
  json::object ctx;
};

struct Mutation {
  enum class Kind : unsigned char { Put, Delete, DeleteRange } kind;
  Cf cf;
  std::string key;
  std::string value;  // Put: value; DeleteRange: end key
};

struct IdempotencyValue {
  std::int64_t created_at = 0;
  std::string result_json;
};

}  // namespace

// The first storage failure and who to tell. Shared with the store's background-error handler,
// which RocksDB may call from its own threads, so it must not reference the engine itself.
class FailureLatch {
 public:
  // Records `cause` if it is the first failure and returns true then (the caller reports it).
  bool trip(const storage::StorageError& cause) {
    std::function<void(const storage::StorageError&)> handler;
    {
      std::lock_guard lock(mutex_);
      if (cause_) return false;
      cause_ = cause;
      tripped_.store(true, std::memory_order_release);
      handler = handler_;
    }
    if (handler) handler(cause);
    return true;
  }
  bool tripped() const noexcept { return tripped_.load(std::memory_order_acquire); }
  std::optional<storage::StorageError> cause() const {
    std::lock_guard lock(mutex_);
    return cause_;
  }
  void set_handler(std::function<void(const storage::StorageError&)> handler) {
    std::optional<storage::StorageError> already;
    {
      std::lock_guard lock(mutex_);
      handler_ = handler;
      already = cause_;
    }
    if (already && handler) handler(*already);
  }

 private:
  mutable std::mutex mutex_;
  std::atomic<bool> tripped_{false};
  std::optional<storage::StorageError> cause_;
  std::function<void(const storage::StorageError&)> handler_;
};

// A layer of staged, uncommitted changes over the committed state. The sequencer's group is
// the root view; each job runs in a child view merged into the group only if it succeeds, so
// a failed request leaves nothing behind (an atomic BATCH is one more child level).
class View {
 public:
  View(Engine::Impl& impl, View* parent, std::uint64_t next_offset, std::int64_t now)
      : impl_(impl), parent_(parent), next_offset_(next_offset), now_(now) {}

  std::int64_t now() const noexcept { return now_; }
  // Moves the group clock forward (never back, so timestamps follow offset order). The
  // sequencer calls it before staging jobs into a group that stayed open.
  void advance_clock(std::int64_t now) noexcept { now_ = std::max(now_, now); }
  std::uint64_t next_offset() const noexcept { return next_offset_; }

  const Instance* instance(const std::string& id);
  void put_instance(const std::string& id, Instance inst) {
    instances_.insert_or_assign(id, std::move(inst));
  }

  std::optional<std::string> idempotent_result(const std::string& key);
  void put_idempotent_result(const std::string& key, std::string result_json) {
    idempotency_.insert_or_assign(key, IdempotencyValue{now_, std::move(result_json)});
  }
  void erase_idempotency_prefix(const std::string& prefix);

  MachinePtr machine(const std::string& name, std::uint32_t version);
  std::size_t machine_versions(const std::string& name);
  void put_machine(MachinePtr m) { machines_[{m->machine, m->version}] = std::move(m); }

  bool snapshot_exists(const std::string& id);
  void set_snapshot(const std::string& id, std::string doc);
  void remove_snapshot(const std::string& id);

  std::uint64_t append_entry(std::string entry_json) {
    mutations_.push_back(
        {Mutation::Kind::Put, Cf::Log, storage::offset_key(next_offset_), std::move(entry_json)});
    ++entries_;
    entry_bytes_ += mutations_.back().value.size();
    return next_offset_++;
  }
  void put(Cf cf, std::string key, std::string value) {
    mutations_.push_back({Mutation::Kind::Put, cf, std::move(key), std::move(value)});
  }
  void del(Cf cf, std::string key) { mutations_.push_back({Mutation::Kind::Delete, cf, std::move(key), {}}); }
  void del_range(Cf cf, std::string begin, std::string end) {
    mutations_.push_back({Mutation::Kind::DeleteRange, cf, std::move(begin), std::move(end)});
  }
  void count_delta(const std::string& machine, const std::string& state, std::int64_t delta) {
    count_deltas_[{machine, state}] += delta;
  }
  void add_event(CommittedEvent e) { events_.push_back(std::move(e)); }
  // An acknowledged write that appends no log entry (SNAPSHOT_INSTANCE): counted toward
  // every_n / every_ms syncs like an entry.
  void count_write_without_entry() { ++writes_without_entry_; }
  // Runs on the committer thread once the group is durable: for shared state.
  void after_commit(std::function<void()> fn) { after_commit_.push_back(std::move(fn)); }
  // Runs on the sequencer thread when it absorbs the committed group: for its private state.
  void after_absorb(std::function<void()> fn) { after_absorb_.push_back(std::move(fn)); }

  // Moves every staged change into the parent view.
  void merge_into_parent();

  bool empty() const noexcept {
    return instances_.empty() && mutations_.empty() && idempotency_.empty() && erased_prefixes_.empty() &&
           machines_.empty() && count_deltas_.empty() && after_commit_.empty() && after_absorb_.empty() &&
           snapshot_delta_ == 0;
  }

 private:
  friend class Engine::Impl;

  bool prefix_erased(const std::string& key) const {
    return std::any_of(erased_prefixes_.begin(), erased_prefixes_.end(),
                       [&](const std::string& p) { return key.compare(0, p.size(), p) == 0; });
  }

  Engine::Impl& impl_;
  View* parent_;
  std::uint64_t next_offset_;
  std::int64_t now_;

  std::unordered_map<std::string, Instance> instances_;
  std::unordered_map<std::string, std::optional<IdempotencyValue>> idempotency_;  // nullopt = deleted
  std::vector<std::string> erased_prefixes_;
  std::map<std::pair<std::string, std::uint32_t>, MachinePtr> machines_;
  std::unordered_map<std::string, bool> snapshots_;  // id → exists after this view
  std::int64_t snapshot_delta_ = 0;
  std::map<std::pair<std::string, std::string>, std::int64_t> count_deltas_;
  std::vector<Mutation> mutations_;
  std::vector<CommittedEvent> events_;
  std::vector<std::function<void()>> after_commit_;
  std::vector<std::function<void()>> after_absorb_;
  std::uint64_t entries_ = 0;
  std::uint64_t entry_bytes_ = 0;
  std::uint64_t writes_without_entry_ = 0;  // acknowledged writes that append no entry (snapshots)
};

class Engine::Impl {
 public:
  Impl(storage::Store& store, EngineOptions options);
  ~Impl() { shutdown(); }

  struct Job {
    std::function<Result(View&)> run;
    ResultCallback done;
    bool exclusive = false;  // runs alone in its own group (FLUSH_ALL)
    // Call `done` on the sequencer thread, not through the completion executor: for the
    // engine's own jobs, whose waiter must not depend on the server's threads still running.
    bool internal = false;
  };

  struct PendingReply {
    ResultCallback done;
    Result result;
    bool internal = false;
  };

  void submit(Job job);
  void shutdown();

  // --- committed state, read by the sequencer through views
  const Instance* committed_instance(const std::string& id);
  std::optional<IdempotencyValue> committed_idempotency(const std::string& key);
  bool committed_snapshot_exists(const std::string& id) { return store_.get(Cf::Snapshots, id).has_value(); }
  bool expired(std::int64_t created_at, std::int64_t now) const {
    const auto ttl = options_.idempotency_ttl_secs;
    return ttl != 0 && now - created_at >= static_cast<std::int64_t>(ttl) * 1000;
  }

  // --- operations, run on the sequencer inside a job's view
  Result put_machine(View& v, const PutMachine& c);
  Result create_instance(View& v, const CreateInstance& c);
  // `payload_json` is c.payload serialized; the caller may do that off the sequencer.
  Result apply_event(View& v, const ApplyEvent& c, std::string_view payload_json);
  Result delete_instance(View& v, const DeleteInstance& c);
  Result get_instance_in(View& v, const GetInstance& c);
  Result get_machine_in(View& v, const GetMachine& c);
  Result batch(View& v, const Batch& c);
  Result snapshot_instance(View& v, const SnapshotInstance& c);
  Result flush_all(View& v);
  Result run_element(View& v, const BatchElement& e);

  // --- reads from any thread
  Result get_instance(const GetInstance& q) const;
  Result get_machine(const GetMachine& q) const;
  Result list_machines(const ListMachines& q) const;
  Result list_instances(const ListInstances& q) const;
  Result wal_read(const WalRead& q) const;
  Result wal_stats() const;
  std::uint64_t live_instances() const {
    std::lock_guard lock(counts_mutex_);
    return live_total_;
  }

  // --- maintenance
  void compact(Compact c, ResultCallback done);
  Result run_compaction(bool force_snapshot);
  std::uint64_t retention_point() const;
  std::uint64_t purge_expired_idempotency();
  Result sequenced(std::function<Result(View&)> fn, bool exclusive = false);

  storage::Store& store_;
  EngineOptions options_;
  MachineCatalog catalog_;

  mutable std::mutex counts_mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> counts_;
  std::uint64_t live_total_ = 0;

  std::atomic<std::uint64_t> latest_offset_{0};
  std::atomic<std::uint64_t> oldest_offset_{1};
  std::atomic<std::uint64_t> snapshot_count_{0};
  std::atomic<std::uint64_t> entries_since_compaction_{0};

  mutable std::atomic<std::uint64_t> bytes_written_{0}, bytes_read_{0}, writes_{0}, reads_{0}, fsyncs_{0};
  std::atomic<std::uint64_t> commits_{0};

  std::function<void(std::span<const CommittedEvent>)> event_hook_;
  std::function<void(std::function<void()>)> completion_executor_;

  // Fail-stop (docs/architecture.md "Storage failures"): the first storage write, sync or
  // background failure trips the latch; from then on nothing is written, every write is
  // answered WAL_IO_ERROR, and the handler (the server) stops the process.
  std::shared_ptr<FailureLatch> failure_ = std::make_shared<FailureLatch>();
  void fail_stop(const storage::StorageError& cause);
  bool failed() const noexcept { return failure_->tripped(); }

 private:
  // A group the sequencer staged and handed to the committer. While it is in flight the
  // sequencer builds the next group on top of its view; the committer only reads it.
  struct InFlight {
    std::unique_ptr<View> view;
    storage::Batch batch;
    bool sync = false;
    std::vector<PendingReply> replies;
    std::optional<storage::StorageError> failure;  // set by the committer
    bool done = false;                             // guarded by commit_mutex_
  };

  void sequencer_loop();
  void wake_sequencer();
  void run_job(View& group, Job& job, std::vector<PendingReply>& replies);
  std::unique_ptr<InFlight> new_group();
  void hand_off(std::unique_ptr<InFlight> group);
  std::optional<storage::StorageError> drain();
  void committer_loop();
  void complete_commit(InFlight& group);
  // Answers `replies`: with their results, or all with `failure` when it is set.
  void deliver(std::vector<PendingReply>& replies, const std::optional<Error>& failure = std::nullopt);
  void note_unsynced_write(std::uint64_t entries);
  bool periodic_sync_due(std::chrono::steady_clock::time_point now) const;
  // N of every_n / every_ms (at least 1).
  std::uint64_t policy_n() const { return std::max<std::uint64_t>(options_.fsync_policy.n, 1); }
  void absorb(InFlight& group);
  void maintenance_loop();

  // Sequencer-private. The instance cache is node-based, so an entry's address is stable
  // until it is erased; views hold such pointers only while a job runs, and entries change
  // only when a committed group is absorbed, between jobs.
  std::unordered_map<std::string, Instance> cache_;
  std::uint64_t next_offset_ = 1;
  // Entries written without a sync since the committer last synced the WAL (every_n,
  // every_ms, never). Added to by whichever thread wrote them; guarded by commit_mutex_.
  std::uint64_t unsynced_entries_ = 0;
  // When the committer last synced the WAL; guarded by commit_mutex_.
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
  // Hand-off between sequencer and committer: at most one group in flight.
  std::mutex commit_mutex_;
  std::condition_variable commit_cv_;
  std::unique_ptr<InFlight> handed_;
  // True from hand-off until the committer has finished the group. Read by the sequencer
  // under queue_mutex_ (its wait predicate); the committer clears it and then wakes it.
  std::atomic<bool> committer_busy_{false};
  bool committer_stopping_ = false;
  std::thread committer_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  bool sequencer_waiting_ = false;  // lets submit() skip the wake-up while the sequencer is busy
  std::thread sequencer_;

  std::mutex maintenance_mutex_;
  std::condition_variable maintenance_cv_;
  std::deque<std::function<void()>> maintenance_jobs_;
  bool maintenance_stopping_ = false;
  std::thread maintenance_;
  bool shut_down_ = false;
};

// ---------------------------------------------------------------------------------- View

const Instance* View::instance(const std::string& id) {
  if (auto it = instances_.find(id); it != instances_.end()) return &it->second;
  if (parent_ != nullptr) return parent_->instance(id);
  return impl_.committed_instance(id);
}

std::optional<std::string> View::idempotent_result(const std::string& key) {
  for (View* v = this; v != nullptr; v = v->parent_) {
    if (auto it = v->idempotency_.find(key); it != v->idempotency_.end()) {
      if (!it->second || impl_.expired(it->second->created_at, now_)) return std::nullopt;
      return it->second->result_json;
    }
    if (v->prefix_erased(key)) return std::nullopt;
  }
  auto committed = impl_.committed_idempotency(key);
  if (!committed || impl_.expired(committed->created_at, now_)) return std::nullopt;
  return std::move(committed->result_json);
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
  return impl_.catalog_.find(name, version);
}

std::size_t View::machine_versions(const std::string& name) {
  // A version staged in the group in flight may already be in the catalog too (the
  // committer publishes before the sequencer absorbs), so versions are counted once each.
  auto all = impl_.catalog_.versions(name);
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
  return impl_.committed_snapshot_exists(id);
}

void View::set_snapshot(const std::string& id, std::string doc) {
  if (!snapshot_exists(id)) ++snapshot_delta_;
  snapshots_[id] = true;
  put(Cf::Snapshots, id, std::move(doc));
}

void View::remove_snapshot(const std::string& id) {
  if (!snapshot_exists(id)) return;
  --snapshot_delta_;
  snapshots_[id] = false;
  del(Cf::Snapshots, id);
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
}

// ---------------------------------------------------------------------------------- Impl

namespace {

std::optional<std::uint64_t> read_meta_u64(const storage::Store& store, std::string_view key) {
  auto value = store.get(Cf::Meta, key);
  if (!value) return std::nullopt;
  return storage::decode_u64_value(*value);
}

std::string u64_be(std::uint64_t v) {
  return storage::u64_value(v);
}

MachinePtr compile_machine(std::string machine, std::uint32_t version, const storage::MachineRecord& record) {
  json::value definition = parse_stored(record.definition_json, "definition of " + machine);
  auto parsed = statemachine::parse_machine_definition(definition);
  if (auto* e = std::get_if<Error>(&parsed)) {
    throw std::runtime_error("stored definition of " + machine + " v" + std::to_string(version) +
                             " no longer validates: " + e->message);
  }
  return std::make_shared<MachineVersion>(MachineVersion{
      std::move(machine), version, std::get<statemachine::MachineDefinition>(std::move(parsed)),
      record.definition_json, record.created_at});
}

}  // namespace

Engine::Impl::Impl(storage::Store& store, EngineOptions options)
    : store_(store), options_(std::move(options)) {
  try {
    latest_offset_ = read_meta_u64(store_, storage::kMetaLatestOffset).value_or(0);
    oldest_offset_ = read_meta_u64(store_, storage::kMetaOldestOffset).value_or(1);
    snapshot_count_ = read_meta_u64(store_, kMetaSnapshotCount).value_or(0);
    store_.scan(Cf::Machines, "", "", [&](std::string_view key, std::string_view value) {
      std::string name;
      std::uint32_t version = 0;
      storage::MachineRecord record;
      if (!storage::decode_machine_key(key, name, version) || !storage::decode_machine(value, record)) {
        throw std::runtime_error("corrupt machine record");
      }
      catalog_.insert(compile_machine(std::move(name), version, record));
      return true;
    });
    store_.scan(Cf::Counts, "", "", [&](std::string_view key, std::string_view value) {
      std::string machine, state;
      const auto count = storage::decode_u64_value(value);
      if (!storage::decode_count_key(key, machine, state) || !count) {
        throw std::runtime_error("corrupt instance counter");
      }
      const auto n = *count;
      counts_[{std::move(machine), std::move(state)}] = n;
      live_total_ += n;
      return true;
    });
  } catch (const storage::StorageError& e) {
    throw std::runtime_error("storage error: " + e.message());
  }
  // RocksDB's background errors (flush, compaction, WAL) trip the same latch. The handler holds
  // the latch, not the engine: RocksDB may call it while the engine is being destroyed.
  store_.set_background_error_handler([latch = failure_, &store = store_](const storage::StorageError& e) {
    store.mark_failed(e);
    latch->trip(e);
  });
  sequencer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rstmdb-seq");
    sequencer_loop();
  });
  maintenance_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rstmdb-maint");
    maintenance_loop();
  });
  committer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rstmdb-commit");
    committer_loop();
  });
}

void Engine::Impl::submit(Job job) {
  std::unique_lock lock(queue_mutex_);
  if (stopping_) {
    lock.unlock();
    job.done(Error{ErrorCode::InternalError, "server is shutting down", {}});
    return;
  }
  queue_.push_back(std::move(job));
  const bool wake = sequencer_waiting_;
  lock.unlock();
  if (wake) queue_cv_.notify_one();
}

void Engine::Impl::wake_sequencer() {
  bool wake;
  {
    std::lock_guard lock(queue_mutex_);
    wake = sequencer_waiting_;
  }
  if (wake) queue_cv_.notify_one();
}

void Engine::Impl::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    std::lock_guard lock(maintenance_mutex_);
    maintenance_stopping_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (sequencer_.joinable()) sequencer_.join();
  {
    std::lock_guard lock(commit_mutex_);
    committer_stopping_ = true;
  }
  commit_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
}

const Instance* Engine::Impl::committed_instance(const std::string& id) {
  if (auto it = cache_.find(id); it != cache_.end()) return &it->second;
  auto bytes = store_.get(Cf::Instances, id);
  if (!bytes) return nullptr;
  Instance inst;
  if (!storage::decode_instance(*bytes, inst.rec))
    throw storage::StorageError("corrupt instance record: " + id, storage::StorageError::Kind::Corruption);
  json::value ctx = parse_stored(inst.rec.ctx_json, "ctx of instance " + id);
  if (!ctx.is_object())
    throw storage::StorageError("stored ctx of instance " + id + " is not an object",
                                storage::StorageError::Kind::Corruption);
  inst.ctx = std::move(ctx.get_object());
  return &cache_.emplace(id, std::move(inst)).first->second;
}

std::optional<IdempotencyValue> Engine::Impl::committed_idempotency(const std::string& key) {
  auto bytes = store_.get(Cf::Idempotency, key);
  if (!bytes) return std::nullopt;
  storage::IdempotencyRecord record;
  if (!storage::decode_idempotency(*bytes, record))
    throw storage::StorageError("corrupt idempotency record", storage::StorageError::Kind::Corruption);
  return IdempotencyValue{record.created_at, std::move(record.result_json)};
}

void Engine::Impl::fail_stop(const storage::StorageError& cause) {
  store_.mark_failed(cause);
  if (!failure_->trip(cause)) return;
  // Wake whoever waits for work so nothing stays queued behind the failure.
  { std::lock_guard lock(queue_mutex_); }
  queue_cv_.notify_all();
  commit_cv_.notify_all();
}

void Engine::Impl::sequencer_loop() {
  next_offset_ = latest_offset_.load() + 1;
  const bool syncs_every_write = options_.fsync_policy.kind == config::FsyncPolicy::Kind::EveryWrite;
  std::vector<Job> jobs;
  auto group = new_group();
  std::size_t group_jobs = 0;  // jobs staged in `group`
  for (;;) {
    jobs.clear();
    bool stop = false;
    {
      std::unique_lock lock(queue_mutex_);
      sequencer_waiting_ = true;
      // Also wakes when the committer becomes free while a staged group waits for it.
      queue_cv_.wait(
          lock, [&] { return !queue_.empty() || stopping_ || (group_jobs > 0 && !committer_busy_.load()); });
      sequencer_waiting_ = false;
      while (!queue_.empty() && group_jobs + jobs.size() < kMaxGroupJobs) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stop = stopping_ && queue_.empty();
    }

    if (failed() && !jobs.empty()) {
      // Fail-stop: nothing is staged or written any more.
      std::vector<PendingReply> refused;
      for (auto& job : jobs)
        refused.push_back(PendingReply{std::move(job.done), Result{}, job.internal});
      deliver(refused, not_applied(*failure_->cause()));
      jobs.clear();
    }
    // A timestamp is never earlier than its request's arrival, even in a group opened earlier.
    if (!jobs.empty()) group->view->advance_clock(now_ms());
    for (auto& job : jobs) {
      if (job.exclusive) {
        // Runs alone, on fully committed state, and is absorbed before anything else runs.
        hand_off(std::move(group));
        drain();
        group = new_group();
        run_job(*group->view, job, group->replies);
        hand_off(std::move(group));
        drain();
        group = new_group();
        group_jobs = 0;
        continue;
      }
      run_job(*group->view, job, group->replies);
      ++group_jobs;
    }
    if (stop) {
      hand_off(std::move(group));
      drain();
      return;
    }
    // While the committer syncs one group the next stays open and keeps collecting jobs, so
    // the next sync covers everything that arrived during this one (a closed group would
    // leave later arrivals waiting a whole extra sync).
    const bool keep_open = syncs_every_write && committer_busy_.load() && group_jobs < kMaxGroupJobs;
    if (group_jobs > 0 && !keep_open) {
      hand_off(std::move(group));
      group = new_group();
      group_jobs = 0;
    }
  }
}

std::unique_ptr<Engine::Impl::InFlight> Engine::Impl::new_group() {
  auto group = std::make_unique<InFlight>();
  // Built on top of the group in flight, if any: it sees that group's staged changes.
  View* base = handed_ ? handed_->view.get() : nullptr;
  group->view = std::make_unique<View>(*this, base, next_offset_, now_ms());
  return group;
}

void Engine::Impl::hand_off(std::unique_ptr<InFlight> group) {
  View& view = *group->view;
  if (view.empty() && group->replies.empty()) return;
  if (!view.empty()) {
    // The batch is built here so the committer's critical path is only the write.
    group->batch = store_.new_batch();
    storage::Batch& batch = group->batch;
    // Range deletions first: puts staged after an erase must survive it.
    for (const auto& prefix : view.erased_prefixes_) {
      batch.delete_range(Cf::Idempotency, prefix, storage::prefix_end(prefix));
    }
    for (const auto& m : view.mutations_) {
      switch (m.kind) {
        case Mutation::Kind::Put:
          batch.put(m.cf, m.key, m.value);
          break;
        case Mutation::Kind::Delete:
          batch.del(m.cf, m.key);
          break;
        case Mutation::Kind::DeleteRange:
          batch.delete_range(m.cf, m.key, m.value);
          break;
      }
    }
    for (const auto& [id, inst] : view.instances_)
      batch.put(Cf::Instances, id, storage::encode_instance(inst.rec));
    for (const auto& [key, value] : view.idempotency_) {
      if (value) {
        batch.put(Cf::Idempotency, key, storage::encode_idempotency({value->created_at, value->result_json}));
      } else {
        batch.del(Cf::Idempotency, key);
      }
    }
    if (view.entries_ > 0)
      batch.put(Cf::Meta, std::string(storage::kMetaLatestOffset), u64_be(view.next_offset_ - 1));
    // Every group that changes anything is synced under every_write: a SNAPSHOT_INSTANCE writes
    // no log entry but is acknowledged as durable all the same.
    group->sync = options_.fsync_policy.kind == config::FsyncPolicy::Kind::EveryWrite;
  }
  // The group was staged on top of the one in flight; once that one is absorbed the group's
  // base is plain committed state.
  view.parent_ = nullptr;
  if (auto failure = drain(); failure || failed()) {
    // Staged on top of a write that failed, or storage failed meanwhile: never attempted.
    deliver(group->replies, not_applied(failure ? *failure : *failure_->cause()));
    return;
  }
  next_offset_ = view.next_offset_;
  if (!group->sync) {
    // Nothing to overlap: without an fsync the write is CPU work, and on a small machine a
    // thread hand-off per group costs more than the sequencer writing the batch itself.
    complete_commit(*group);
    absorb(*group);
    return;
  }
  {
    std::lock_guard lock(commit_mutex_);
    committer_busy_.store(true);
    handed_ = std::move(group);
  }
  commit_cv_.notify_all();
}

std::optional<storage::StorageError> Engine::Impl::drain() {
  std::unique_ptr<InFlight> previous;
  {
    std::unique_lock lock(commit_mutex_);
    commit_cv_.wait(lock, [&] { return !handed_ || handed_->done; });
    previous = std::move(handed_);
  }
  if (!previous) return std::nullopt;
  absorb(*previous);
  return previous->failure;
}

void Engine::Impl::absorb(InFlight& group) {
  // A failed group leaves the engine failed: nothing is written again in this process, so its
  // offsets are never handed out twice (RocksDB's recovery decides whether it reached disk).
  if (group.failure) return;
  View& view = *group.view;
  if (cache_.size() + view.instances_.size() > kMaxCachedInstances) cache_.clear();
  for (auto& [id, inst] : view.instances_)
    cache_.insert_or_assign(id, std::move(inst));
  for (auto& fn : view.after_absorb_)
    fn();
}

void Engine::Impl::committer_loop() {
  const bool timed = options_.fsync_policy.kind == config::FsyncPolicy::Kind::EveryMs;
  const auto period = std::chrono::milliseconds(policy_n());
  std::unique_lock lock(commit_mutex_);
  for (;;) {
    if (handed_ && !handed_->done) {
      InFlight* group = handed_.get();
      lock.unlock();
      complete_commit(*group);
      lock.lock();
      group->done = true;
      committer_busy_.store(false);
      commit_cv_.notify_all();
      lock.unlock();
      wake_sequencer();
      lock.lock();
      continue;
    }
    if (!failed() && (periodic_sync_due(std::chrono::steady_clock::now()) ||
                      (committer_stopping_ && unsynced_entries_ > 0))) {
      // Entries written after this point count towards the next sync; this one may cover
      // them too, which only makes them durable sooner.
      unsynced_entries_ = 0;
      lock.unlock();
      if (auto error = store_.sync_wal()) {
        fail_stop(*error);
      } else {
        ++fsyncs_;
      }
      lock.lock();
      last_sync_ = std::chrono::steady_clock::now();
      continue;
    }
    if (committer_stopping_) return;
    if (timed && unsynced_entries_ > 0) {
      commit_cv_.wait_until(lock, last_sync_ + period);
    } else {
      commit_cv_.wait(lock);
    }
  }
}

bool Engine::Impl::periodic_sync_due(std::chrono::steady_clock::time_point now) const {
  using Kind = config::FsyncPolicy::Kind;
  if (unsynced_entries_ == 0) return false;
  switch (options_.fsync_policy.kind) {
    case Kind::EveryN:
      return unsynced_entries_ >= policy_n();
    case Kind::EveryMs:
      return now - last_sync_ >= std::chrono::milliseconds(policy_n());
    case Kind::EveryWrite:
    case Kind::Never:
      return false;
  }
  return false;
}

void Engine::Impl::complete_commit(InFlight& group) {
  View& view = *group.view;
  std::optional<storage::StorageError> failure;
  if (!view.empty()) {
    // Counters are written from the committed values, which include every earlier group.
    std::vector<std::pair<std::pair<std::string, std::string>, std::uint64_t>> new_counts;
    {
      std::lock_guard lock(counts_mutex_);
      for (const auto& [key, delta] : view.count_deltas_) {
        if (delta == 0) continue;
        auto it = counts_.find(key);
        const std::int64_t current = it == counts_.end() ? 0 : static_cast<std::int64_t>(it->second);
        const auto next = static_cast<std::uint64_t>(std::max<std::int64_t>(0, current + delta));
        new_counts.emplace_back(key, next);
        const auto k = storage::count_key(key.first, key.second);
        if (next == 0) {
          group.batch.del(Cf::Counts, k);
        } else {
          group.batch.put(Cf::Counts, k, u64_be(next));
        }
      }
    }
    if (view.snapshot_delta_ != 0) {
      const auto snapshots = static_cast<std::uint64_t>(std::max<std::int64_t>(
          0, static_cast<std::int64_t>(snapshot_count_.load()) + view.snapshot_delta_));
      group.batch.put(Cf::Meta, std::string(kMetaSnapshotCount), u64_be(snapshots));
    }

    if (failed()) {
      // Storage failed since this group was staged (a background error): never attempted.
      group.failure = failure_->cause();
      deliver(group.replies, not_applied(*group.failure));
      return;
    }
    failure = store_.write(group.batch, group.sync);
    if (!failure) {
      ++commits_;
      if (group.sync) ++fsyncs_;
      // Publish the commit to readers. The sequencer may still be reading this view, so
      // nothing is moved out of it here.
      {
        std::lock_guard lock(counts_mutex_);
        for (auto& [key, n] : new_counts) {
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
      for (const auto& [key, m] : view.machines_)
        catalog_.insert(m);
      snapshot_count_ = static_cast<std::uint64_t>(std::max<std::int64_t>(
          0, static_cast<std::int64_t>(snapshot_count_.load()) + view.snapshot_delta_));
      if (view.entries_ > 0) {
        writes_ += view.entries_;
        bytes_written_ += view.entry_bytes_;
        entries_since_compaction_ += view.entries_;
        latest_offset_.store(view.next_offset_ - 1, std::memory_order_release);
      }
      // every_n / every_ms count writes: log entries, and acknowledged writes without one
      // (snapshots) count as one each.
      if (!group.sync) note_unsynced_write(view.entries_ + view.writes_without_entry_);
      for (auto& fn : view.after_commit_)
        fn();
    }
  }
  group.failure = failure;
  if (failure) {
    fail_stop(*failure);
    deliver(group.replies, outcome_unknown(*failure));
    return;
  }
  // Published before the replies go out: once a client has its acknowledgement, the event is
  // already with the hook (the subscription hub).
  if (!view.events_.empty() && event_hook_) event_hook_(view.events_);
  deliver(group.replies);
}

void Engine::Impl::deliver(std::vector<PendingReply>& replies, const std::optional<Error>& failure) {
  if (failure) {
    for (auto& reply : replies)
      reply.result = *failure;
  }
  std::vector<PendingReply> deferred;
  for (auto& reply : replies) {
    if (reply.internal || !completion_executor_) {
      reply.done(std::move(reply.result));
    } else {
      deferred.push_back(std::move(reply));
    }
  }
  replies.clear();
  if (!deferred.empty()) {
    completion_executor_([batch = std::move(deferred)]() mutable {
      for (auto& reply : batch)
        reply.done(std::move(reply.result));
    });
  }
}

void Engine::Impl::run_job(View& group, Job& job, std::vector<PendingReply>& replies) {
  View view(*this, &group, group.next_offset(), group.now());
  Result result;
  try {
    result = job.run(view);
  } catch (OpFailure& f) {
    result = std::move(f.error);
  } catch (const storage::StorageError& e) {
    result = storage_failure(e);
  } catch (const std::exception& e) {
    result = Error{ErrorCode::InternalError, std::string("internal error: ") + e.what(), {}};
  }
  if (!std::holds_alternative<Error>(result)) view.merge_into_parent();
  replies.push_back(PendingReply{std::move(job.done), std::move(result), job.internal});
}

void Engine::Impl::note_unsynced_write(std::uint64_t entries) {
  bool wake = false;
  {
    std::lock_guard lock(commit_mutex_);
    const bool first = unsynced_entries_ == 0;
    unsynced_entries_ += entries;
    // every_ms starts its timer at the first unsynced write; every_n syncs at the threshold.
    wake = (options_.fsync_policy.kind == config::FsyncPolicy::Kind::EveryMs && first) ||
           periodic_sync_due(std::chrono::steady_clock::now());
  }
  if (wake) commit_cv_.notify_all();
}

// ---------------------------------------------------------------------------- operations

namespace {

// Two index entries per live instance: by machine, and by (machine, state). A state-only
// LIST_INSTANCES merges the (machine, state) ranges of every machine, which keeps an
// APPLY_EVENT that changes state at two index writes instead of four.
void put_indexes(View& v, const std::string& id, const storage::InstanceRecord& rec) {
  v.put(Cf::Index, storage::index_by_machine(rec.machine, id), "");
  v.put(Cf::Index, storage::index_by_machine_state(rec.machine, rec.state, id), "");
}

void delete_state_index(View& v, const std::string& id, const storage::InstanceRecord& rec) {
  v.del(Cf::Index, storage::index_by_machine_state(rec.machine, rec.state, id));
}

std::string instance_result(const std::string& id, const storage::InstanceRecord& rec) {
  std::string out;
  out.reserve(160 + rec.ctx_json.size());
  ObjectWriter w(out);
  w.string("instance_id", id)
      .string("machine", rec.machine)
      .number("version", rec.version)
      .string("state", rec.state);
  w.raw("ctx", rec.ctx_json);
  if (rec.last_event_id) w.string("last_event_id", *rec.last_event_id);
  w.number("last_wal_offset", rec.last_wal_offset)
      .signed_number("created_at", rec.created_at)
      .signed_number("updated_at", rec.updated_at);
  w.finish();
  return out;
}

// GET_MACHINE's result: the definition exactly as submitted, and its checksum.
std::string machine_result(const MachineVersion& m) {
  std::string out;
  ObjectWriter w(out);
  w.raw("definition", m.definition_json).string("checksum", m.definition.checksum());
  w.finish();
  return out;
}

}  // namespace

Result Engine::Impl::put_machine(View& v, const PutMachine& c) {
  auto parsed = statemachine::parse_machine_definition(c.definition);
  if (auto* e = std::get_if<Error>(&parsed)) return std::move(*e);
  auto& definition = std::get<statemachine::MachineDefinition>(parsed);
  const std::string checksum = definition.checksum();
  if (c.checksum && !protocol::ascii_iequals(*c.checksum, checksum)) {
    json::object d;
    d["field"] = "checksum";
    fail(ErrorCode::BadRequest, "checksum mismatch: computed " + checksum + ", supplied " + *c.checksum,
         std::move(d));
  }

  auto result = [&](bool created) {
    json::object r;
    r["machine"] = c.machine;
    r["version"] = c.version;
    r["stored_checksum"] = checksum;
    r["created"] = created;
    return r;
  };
  if (MachinePtr existing = v.machine(c.machine, c.version)) {
    if (existing->definition.checksum() == checksum) return result(false);
    json::object d;
    d["machine"] = c.machine;
    d["version"] = c.version;
    d["stored_checksum"] = existing->definition.checksum();
    d["submitted_checksum"] = checksum;
    fail(ErrorCode::MachineVersionExists,
         "machine version already exists: " + c.machine + " v" + std::to_string(c.version), std::move(d));
  }
  if (options_.max_machine_versions > 0) {
    const std::size_t versions = v.machine_versions(c.machine);
    if (versions >= options_.max_machine_versions) {
      json::object d;
      d["machine"] = c.machine;
      d["limit"] = options_.max_machine_versions;
      d["versions"] = versions;
      fail(ErrorCode::MachineVersionLimitExceeded,
           "machine version limit exceeded: machine '" + c.machine + "' already has " +
               std::to_string(versions) +
               " versions (limit: " + std::to_string(options_.max_machine_versions) + ")",
           std::move(d));
    }
  }

  std::string definition_json = protocol::to_json(c.definition);
  std::string entry;
  entry.reserve(definition_json.size() + 160);
  ObjectWriter w(entry);
  w.string("type", "put_machine").string("machine", c.machine).number("version", c.version);
  w.string("definition_hash", checksum)
      .raw("definition", definition_json)
      .signed_number("timestamp", v.now());
  w.finish();
  check_entry_size(entry.size());
  v.append_entry(std::move(entry));
  v.put(Cf::Machines, storage::machine_key(c.machine, c.version),
        storage::encode_machine({definition_json, checksum, v.now()}));
  v.put_machine(std::make_shared<MachineVersion>(
      MachineVersion{c.machine, c.version, std::move(definition), std::move(definition_json), v.now()}));
  return result(true);
}

Result Engine::Impl::create_instance(View& v, const CreateInstance& c) {
  std::string idempotency_key;
  if (c.idempotency_key) {
    idempotency_key = storage::idempotency_create_key(*c.idempotency_key);
    if (auto replay = v.idempotent_result(idempotency_key)) return RawJson{std::move(*replay)};
  }
  const std::string id = c.instance_id ? *c.instance_id : uuid_v4();
  const Instance* existing = v.instance(id);
  if (existing != nullptr && (!existing->rec.deleted || !options_.allow_instance_recreate)) {
    json::object d;
    d["instance_id"] = id;
    fail(ErrorCode::InstanceExists, "instance already exists: " + id, std::move(d));
  }
  MachinePtr machine = v.machine(c.machine, c.version);
  if (!machine) throw OpFailure{machine_not_found(c.machine, c.version)};

  const std::uint64_t offset = v.next_offset();
  std::string ctx_json = protocol::to_json(c.initial_ctx);
  const std::string& initial = machine->definition.initial();
  std::string entry;
  entry.reserve(ctx_json.size() + 200);
  ObjectWriter w(entry);
  w.string("type", "create_instance").string("instance_id", id).string("machine", c.machine);
  w.number("version", c.version).string("initial_state", initial).raw("initial_ctx", ctx_json);
  if (c.idempotency_key) w.string("idempotency_key", *c.idempotency_key);
  w.signed_number("timestamp", v.now());
  w.finish();
  check_entry_size(entry.size());
  v.append_entry(std::move(entry));

  if (existing != nullptr) {
    // A brand-new incarnation: nothing of the deleted one carries over.
    v.erase_idempotency_prefix(storage::idempotency_instance_prefix('a', id));
    v.erase_idempotency_prefix(storage::idempotency_instance_prefix('d', id));
  }
  Instance inst;
  inst.rec.machine = c.machine;
  inst.rec.version = c.version;
  inst.rec.state = initial;
  inst.rec.ctx_json = std::move(ctx_json);
  inst.rec.last_wal_offset = offset;
  inst.rec.created_at = v.now();
  inst.rec.updated_at = v.now();
  inst.ctx = c.initial_ctx;
  put_indexes(v, id, inst.rec);
  v.count_delta(c.machine, initial, +1);
  v.put_instance(id, std::move(inst));

  std::string result;
  ObjectWriter r(result);
  r.string("instance_id", id).string("state", initial).number("wal_offset", offset);
  r.finish();
  if (c.idempotency_key) v.put_idempotent_result(idempotency_key, result);
  return RawJson{std::move(result)};
}

Result Engine::Impl::apply_event(View& v, const ApplyEvent& c, std::string_view payload_json) {
  const Instance* current = v.instance(c.instance_id);
  if (current == nullptr || current->rec.deleted) throw OpFailure{instance_not_found(c.instance_id)};
  std::string idempotency_key;
  if (c.idempotency_key) {
    idempotency_key = storage::idempotency_apply_key(c.instance_id, *c.idempotency_key);
    if (auto replay = v.idempotent_result(idempotency_key)) return RawJson{as_replay(std::move(*replay))};
  }
  const auto& rec = current->rec;
  if (c.expected_state && *c.expected_state != rec.state) {
    json::object d;
    d["expected_state"] = *c.expected_state;
    d["actual_state"] = rec.state;
    fail(ErrorCode::Conflict,
         "state conflict: expected '" + *c.expected_state + "', actual '" + rec.state + "'", std::move(d));
  }
  if (c.expected_wal_offset && *c.expected_wal_offset != rec.last_wal_offset) {
    json::object d;
    d["expected_wal_offset"] = *c.expected_wal_offset;
    d["actual_wal_offset"] = rec.last_wal_offset;
    fail(ErrorCode::Conflict,
         "WAL offset conflict: expected " + std::to_string(*c.expected_wal_offset) + ", actual " +
             std::to_string(rec.last_wal_offset),
         std::move(d));
  }
  MachinePtr machine = v.machine(rec.machine, rec.version);
  if (!machine) throw OpFailure{machine_not_found(rec.machine, rec.version)};
  auto selected = statemachine::select_transition(machine->definition, rec.state, c.event, current->ctx);
  if (auto* e = std::get_if<Error>(&selected)) throw OpFailure{std::move(*e)};
  const statemachine::Transition& transition = *std::get<const statemachine::Transition*>(selected);

  Instance next = *current;
  statemachine::merge_context(next.ctx, c.payload);
  std::string ctx_json = protocol::to_json(next.ctx);
  const std::uint64_t offset = v.next_offset();

  std::string entry;
  entry.reserve(ctx_json.size() + payload_json.size() + 256);
  ObjectWriter w(entry);
  w.string("type", "apply_event").string("instance_id", c.instance_id).string("machine", rec.machine);
  w.number("version", rec.version).string("event", c.event).string("from_state", rec.state);
  w.string("to_state", transition.to).raw("payload", payload_json).raw("ctx", ctx_json);
  if (c.event_id) w.string("event_id", *c.event_id);
  if (c.idempotency_key) w.string("idempotency_key", *c.idempotency_key);
  w.signed_number("timestamp", v.now());
  w.finish();
  check_entry_size(entry.size());
  v.append_entry(std::move(entry));

  std::string result;
  result.reserve(ctx_json.size() + 128);
  ObjectWriter r(result);
  r.string("from_state", rec.state).string("to_state", transition.to).raw("ctx", ctx_json);
  r.number("wal_offset", offset).boolean("applied", true);
  if (c.event_id) r.string("event_id", *c.event_id);
  r.finish();

  if (event_hook_) {
    v.add_event(CommittedEvent{offset, c.instance_id, rec.machine, rec.version, c.event, rec.state,
                               transition.to, std::string(payload_json), ctx_json});
  }
  if (transition.to != rec.state) {
    delete_state_index(v, c.instance_id, rec);
    v.count_delta(rec.machine, rec.state, -1);
    v.count_delta(rec.machine, transition.to, +1);
    next.rec.state = transition.to;
    v.put(Cf::Index, storage::index_by_machine_state(rec.machine, transition.to, c.instance_id), "");
  }
  next.rec.ctx_json = std::move(ctx_json);
  next.rec.last_event_id = c.event_id;
  next.rec.last_wal_offset = offset;
  next.rec.updated_at = v.now();
  v.put_instance(c.instance_id, std::move(next));
  if (c.idempotency_key) v.put_idempotent_result(idempotency_key, result);
  return RawJson{std::move(result)};
}

Result Engine::Impl::delete_instance(View& v, const DeleteInstance& c) {
  const Instance* current = v.instance(c.instance_id);
  if (current == nullptr) throw OpFailure{instance_not_found(c.instance_id)};
  std::string idempotency_key;
  if (c.idempotency_key) {
    idempotency_key = storage::idempotency_delete_key(c.instance_id, *c.idempotency_key);
    if (auto replay = v.idempotent_result(idempotency_key)) return RawJson{std::move(*replay)};
  }
  auto result = [&](std::uint64_t offset) {
    std::string out;
    ObjectWriter r(out);
    r.string("instance_id", c.instance_id).boolean("deleted", true).number("wal_offset", offset);
    r.finish();
    return out;
  };
  if (current->rec.deleted) return RawJson{result(current->rec.last_wal_offset)};

  const auto& rec = current->rec;
  const std::uint64_t offset = v.next_offset();
  std::string entry;
  ObjectWriter w(entry);
  w.string("type", "delete_instance").string("instance_id", c.instance_id).string("machine", rec.machine);
  w.number("version", rec.version);
  if (c.idempotency_key) w.string("idempotency_key", *c.idempotency_key);
  w.signed_number("timestamp", v.now());
  w.finish();
  check_entry_size(entry.size());
  v.append_entry(std::move(entry));

  v.del(Cf::Index, storage::index_by_machine(rec.machine, c.instance_id));
  delete_state_index(v, c.instance_id, rec);
  v.count_delta(rec.machine, rec.state, -1);
  v.remove_snapshot(c.instance_id);
  Instance tombstone;
  tombstone.rec = rec;
  tombstone.rec.ctx_json = "{}";
  tombstone.rec.last_event_id.reset();
  tombstone.rec.deleted = true;
  tombstone.rec.last_wal_offset = offset;
  tombstone.rec.updated_at = v.now();
  v.put_instance(c.instance_id, std::move(tombstone));

  std::string out = result(offset);
  if (c.idempotency_key) v.put_idempotent_result(idempotency_key, out);
  return RawJson{std::move(out)};
}

Result Engine::Impl::get_instance_in(View& v, const GetInstance& c) {
  const Instance* current = v.instance(c.instance_id);
  if (current == nullptr || current->rec.deleted) throw OpFailure{instance_not_found(c.instance_id)};
  return RawJson{instance_result(c.instance_id, current->rec)};
}

Result Engine::Impl::get_machine_in(View& v, const GetMachine& c) {
  MachinePtr m = v.machine(c.machine, c.version);
  if (!m) throw OpFailure{machine_not_found(c.machine, c.version)};
  return RawJson{machine_result(*m)};
}

Result Engine::Impl::run_element(View& v, const BatchElement& e) {
  try {
    return std::visit(
        [&](const auto& command) -> Result {
          using T = std::decay_t<decltype(command)>;
          if constexpr (std::is_same_v<T, Error>) {
            return command;
          } else if constexpr (std::is_same_v<T, PutMachine>) {
            return put_machine(v, command);
          } else if constexpr (std::is_same_v<T, GetMachine>) {
            return get_machine_in(v, command);
          } else if constexpr (std::is_same_v<T, CreateInstance>) {
            return create_instance(v, command);
          } else if constexpr (std::is_same_v<T, GetInstance>) {
            return get_instance_in(v, command);
          } else if constexpr (std::is_same_v<T, DeleteInstance>) {
            return delete_instance(v, command);
          } else {
            return apply_event(v, command, protocol::to_json(command.payload));
          }
        },
        e.command);
  } catch (OpFailure& f) {
    return std::move(f.error);
  }
}

Result Engine::Impl::batch(View& v, const Batch& c) {
  std::string out = "{\"results\":[";
  auto append_ok = [&](const Result& r) {
    out += "{\"status\":\"ok\",\"result\":";
    out += result_text(r);
    out += '}';
  };
  if (c.atomic) {
    View all(*this, &v, v.next_offset(), v.now());
    for (std::size_t i = 0; i < c.elements.size(); ++i) {
      Result r = run_element(all, c.elements[i]);
      if (auto* e = std::get_if<Error>(&r)) {
        json::object d;
        d["failed_index"] = i;
        d["error"] = protocol::error_to_json(*e);
        return Error{
            e->code,
            "batch operation " + std::to_string(i) + " (" + c.elements[i].op + ") failed: " + e->message,
            std::move(d)};
      }
      if (i > 0) out += ',';
      append_ok(r);
    }
    all.merge_into_parent();
  } else {
    for (std::size_t i = 0; i < c.elements.size(); ++i) {
      View one(*this, &v, v.next_offset(), v.now());
      Result r = run_element(one, c.elements[i]);
      if (i > 0) out += ',';
      if (auto* e = std::get_if<Error>(&r)) {
        out += "{\"status\":\"error\",\"error\":";
        protocol::append_error_object(out, *e);
        out += '}';
      } else {
        one.merge_into_parent();
        append_ok(r);
      }
    }
  }
  out += "]}";
  return RawJson{std::move(out)};
}

Result Engine::Impl::snapshot_instance(View& v, const SnapshotInstance& c) {
  const Instance* current = v.instance(c.instance_id);
  if (current == nullptr || current->rec.deleted) throw OpFailure{instance_not_found(c.instance_id)};
  const auto& rec = current->rec;
  const std::string snapshot_id = "snap-" + uuid_v4();
  std::string doc;
  doc.reserve(rec.ctx_json.size() + 256);
  ObjectWriter w(doc);
  w.string("snapshot_id", snapshot_id).string("instance_id", c.instance_id).string("machine", rec.machine);
  w.number("version", rec.version).string("state", rec.state).raw("ctx", rec.ctx_json);
  if (rec.last_event_id) w.string("last_event_id", *rec.last_event_id);
  w.number("wal_offset", rec.last_wal_offset).signed_number("created_at", v.now());
  w.finish();
  const auto size = doc.size();
  const auto checksum = hex8(protocol::crc32c(doc));
  v.set_snapshot(c.instance_id, std::move(doc));
  v.count_write_without_entry();

  json::object r;
  r["instance_id"] = c.instance_id;
  r["snapshot_id"] = snapshot_id;
  r["wal_offset"] = rec.last_wal_offset;
  r["size_bytes"] = size;
  r["checksum"] = checksum;
  return r;
}

Result Engine::Impl::flush_all(View& v) {
  const std::uint64_t instances_removed = live_instances();
  const std::uint64_t machines_removed = catalog_.size();
  for (Cf cf : {Cf::Machines, Cf::Instances, Cf::Index, Cf::Idempotency, Cf::Snapshots, Cf::Counts}) {
    store_.scan(cf, "", "", [&](std::string_view key, std::string_view) {
      v.del(cf, std::string(key));
      return true;
    });
  }
  v.put(Cf::Meta, std::string(kMetaSnapshotCount), u64_be(0));
  std::string entry;
  ObjectWriter w(entry);
  w.string("type", "flush_all").number("instances_removed", instances_removed);
  w.number("machines_removed", machines_removed).signed_number("timestamp", v.now());
  w.finish();
  v.append_entry(std::move(entry));
  v.after_absorb([this] { cache_.clear(); });
  v.after_commit([this] {
    catalog_.clear();
    {
      std::lock_guard lock(counts_mutex_);
      counts_.clear();
      live_total_ = 0;
    }
    snapshot_count_ = 0;
  });
  json::object r;
  r["flushed"] = true;
  r["instances_removed"] = instances_removed;
  r["machines_removed"] = machines_removed;
  return r;
}

// --------------------------------------------------------------------------------- reads

namespace {

// Entries are written by this engine, so their first key is "type" and their last is
// "timestamp" (operations.md §25.2); that lets WAL_READ splice them without parsing.
std::string_view entry_type(std::string_view entry) {
  constexpr std::string_view kPrefix = "{\"type\":\"";
  if (entry.substr(0, kPrefix.size()) != kPrefix) return "unknown";
  const auto end = entry.find('"', kPrefix.size());
  return end == std::string_view::npos ? "unknown" : entry.substr(kPrefix.size(), end - kPrefix.size());
}

std::int64_t entry_timestamp(std::string_view entry) {
  constexpr std::string_view kKey = "\"timestamp\":";
  const auto pos = entry.rfind(kKey);
  if (pos == std::string_view::npos) return 0;
  std::int64_t value = 0;
  const char* begin = entry.data() + pos + kKey.size();
  std::from_chars(begin, entry.data() + entry.size(), value);
  return value;
}

}  // namespace

Result Engine::Impl::get_instance(const GetInstance& q) const {
  auto bytes = store_.get(Cf::Instances, q.instance_id);
  storage::InstanceRecord rec;
  if (!bytes || !storage::decode_instance(*bytes, rec) || rec.deleted)
    return instance_not_found(q.instance_id);
  return RawJson{instance_result(q.instance_id, rec)};
}

Result Engine::Impl::get_machine(const GetMachine& q) const {
  MachinePtr m = catalog_.find(q.machine, q.version);
  if (!m) return machine_not_found(q.machine, q.version);
  return RawJson{machine_result(*m)};
}

Result Engine::Impl::list_machines(const ListMachines& q) const {
  bool more = false;
  auto listing = catalog_.list(q.cursor, q.limit, more);
  const std::size_t budget = options_.max_response_bytes - kEnvelopeReserveBytes;
  std::string items;
  std::string last;
  std::size_t taken = 0;
  for (const auto& m : listing) {
    std::string item;
    ObjectWriter w(item);
    w.string("machine", m.machine);
    std::string versions = "[";
    for (std::size_t i = 0; i < m.versions.size(); ++i) {
      if (i > 0) versions += ',';
      versions += std::to_string(m.versions[i]);
    }
    versions += ']';
    w.raw("versions", versions);
    w.finish();
    if (items.size() + item.size() + 1 > budget) {
      more = true;
      break;
    }
    if (taken++ > 0) items += ',';
    items += item;
    last = m.machine;
  }
  std::string out = "{\"items\":[" + items + "]";
  if (more && taken > 0) {
    out += ",\"nextCursor\":";
    protocol::append_json_string(out, last);
  }
  out += '}';
  return RawJson{std::move(out)};
}

Result Engine::Impl::list_instances(const ListInstances& q) const {
  std::uint64_t total = 0;
  {
    std::lock_guard lock(counts_mutex_);
    if (q.machine && q.state) {
      auto it = counts_.find({*q.machine, *q.state});
      total = it == counts_.end() ? 0 : it->second;
    } else if (q.machine) {
      for (auto it = counts_.lower_bound({*q.machine, ""});
           it != counts_.end() && it->first.first == *q.machine; ++it) {
        total += it->second;
      }
    } else if (q.state) {
      for (const auto& [key, n] : counts_) {
        if (key.second == *q.state) total += n;
      }
    } else {
      total = live_total_;
    }
  }

  const std::size_t budget = options_.max_response_bytes - kEnvelopeReserveBytes;
  std::string items;
  std::size_t taken = 0;
  std::uint64_t skipped = 0;
  auto add = [&](const std::string& id, const storage::InstanceRecord& rec) {
    if (skipped < q.offset) {
      ++skipped;
      return true;
    }
    if (taken >= q.limit) return false;
    std::string item;
    ObjectWriter w(item);
    w.string("id", id)
        .string("machine", rec.machine)
        .number("version", rec.version)
        .string("state", rec.state);
    w.signed_number("created_at", rec.created_at).signed_number("updated_at", rec.updated_at);
    w.number("last_wal_offset", rec.last_wal_offset);
    w.finish();
    if (items.size() + item.size() + 1 > budget) return false;
    if (taken++ > 0) items += ',';
    items += item;
    return true;
  };

  if (q.limit > 0 || q.offset > 0) {
    if (!q.machine && !q.state) {
      store_.scan(Cf::Instances, "", "", [&](std::string_view key, std::string_view value) {
        storage::InstanceRecord rec;
        if (!storage::decode_instance(value, rec) || rec.deleted) return true;
        return add(std::string(key), rec);
      });
    } else {
      // The matching ids in id order: one index range, or for a state-only filter the
      // (machine, state) range of every machine merged. Only the first offset + limit ids
      // of each range can make the page, so each range is read no further than that.
      std::vector<std::string> prefixes;
      if (q.machine) {
        prefixes.push_back(q.state ? storage::index_by_machine_state_prefix(*q.machine, *q.state)
                                   : storage::index_by_machine_prefix(*q.machine));
      } else {
        bool more = false;
        for (const auto& m : catalog_.list(std::nullopt, 0, more)) {
          prefixes.push_back(storage::index_by_machine_state_prefix(m.machine, *q.state));
        }
      }
      const std::size_t wanted = static_cast<std::size_t>(q.offset) + q.limit;
      std::vector<std::string> ids;
      for (const auto& prefix : prefixes) {
        std::size_t taken_here = 0;
        store_.scan(Cf::Index, prefix, prefix, [&](std::string_view key, std::string_view) {
          ids.emplace_back(key.substr(prefix.size()));
          return ++taken_here < wanted;
        });
      }
      if (prefixes.size() > 1) std::sort(ids.begin(), ids.end());
      for (std::size_t i = q.offset; i < ids.size(); ++i) {
        auto bytes = store_.get(Cf::Instances, ids[i]);
        storage::InstanceRecord rec;
        if (!bytes || !storage::decode_instance(*bytes, rec) || rec.deleted) continue;
        skipped = q.offset;  // the offset was applied to `ids` already
        if (!add(ids[i], rec)) break;
      }
    }
  }
  const bool has_more = q.offset + taken < total;
  std::string out = "{\"instances\":[" + items + "],\"total\":" + std::to_string(total) +
                    ",\"has_more\":" + (has_more ? "true" : "false") + "}";
  return RawJson{std::move(out)};
}

Result Engine::Impl::wal_read(const WalRead& q) const {
  const std::uint64_t latest = latest_offset_.load(std::memory_order_acquire);
  const std::uint64_t oldest = oldest_offset_.load(std::memory_order_acquire);
  const std::uint32_t limit = std::min(q.limit, kMaxWalReadLimit);
  const std::uint64_t start = std::max(q.from_offset, oldest);
  const std::size_t budget = options_.max_response_bytes - kEnvelopeReserveBytes;

  std::string records;
  std::string entries;
  std::uint32_t count = 0;
  std::uint64_t last = 0;
  std::uint64_t bytes = 0;
  std::optional<std::uint64_t> too_large;
  if (limit > 0 && start <= latest) {
    store_.scan(Cf::Log, "", storage::offset_key(start), [&](std::string_view key, std::string_view entry) {
      const std::uint64_t offset = storage::decode_offset_key(key);
      if (offset > latest || count >= limit) return false;
      const std::string n = std::to_string(offset);
      std::string record = "{\"offset\":" + n + ",\"sequence\":" + n + ",\"entry\":";
      record += entry;
      record += '}';
      std::string item = "{\"offset\":" + n + ",\"type\":";
      protocol::append_json_string(item, entry_type(entry));
      item += ",\"data\":";
      item += entry;
      item += ",\"timestamp\":" + std::to_string(entry_timestamp(entry)) + "}";
      if (records.size() + entries.size() + record.size() + item.size() + 2 > budget) {
        if (count == 0) too_large = offset;
        return false;
      }
      if (count > 0) {
        records += ',';
        entries += ',';
      }
      records += record;
      entries += item;
      bytes += entry.size();
      last = offset;
      ++count;
      return true;
    });
  }
  if (too_large) {
    json::object d;
    d["offset"] = *too_large;
    return Error{ErrorCode::BadRequest,
                 "log entry at offset " + std::to_string(*too_large) + " is too large to return",
                 std::move(d)};
  }
  reads_ += count;
  bytes_read_ += bytes;
  const std::uint64_t next = count > 0 ? last + 1 : q.from_offset;
  const bool has_more = latest >= std::max(next, oldest) && latest > 0;
  const std::string next_text = std::to_string(next);
  std::string out;
  out.reserve(records.size() + entries.size() + 96);
  out += "{\"records\":[" + records + "],\"next_offset\":" + next_text + ",\"entries\":[" + entries +
         "],\"hasMore\":" + (has_more ? "true" : "false") + ",\"nextOffset\":" + next_text + "}";
  return RawJson{std::move(out)};
}

Result Engine::Impl::wal_stats() const {
  const std::uint64_t latest = latest_offset_.load(std::memory_order_acquire);
  const auto files = store_.cf_files(Cf::Log);
  json::object r;
  r["entry_count"] = latest;
  r["segment_count"] = std::max<std::uint64_t>(1, files.file_count);
  r["total_size_bytes"] = files.total_bytes;
  if (latest > 0) {
    r["latest_offset"] = latest;
    r["oldest_offset"] = oldest_offset_.load(std::memory_order_acquire);
  }
  json::object io;
  io["bytes_written"] = bytes_written_.load();
  io["bytes_read"] = bytes_read_.load();
  io["writes"] = writes_.load();
  io["reads"] = reads_.load();
  io["fsyncs"] = fsyncs_.load();
  r["io_stats"] = std::move(io);
  return r;
}

// --------------------------------------------------------------------------- maintenance

Result Engine::Impl::sequenced(std::function<Result(View&)> fn, bool exclusive) {
  std::promise<Result> promise;
  auto future = promise.get_future();
  submit(Job{std::move(fn), [&promise](Result r) { promise.set_value(std::move(r)); }, exclusive, true});
  return future.get();
}

std::uint64_t Engine::Impl::retention_point() const {
  const std::uint64_t latest = latest_offset_.load();
  const std::uint64_t oldest = oldest_offset_.load();
  if (latest == 0) return oldest;
  const auto& c = options_.compaction;
  // Lowest offset the count rule keeps: offsets <= latest - retain_entries may go.
  std::uint64_t point = latest;
  if (c.retain_entries > 0) point = latest > c.retain_entries ? latest - c.retain_entries + 1 : 1;
  point = std::min(point, latest);  // the latest entry is never trimmed
  if (c.retain_secs > 0 && point > oldest) {
    const std::int64_t cutoff = now_ms() - static_cast<std::int64_t>(c.retain_secs) * 1000;
    store_.scan(Cf::Log, "", storage::offset_key(oldest), [&](std::string_view key, std::string_view entry) {
      const std::uint64_t offset = storage::decode_offset_key(key);
      if (offset >= point) return false;
      if (entry_timestamp(entry) >= cutoff) {
        point = offset;
        return false;
      }
      return true;
    });
  }
  return std::max(point, oldest);
}

std::uint64_t Engine::Impl::purge_expired_idempotency() {
  if (options_.idempotency_ttl_secs == 0) return 0;
  std::uint64_t purged = 0;
  for (;;) {
    std::vector<std::string> expired_keys;
    const std::int64_t now = now_ms();
    store_.scan(Cf::Idempotency, "", "", [&](std::string_view key, std::string_view value) {
      storage::IdempotencyRecord record;
      if (storage::decode_idempotency(value, record) && expired(record.created_at, now)) {
        expired_keys.emplace_back(key);
      }
      return expired_keys.size() < kPurgeChunk;
    });
    if (expired_keys.empty()) return purged;
    auto result = sequenced([&](View& v) -> Result {
      for (const auto& key : expired_keys) {
        // Re-checked in sequence: a request may have re-created the key since the scan.
        if (!v.idempotent_result(key)) v.del(Cf::Idempotency, key);
      }
      return json::object{};
    });
    if (std::holds_alternative<Error>(result)) return purged;
    purged += expired_keys.size();
    if (expired_keys.size() < kPurgeChunk) return purged;
  }
}

Result Engine::Impl::run_compaction(bool force_snapshot) {
  try {
    std::uint64_t snapshots_created = 0;
    if (force_snapshot) {
      auto r = sequenced([&](View& v) -> Result {
        std::vector<std::string> ids;
        store_.scan(Cf::Instances, "", "", [&](std::string_view key, std::string_view) {
          ids.emplace_back(key);
          return true;
        });
        for (const auto& id : ids) {
          const Instance* inst = v.instance(id);
          if (inst == nullptr || inst->rec.deleted) continue;
          if (auto snap = store_.get(Cf::Snapshots, id)) {
            json::value doc = parse_stored(*snap, "snapshot of " + id);
            const auto* offset = doc.is_object() ? doc.get_object().if_contains("wal_offset") : nullptr;
            if (offset != nullptr && offset->is_number() &&
                offset->to_number<std::uint64_t>() >= inst->rec.last_wal_offset) {
              continue;
            }
          }
          snapshot_instance(v, SnapshotInstance{id});
          ++snapshots_created;
        }
        return json::object{};
      });
      if (auto* e = std::get_if<Error>(&r)) return *e;
    }

    const std::uint64_t before = store_.disk_bytes();
    const std::uint64_t oldest = oldest_offset_.load();
    const std::uint64_t point = retention_point();
    std::uint64_t trimmed = 0;
    if (point > oldest) {
      auto r = sequenced([&](View& v) -> Result {
        v.del_range(Cf::Log, storage::offset_key(oldest), storage::offset_key(point));
        v.put(Cf::Meta, std::string(storage::kMetaOldestOffset), u64_be(point));
        v.after_commit([this, point] { oldest_offset_.store(point, std::memory_order_release); });
        return json::object{};
      });
      if (auto* e = std::get_if<Error>(&r)) return *e;
      trimmed = point - oldest;
    }
    purge_expired_idempotency();
    for (Cf cf : {Cf::Log, Cf::Idempotency}) {
      if (auto e = store_.compact_range(cf, "", "")) return storage_failure(*e);
    }
    const std::uint64_t after = store_.disk_bytes();
    entries_since_compaction_ = 0;

    json::object r;
    r["snapshots_created"] = snapshots_created;
    r["segments_deleted"] = trimmed;
    r["bytes_reclaimed"] = before > after ? before - after : 0;
    r["total_snapshots"] = snapshot_count_.load();
    r["wal_segments"] = std::max<std::uint64_t>(1, store_.cf_files(Cf::Log).file_count);
    r["entries_trimmed"] = trimmed;
    return r;
  } catch (const storage::StorageError& e) {
    return storage_failure(e);
  }
}

void Engine::Impl::compact(Compact c, ResultCallback done) {
  {
    std::lock_guard lock(maintenance_mutex_);
    if (!maintenance_stopping_) {
      maintenance_jobs_.push_back(
          [this, c, done = std::move(done)]() mutable { done(run_compaction(c.force_snapshot)); });
      maintenance_cv_.notify_one();
      return;
    }
  }
  done(Error{ErrorCode::InternalError, "server is shutting down", {}});
}

void Engine::Impl::maintenance_loop() {
  auto last_compaction = std::chrono::steady_clock::now();
  auto last_purge = std::chrono::steady_clock::now();
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(maintenance_mutex_);
      maintenance_cv_.wait_for(lock, kMaintenanceTick,
                               [&] { return maintenance_stopping_ || !maintenance_jobs_.empty(); });
      if (!maintenance_jobs_.empty()) {
        job = std::move(maintenance_jobs_.front());
        maintenance_jobs_.pop_front();
      } else if (maintenance_stopping_) {
        return;
      }
    }
    if (job) {
      job();
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    const auto& c = options_.compaction;
    try {
      if (c.enabled && now - last_compaction >= std::chrono::seconds(c.min_interval_secs)) {
        const bool by_events =
            c.events_threshold > 0 && entries_since_compaction_.load() >= c.events_threshold;
        const bool by_size = c.size_threshold_mb > 0 &&
                             store_.cf_files(Cf::Log).total_bytes > c.size_threshold_mb * 1024 * 1024 &&
                             retention_point() > oldest_offset_.load();
        if (by_events || by_size) {
          run_compaction(false);
          last_compaction = now;
          last_purge = now;
        }
      }
      if (now - last_purge >= kIdempotencyPurgeInterval) {
        purge_expired_idempotency();
        last_purge = now;
      }
    } catch (const std::exception&) {
      // A failed background pass is retried on the next tick; the store reports the cause
      // to the requests that hit it.
    }
  }
}

// ------------------------------------------------------------------------------ Engine

Engine::Engine(storage::Store& store, EngineOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}

Engine::~Engine() {
  impl_->shutdown();
}

void Engine::shutdown() {
  impl_->shutdown();
}

void Engine::put_machine(PutMachine command, ResultCallback done) {
  impl_->submit(
      {[this, c = std::move(command)](View& v) { return impl_->put_machine(v, c); }, std::move(done)});
}

void Engine::create_instance(CreateInstance command, ResultCallback done) {
  impl_->submit(
      {[this, c = std::move(command)](View& v) { return impl_->create_instance(v, c); }, std::move(done)});
}

void Engine::apply_event(ApplyEvent command, ResultCallback done) {
  impl_->submit({[this, payload = protocol::to_json(command.payload), c = std::move(command)](View& v) {
                   return impl_->apply_event(v, c, payload);
                 },
                 std::move(done)});
}

void Engine::delete_instance(DeleteInstance command, ResultCallback done) {
  impl_->submit(
      {[this, c = std::move(command)](View& v) { return impl_->delete_instance(v, c); }, std::move(done)});
}

void Engine::batch(Batch command, ResultCallback done) {
  impl_->submit({[this, c = std::move(command)](View& v) { return impl_->batch(v, c); }, std::move(done)});
}

void Engine::snapshot_instance(SnapshotInstance command, ResultCallback done) {
  impl_->submit(
      {[this, c = std::move(command)](View& v) { return impl_->snapshot_instance(v, c); }, std::move(done)});
}

void Engine::flush_all(ResultCallback done) {
  impl_->submit({[this](View& v) { return impl_->flush_all(v); }, std::move(done), true});
}

void Engine::compact(Compact command, ResultCallback done) {
  impl_->compact(command, std::move(done));
}

namespace {

template <typename Fn>
Result guarded_read(Fn&& fn) {
  try {
    return fn();
  } catch (const storage::StorageError& e) {
    return storage_failure(e);
  }
}

}  // namespace

Result Engine::get_machine(const GetMachine& q) const {
  return guarded_read([&] { return impl_->get_machine(q); });
}
Result Engine::get_instance(const GetInstance& q) const {
  return guarded_read([&] { return impl_->get_instance(q); });
}
Result Engine::list_machines(const ListMachines& q) const {
  return guarded_read([&] { return impl_->list_machines(q); });
}
Result Engine::list_instances(const ListInstances& q) const {
  return guarded_read([&] { return impl_->list_instances(q); });
}
Result Engine::wal_read(const WalRead& q) const {
  return guarded_read([&] { return impl_->wal_read(q); });
}
Result Engine::wal_stats() const {
  return guarded_read([&] { return impl_->wal_stats(); });
}

void Engine::set_completion_executor(std::function<void(std::function<void()>)> run) {
  impl_->completion_executor_ = std::move(run);
}

void Engine::set_event_hook(std::function<void(std::span<const CommittedEvent>)> hook) {
  impl_->event_hook_ = std::move(hook);
}

void Engine::set_failure_handler(std::function<void(const storage::StorageError&)> handler) {
  impl_->failure_->set_handler(std::move(handler));
}

std::optional<storage::StorageError> Engine::failure() const {
  return impl_->failure_->cause();
}

std::uint64_t Engine::latest_offset() const noexcept {
  return impl_->latest_offset_.load(std::memory_order_acquire);
}
std::uint64_t Engine::oldest_offset() const noexcept {
  return impl_->oldest_offset_.load(std::memory_order_acquire);
}
std::uint64_t Engine::instance_count() const {
  return impl_->live_instances();
}
std::uint64_t Engine::machine_count() const {
  return impl_->catalog_.size();
}

IoStats Engine::io_stats() const {
  return IoStats{impl_->bytes_written_.load(), impl_->bytes_read_.load(), impl_->writes_.load(),
                 impl_->reads_.load(),         impl_->fsyncs_.load(),     impl_->commits_.load()};
}

}  // namespace rstmdb::engine
