// The storage series of runtime.md §4.2, fed by the engine through its observer interface
// (engine/engine_observer.hpp), registered in the server's prometheus-cpp registry:
//   rstmdb_wal_write_duration_seconds   histogram  a group's storage write (durable under the policy)
//   rstmdb_wal_fsync_duration_seconds   histogram  each sync (every_write: the synced write)
//   rstmdb_wal_group_commit_size        histogram  log writes covered by one sync; 1..1024, powers of 2
//   rstmdb_transitions_total{machine,from,to}  counter  applied events, per transition
//   rstmdb_compactions_total{trigger}          counter  finished compactions: manual | events | size
//
// Transitions are counted per group: one lock, then per event a keyed-hash lookup of the
// counter (no label maps built); label sets are bounded by the stored definitions and capped at
// kMaxTransitionSeries — transitions of further label sets are counted under machine, from and
// to "(other)". Thread-safety: the observer calls may come from any engine thread.
#pragma once

#include "engine/engine_observer.hpp"
#include "protocol/seeded_hash.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <mutex>
#include <string>
#include <unordered_map>

namespace rstmdb::server {

class EngineMetrics final : public engine::EngineObserver {
 public:
  // Distinct (machine, from, to) series at most: a guard against a definition set that would
  // make every scrape huge; far above what real state machines define.
  static constexpr std::size_t kMaxTransitionSeries = 10000;
  static constexpr std::string_view kOverflowLabel = "(other)";
  static constexpr std::string_view kTransitionsName = "rstmdb_transitions_total";
  static constexpr std::string_view kTransitionsHelp = "Applied events, by machine and transition";

  explicit EngineMetrics(prometheus::Registry& registry);

  void on_group_committed(const engine::GroupCommitted& group) noexcept override;
  void on_sync(std::uint64_t writes, std::chrono::nanoseconds duration) noexcept override;
  void on_compaction(engine::CompactionTrigger trigger) noexcept override;

 private:
  prometheus::Counter& transition_counter(const engine::CommittedEvent& event);  // under mutex_

  prometheus::Histogram& write_duration_;
  prometheus::Histogram& fsync_duration_;
  prometheus::Histogram& group_commit_size_;
  prometheus::Family<prometheus::Counter>& transitions_;
  std::array<prometheus::Counter*, 3> compactions_{};  // by CompactionTrigger

  std::mutex mutex_;
  // "machine\0from\0to" -> its counter.
  std::unordered_map<std::string, prometheus::Counter*, protocol::SeededStringHash, std::equal_to<>> by_key_;
  prometheus::Counter* overflow_ = nullptr;
  std::string scratch_;  // the key being looked up
};

}  // namespace rstmdb::server
