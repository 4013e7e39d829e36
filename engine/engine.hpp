// The engine: the semantics of every data operation (operations.md §2-25) on top of the
// store, with one sequencer thread that orders and group-commits all writes.
//
// Writes (put_machine, create_instance, apply_event, delete_instance, batch,
// snapshot_instance, flush_all, compact) are queued to the sequencer. It takes everything
// queued, validates each request in arrival order against the committed state plus the
// writes staged earlier (in the same group, or in the group still being committed), stages
// the changes (state, indexes, log entry, idempotency record) and assigns offsets. Each group
// is written as ONE RocksDB WriteBatch with at most one sync (storage.fsync_policy): a group
// that must be synced (every_write) goes to the committer thread so the sequencer stages the
// next group during the fsync; any other group is written by the sequencer itself, and the
// committer syncs in the background (every_n, every_ms, shutdown). Only after that write
// returns are the callbacks invoked, so a
// response is never sent before its write is durable under the policy, and offsets are
// gap-free and in commit order (design.md invariants 1, 2, 4, 5). If a write fails, every
// request of that group (and of the group staged on top of it) fails with WAL_IO_ERROR and
// nothing of them is visible.
//
// Reads (get_*, list_*, wal_read, wal_stats) run on the caller's thread against committed
// data; RocksDB makes a synced write visible only after its WAL sync, so a read never sees
// data that is not yet durable under every_write. Long reads (list_*, wal_read) must not be
// called on an I/O thread.
//
// A maintenance thread runs COMPACT's slow parts, automatic compaction and the idempotency
// TTL purge.
#pragma once

#include "config/config.hpp"
#include "engine/commands.hpp"
#include "storage/store.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

namespace rstmdb::engine {

struct EngineOptions {
  config::FsyncPolicy fsync_policy;
  std::uint32_t max_machine_versions = 0;
  bool allow_instance_recreate = true;
  std::uint64_t idempotency_ttl_secs = 86400;
  config::CompactionConfig compaction;
  // Largest response payload (the frame limit); list/read pages are shortened to fit.
  std::size_t max_response_bytes = 16 * 1024 * 1024;
};

// Log I/O counters since process start (WAL_STATS io_stats).
struct IoStats {
  std::uint64_t bytes_written = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t writes = 0;
  std::uint64_t reads = 0;
  std::uint64_t fsyncs = 0;
  std::uint64_t commits = 0;  // RocksDB batches written by the sequencer (writes / commits = group size)
};

class Engine {
 public:
  // Loads machines, counters and the offset sequence (O(number of machine versions and
  // (machine, state) pairs), never O(history)) and starts the threads. Throws
  // storage errors as std::runtime_error.
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

  // Where a group's callbacks run: `run(task)` must execute `task` soon on some thread
  // (the server passes its io_context, so one wake-up delivers a whole group's replies).
  // Unset: callbacks run on the sequencer thread. Set before the first write.
  void set_completion_executor(std::function<void(std::function<void()>)> run);

  // Called after each successful commit with the applied events of that commit, in offset
  // order, on the thread that wrote it (sequencer or committer), before that commit's replies
  // are delivered; calls never overlap. Set before the first write; the hook must not block.
  void set_event_hook(std::function<void(std::span<const CommittedEvent>)> hook);

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

  // Stops the threads after finishing queued work; idempotent. The destructor calls it.
  void shutdown();

  class Impl;  // defined in engine.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rstmdb::engine
