#include "server/engine_metrics.hpp"

#include <atomic>

namespace rstmdb::server {

namespace {

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

// Storage latencies: from a fast device's 10 us sync up to a stalled disk's seconds.
std::vector<double> wal_duration_buckets() {
  return {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
          0.01,    0.025,    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5};
}

// runtime.md §4.2: 1 ... 1024, powers of 2 (kMaxGroupJobs is 1024).
std::vector<double> group_size_buckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
}

// This thread's transition counters (no lock on the commit path): one cache per thread, for
// the EngineMetrics that filled it, by its serial number (a different one, even at the same
// address, starts it afresh).
std::atomic<std::uint64_t> g_next_serial{1};
struct TransitionCache {
  std::uint64_t owner = 0;
  EngineMetrics::CounterIndex counters;
  std::string key;  // scratch: the key being looked up
};
thread_local TransitionCache t_cache;

prometheus::MetricFamily histogram_family(const char* name, const char* help, const AtomicHistogram& h) {
  return prometheus::MetricFamily{name, help, prometheus::MetricType::Histogram, {h.collect()}};
}

}  // namespace

EngineMetrics::EngineMetrics(prometheus::Registry& registry)
    : serial_(g_next_serial.fetch_add(1)),
      write_duration_(wal_duration_buckets()),
      fsync_duration_(wal_duration_buckets()),
      group_commit_size_(group_size_buckets()),
      transitions_(prometheus::BuildCounter()
                       .Name(std::string(kTransitionsName))
                       .Help(std::string(kTransitionsHelp))
                       .Register(registry)) {
  auto& compactions = prometheus::BuildCounter()
                          .Name("rstmdb_compactions_total")
                          .Help("Finished compactions, by what started them")
                          .Register(registry);
  compactions_[static_cast<std::size_t>(engine::CompactionTrigger::Manual)] =
      &compactions.Add({{"trigger", "manual"}});
  compactions_[static_cast<std::size_t>(engine::CompactionTrigger::Events)] =
      &compactions.Add({{"trigger", "events"}});
  compactions_[static_cast<std::size_t>(engine::CompactionTrigger::Size)] =
      &compactions.Add({{"trigger", "size"}});
}

void EngineMetrics::on_group_committed(const engine::GroupCommitted& group) noexcept {
  write_duration_.observe(seconds(group.write_duration));
  if (group.synced) {
    fsync_duration_.observe(seconds(group.write_duration));
    if (group.writes > 0) group_commit_size_.observe(static_cast<double>(group.writes));
  }
  if (group.events.empty()) return;
  try {
    for (const auto& event : group.events)
      transition_counter(event).Increment();
  } catch (const std::exception&) {
    // Out of memory for a new series: the count is lost, the commit is not disturbed.
  }
}

void EngineMetrics::on_sync(std::uint64_t writes, std::chrono::nanoseconds duration) noexcept {
  fsync_duration_.observe(seconds(duration));
  if (writes > 0) group_commit_size_.observe(static_cast<double>(writes));
}

void EngineMetrics::on_compaction(engine::CompactionTrigger trigger) noexcept {
  compactions_[static_cast<std::size_t>(trigger)]->Increment();
}

std::vector<prometheus::MetricFamily> EngineMetrics::collect() const {
  std::vector<prometheus::MetricFamily> out;
  out.push_back(histogram_family("rstmdb_wal_write_duration_seconds",
                                 "Duration of a commit group's storage write, until durable under "
                                 "storage.fsync_policy (the sync included under every_write)",
                                 write_duration_));
  out.push_back(histogram_family("rstmdb_wal_fsync_duration_seconds",
                                 "Duration of each log sync (under every_write: the synced group write)",
                                 fsync_duration_));
  out.push_back(histogram_family("rstmdb_wal_group_commit_size", "Log writes made durable by one sync",
                                 group_commit_size_));
  return out;
}

prometheus::Counter& EngineMetrics::transition_counter(const engine::CommittedEvent& event) {
  TransitionCache& cache = t_cache;
  if (cache.owner != serial_) {
    cache.counters.clear();
    cache.owner = serial_;
  }
  std::string& key = cache.key;
  key.clear();
  key.append(event.machine).push_back('\0');
  key.append(event.from_state).push_back('\0');
  key.append(event.to_state);
  if (auto it = cache.counters.find(std::string_view(key)); it != cache.counters.end()) return *it->second;
  prometheus::Counter& counter = shared_transition_counter(key, event);
  if (cache.counters.size() < kMaxTransitionSeries) cache.counters.emplace(key, &counter);
  return counter;
}

prometheus::Counter& EngineMetrics::shared_transition_counter(const std::string& key,
                                                              const engine::CommittedEvent& event) {
  std::lock_guard lock(mutex_);
  if (auto it = by_key_.find(std::string_view(key)); it != by_key_.end()) return *it->second;
  if (by_key_.size() >= kMaxTransitionSeries) {
    if (overflow_ == nullptr) {
      const std::string other(kOverflowLabel);
      overflow_ = &transitions_.Add({{"machine", other}, {"from", other}, {"to", other}});
    }
    return *overflow_;
  }
  auto& counter =
      transitions_.Add({{"machine", event.machine}, {"from", event.from_state}, {"to", event.to_state}});
  by_key_.emplace(key, &counter);
  return counter;
}

}  // namespace rstmdb::server
