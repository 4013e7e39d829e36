// The storage series of runtime.md §4.2, fed by the engine through its observer interface
// (engine/engine_observer.hpp):
//   rstmdb_wal_write_duration_seconds   histogram  a group's storage write (durable under the policy)
//   rstmdb_wal_fsync_duration_seconds   histogram  each sync (every_write: the synced write)
//   rstmdb_wal_group_commit_size        histogram  log writes covered by one sync; 1..1024, powers of 2
//   rstmdb_transitions_total{machine,from,to}  counter  applied events, per transition
//   rstmdb_compactions_total{trigger}          counter  finished compactions: manual | events | size
//
// The observer is called inside the engine's commit path, so nothing here waits there: the
// histograms are AtomicHistogram (relaxed atomic adds, collected at scrape time), the
// transition and compaction counters prometheus-cpp counters (atomic increments) registered in
// the server's registry. A transition's counter is found in a per-thread cache (no lock); only
// the first event of a label set on a thread takes mutex_ (which the scrape never takes) and,
// for a new label set, the family's lock once. Label sets are bounded by the stored definitions
// and capped at kMaxTransitionSeries; transitions of further label sets are counted under
// machine, from and to "(other)".
//
// Thread-safety: the observer calls may come from any engine thread; collect() from the HTTP
// thread.
#pragma once

#include "engine/engine_observer.hpp"
#include "protocol/seeded_hash.hpp"
#include "server/atomic_histogram.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

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

  // The three histogram families (the counters are in the registry).
  std::vector<prometheus::MetricFamily> collect() const;

  using CounterIndex =
      std::unordered_map<std::string, prometheus::Counter*, protocol::SeededStringHash, std::equal_to<>>;

 private:
  prometheus::Counter& transition_counter(const engine::CommittedEvent& event);
  prometheus::Counter& shared_transition_counter(const std::string& key, const engine::CommittedEvent& event);

  const std::uint64_t serial_;  // tells this instance's per-thread caches from another's
  AtomicHistogram write_duration_;
  AtomicHistogram fsync_duration_;
  AtomicHistogram group_commit_size_;
  prometheus::Family<prometheus::Counter>& transitions_;
  std::array<prometheus::Counter*, 3> compactions_{};  // by CompactionTrigger

  std::mutex mutex_;     // guards by_key_ and overflow_ (never taken by a scrape)
  CounterIndex by_key_;  // "machine\0from\0to" -> its counter
  prometheus::Counter* overflow_ = nullptr;
};

}  // namespace rstmdb::server
