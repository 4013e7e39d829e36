// What the engine tells an observer (the server's metrics) about its storage work: each group
// commit, each sync, each compaction. The engine depends on nothing but this interface; the
// server's implementation (server/engine_metrics.hpp) turns the calls into Prometheus series.
//
// Threads and cost: calls come from the engine's own threads (the sequencer, the committer, a
// thread leading a group, the maintenance thread) — one group's calls at a time, in commit
// order — while the engine is in its write path. An implementation must be thread-safe, must
// not block, must not throw, and should cost no more than a few atomic updates per call; it
// must never call back into the engine.
#pragma once

#include "engine/commands.hpp"

#include <chrono>
#include <cstdint>
#include <span>

namespace rstmdb::engine {

// One group whose storage write succeeded (it is durable under storage.fsync_policy).
struct GroupCommitted {
  // Log writes the group made: entries appended plus acknowledged writes without an entry
  // (SNAPSHOT_INSTANCE) — the unit every_n counts.
  std::uint64_t writes = 0;
  // The storage write of the group's batch, including its sync when `synced`.
  std::chrono::nanoseconds write_duration{0};
  // The write was synced (every_write): `write_duration` is then also the sync's duration,
  // since RocksDB syncs inside the write.
  bool synced = false;
  // The events the group applied, in offset order (machine, from_state, to_state are set;
  // the entry text is not yet filled in).
  std::span<const CommittedEvent> events;
};

// What started a compaction (operations.md §14; runtime.md compaction.*).
enum class CompactionTrigger { Manual, Events, Size };

class EngineObserver {
 public:
  virtual ~EngineObserver() = default;

  // After a group's write returned successfully, before its replies are delivered.
  virtual void on_group_committed(const GroupCommitted& group) noexcept = 0;
  // After a sync outside a group write (every_n, every_ms, the final sync at shutdown)
  // covering `writes` writes that had been acknowledged without one.
  virtual void on_sync(std::uint64_t writes, std::chrono::nanoseconds duration) noexcept = 0;
  // After a compaction pass finished without an error.
  virtual void on_compaction(CompactionTrigger trigger) noexcept = 0;
};

}  // namespace rstmdb::engine
