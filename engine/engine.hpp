// The engine: the semantics of every data operation (operations.md §2-25) on top of the
// store. `Engine` is the one facade the server sees; behind it (docs/architecture.md "Engine
// layout"):
//   write_pipeline.*   the sequencer and committer threads: ordering, group commit, fsync
//                      policies, fail-stop (one WriteBatch and at most one sync per group)
//   view.*             the staging view: uncommitted changes layered over committed state
//   *_ops.cpp          the write operations, by family (write_ops.hpp)
//   reads.*            the reads of committed data
//   maintenance.*      COMPACT, automatic compaction, idempotency TTL purge
//   committed_state.*  what readers see: catalog, counters, offsets, I/O counters
//   group_store.*      the seam to RocksDB (tests put an in-memory store there)
//
// Writes (put_machine, create_instance, apply_event, delete_instance, batch,
// snapshot_instance, flush_all, compact) are queued to the sequencer, validated in arrival
// order against committed state plus earlier staged writes, and group-committed; a response
// is never sent before its write is durable under storage.fsync_policy, and offsets are
// gap-free and in commit order (design.md invariants 1, 2, 4, 5). Reads run on the caller's
// thread against committed data; long reads (list_*, wal_read) must not be called on an I/O
// thread. Storage failures are fail-stop (set_failure_handler).
#pragma once

#include "config/config.hpp"
#include "engine/commands.hpp"
#include "engine/engine_observer.hpp"
#include "engine/options.hpp"
#include "storage/store.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rstmdb::engine {

class Engine {
 public:
  // Loads machines, counters and the offset sequence (O(number of machine versions and
  // (machine, state) pairs), never O(history)) and starts the threads. Throws StorageError
  // (Kind::Corruption when stored records no longer decode).
  Engine(storage::Store& store, EngineOptions options);
  // Stops accepting, finishes queued writes, syncs, joins the threads.
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Sequenced writes. `done` is invoked exactly once: through the completion executor if one
  // is set, else on the thread that wrote the group (the sequencer, or the committer for a
  // group that waits for an fsync; COMPACT: the maintenance thread).
  void put_machine(PutMachine command, ResultCallback done);
  void create_instance(CreateInstance command, ResultCallback done);
  void apply_event(ApplyEvent command, ResultCallback done);
  void delete_instance(DeleteInstance command, ResultCallback done);
  void batch(Batch command, ResultCallback done);
  void snapshot_instance(SnapshotInstance command, ResultCallback done);
  void flush_all(ResultCallback done);
  void compact(Compact command, ResultCallback done);

  // Reads of committed data; thread-safe.
  Result get_machine(const GetMachine& query) const;    // point read from memory
  Result get_instance(const GetInstance& query) const;  // one RocksDB point read
  Result list_machines(const ListMachines& query) const;
  Result list_instances(const ListInstances& query) const;
  Result wal_read(const WalRead& query) const;
  Result wal_stats() const;

  // For the subscription hub (server/subscription_hub.hpp). The state and last_wal_offset of a
  // live instance: one point read that never parses the ctx (may run on an I/O thread), or
  // INSTANCE_NOT_FOUND / WAL_IO_ERROR.
  std::variant<InstancePosition, protocol::Error> instance_position(const GetInstance& query) const;
  // Visits the committed change-log entries with offsets in [from, through], in offset order,
  // as (offset, entry JSON text), until `visit` returns false. One consistent snapshot; only
  // entries at or below latest_offset() are visible, and a trimmed prefix is simply absent (the
  // caller sees the first offset it gets). Counted as log reads in io_stats. A scan: never on an
  // I/O thread. Returns WAL_IO_ERROR on a storage failure.
  std::optional<protocol::Error> read_log(
      std::uint64_t from, std::uint64_t through,
      const std::function<bool(std::uint64_t offset, std::string_view entry)>& visit) const;

  // Where a group's callbacks run: `run(task)` must execute `task` soon on some thread
  // (the server passes its io_context, so one wake-up delivers a whole group's replies).
  // Unset: callbacks run on the sequencer thread. Set before the first write.
  void set_completion_executor(std::function<void(std::function<void()>)> run);

  // Called after each successful commit that appended entries, with the group's last offset
  // and its applied events (their entry text moved in, nothing copied on the sequencer), in
  // offset order, on the thread that wrote the group, before that commit's replies are
  // delivered; calls never overlap. Set before the first write; the hook must not block (the
  // subscription hub only enqueues).
  void set_commit_hook(std::function<void(CommitNotice)> hook);

  // Tells `observer` of every group commit, sync and compaction (engine_observer.hpp), for the
  // server's metrics; null stops it. Set before the first write (applied events are then
  // prepared for it, as for the commit hook); the observer must outlive the engine.
  void set_observer(EngineObserver* observer);

  // Leader/follower group commit (write_pipeline.hpp): while a LeadScope is open on a thread,
  // writes it submits to an idle engine are held, and the scope's end runs them as one group
  // on this thread — their callbacks are called on it before the destructor returns — unless
  // another thread is already sequencing (then they join that). The server opens one around
  // each batch of requests a connection starts, so a lone write takes no thread hop and
  // pipelined writes share one group. Scopes nest; the outermost leads.
  class LeadScope {
   public:
    explicit LeadScope(Engine& engine);
    ~LeadScope();
    LeadScope(const LeadScope&) = delete;
    LeadScope& operator=(const LeadScope&) = delete;

   private:
    Engine& engine_;
    void* outer_;
  };
  // Which groups a LeadScope may lead on its thread: none, only those that need no fsync, or
  // all (the server allows fsyncs only when another I/O thread serves meanwhile). Default: all.
  enum class LeadMode { Never, WithoutSync, Always };
  void set_lead_mode(LeadMode mode);
  // Called on a thread leading a group under every_write just before its write and sync
  // (true) and after (false); see WritePipeline::set_lead_sync_hook. Set before the first
  // LeadScope.
  void set_lead_sync_hook(std::function<void(bool blocking)> hook);

  // Storage failures are fail-stop. The first failed RocksDB write or WAL sync (foreground or
  // background) or RocksDB background error (flush, compaction) stops the write pipeline for
  // good: the write group that was being written is answered WAL_IO_ERROR saying its outcome is
  // unknown, every other queued or later write WAL_IO_ERROR saying it was not applied, the store
  // is marked failed (nothing is written, synced or flushed again, not even at shutdown), and
  // offsets are never handed out twice. `handler` hears of it once, on an engine or RocksDB
  // thread (or at once if storage already failed); it must not block. The server uses it to
  // drain its connections and exit with status 1, so a supervisor restarts it and RocksDB's
  // recovery decides what is on disk.
  void set_failure_handler(std::function<void(const storage::StorageError&)> handler);
  // The failure that stopped the engine, if any.
  std::optional<storage::StorageError> failure() const;

  // Last committed offset (0 before the first entry) and oldest retained offset.
  std::uint64_t latest_offset() const noexcept;
  std::uint64_t oldest_offset() const noexcept;
  std::uint64_t instance_count() const;
  std::uint64_t machine_count() const;
  IoStats io_stats() const;
  // Live instances per (machine, state): every state of every stored machine version, 0 where
  // there are none, plus any state that holds instances. O(machine versions x states), from
  // memory; for the metrics' per-state gauges.
  struct StateCount {
    std::string machine;
    std::string state;
    std::uint64_t count = 0;
  };
  std::vector<StateCount> instances_by_state() const;

  // A configuration reload (runtime.md §5.4): storage.max_machine_versions,
  // storage.allow_instance_recreate and storage.idempotency_ttl_secs change in sequence with the
  // writes (a write queued before this call sees the old values, one queued after the new),
  // compaction.* and the TTL purge from the maintenance thread's next pass. Blocks until the
  // sequenced part has run: call it from a thread that may block, never an I/O thread. False
  // if the write pipeline has stopped (shutdown, storage failure); nothing changed then.
  bool set_reloadable(const ReloadableOptions& options);

  // Stops the threads after finishing queued work; idempotent. The destructor calls it.
  void shutdown();

  class Impl;  // engine.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rstmdb::engine
