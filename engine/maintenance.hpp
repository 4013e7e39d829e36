// Maintenance (operations.md §14, §23, §25.5): COMPACT, automatic compaction, and the
// idempotency TTL purge, on the engine's own thread (`rstmdb-maint`). Whatever changes data
// goes through the write pipeline as internal jobs, so it is ordered with client writes;
// scans and RocksDB's blocking CompactRange run on this thread, never on the sequencer.
//
// Thread-safety: compact() may be called from any thread; everything else runs on the
// maintenance thread. A failure in a background pass is caught here (never escapes the
// thread) and retried on the next tick; storage failures have already stopped the engine
// (fail-stop) by then.
#pragma once

#include "engine/commands.hpp"
#include "engine/committed_state.hpp"
#include "engine/engine_observer.hpp"
#include "engine/options.hpp"
#include "engine/write_pipeline.hpp"
#include "storage/store.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace rstmdb::engine {

class Maintenance {
 public:
  // Automatic compaction is checked this often (runtime.md §1.3).
  static constexpr auto kTick = std::chrono::seconds(10);
  static constexpr auto kIdempotencyPurgeInterval = std::chrono::seconds(60);
  // Expired idempotency records deleted per sequenced purge step: bounds one group.
  static constexpr std::size_t kPurgeChunk = 10000;
  // COMPACT force_snapshot takes its snapshots in sequenced jobs of at most this many
  // instances and this many bytes of ctx, so other writes wait at most one small job (about a
  // millisecond) behind it, never the whole pass.
  static constexpr std::size_t kSnapshotChunkInstances = 256;
  static constexpr std::uint64_t kSnapshotChunkBytes = 1ull << 20;

  Maintenance(storage::Store& store, CommittedState& state, WritePipeline& pipeline,
              const EngineOptions& options);
  ~Maintenance();  // shutdown()

  void start();
  // A configuration reload: compaction.* and storage.idempotency_ttl_secs for the next passes.
  // Thread-safe.
  void set_settings(config::CompactionConfig compaction, std::uint64_t idempotency_ttl_secs);
  // COMPACT: queued to the maintenance thread; `done` is called there.
  void compact(Compact c, ResultCallback done);
  // Runs the COMPACTs already queued, then stops the thread. Idempotent.
  void shutdown();

 private:
  struct Settings {
    config::CompactionConfig compaction;
    std::uint64_t idempotency_ttl_secs = 0;
  };
  Settings settings() const;  // a copy of the settings in force

  void loop();
  Result run_compaction(bool force_snapshot, CompactionTrigger trigger);
  std::uint64_t retention_point() const;
  std::uint64_t purge_expired_idempotency();
  // COMPACT force_snapshot: every live instance changed since its snapshot gets a new one.
  std::uint64_t snapshot_changed_instances();

  storage::Store& store_;
  CommittedState& state_;
  WritePipeline& pipeline_;

  mutable std::mutex settings_mutex_;
  Settings settings_;  // guarded by settings_mutex_; from the options, then set_settings()

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace rstmdb::engine
