#include "server/engine_metrics.hpp"

#include <prometheus/histogram.h>

namespace rstmdb::server {

namespace {

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

// Storage latencies: from a fast device's 10 us sync up to a stalled disk's seconds.
const prometheus::Histogram::BucketBoundaries& wal_duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries b = {
      0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,    0.025,    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5};
  return b;
}

// runtime.md §4.2: 1 ... 1024, powers of 2 (kMaxGroupJobs is 1024).
const prometheus::Histogram::BucketBoundaries& group_size_buckets() {
  static const prometheus::Histogram::BucketBoundaries b = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  return b;
}

prometheus::Histogram& single_histogram(prometheus::Registry& registry, const char* name, const char* help,
                                        const prometheus::Histogram::BucketBoundaries& buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add({}, buckets);
}

}  // namespace

EngineMetrics::EngineMetrics(prometheus::Registry& registry)
    : write_duration_(single_histogram(registry, "rstmdb_wal_write_duration_seconds",
                                       "Duration of a commit group's storage write, until durable under "
                                       "storage.fsync_policy (the sync included under every_write)",
                                       wal_duration_buckets())),
      fsync_duration_(single_histogram(
          registry, "rstmdb_wal_fsync_duration_seconds",
          "Duration of each log sync (under every_write: the synced group write)", wal_duration_buckets())),
      group_commit_size_(single_histogram(registry, "rstmdb_wal_group_commit_size",
                                          "Log writes made durable by one sync", group_size_buckets())),
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
  write_duration_.Observe(seconds(group.write_duration));
  if (group.synced) {
    fsync_duration_.Observe(seconds(group.write_duration));
    if (group.writes > 0) group_commit_size_.Observe(static_cast<double>(group.writes));
  }
  if (group.events.empty()) return;
  try {
    std::lock_guard lock(mutex_);
    for (const auto& event : group.events)
      transition_counter(event).Increment();
  } catch (const std::exception&) {
    // Out of memory for a new series: the count is lost, the commit is not disturbed.
  }
}

void EngineMetrics::on_sync(std::uint64_t writes, std::chrono::nanoseconds duration) noexcept {
  fsync_duration_.Observe(seconds(duration));
  if (writes > 0) group_commit_size_.Observe(static_cast<double>(writes));
}

void EngineMetrics::on_compaction(engine::CompactionTrigger trigger) noexcept {
  compactions_[static_cast<std::size_t>(trigger)]->Increment();
}

prometheus::Counter& EngineMetrics::transition_counter(const engine::CommittedEvent& event) {
  scratch_.clear();
  scratch_.append(event.machine).push_back('\0');
  scratch_.append(event.from_state).push_back('\0');
  scratch_.append(event.to_state);
  if (auto it = by_key_.find(std::string_view(scratch_)); it != by_key_.end()) return *it->second;
  if (by_key_.size() >= kMaxTransitionSeries) {
    if (overflow_ == nullptr) {
      const std::string other(kOverflowLabel);
      overflow_ = &transitions_.Add({{"machine", other}, {"from", other}, {"to", other}});
    }
    return *overflow_;
  }
  auto& counter =
      transitions_.Add({{"machine", event.machine}, {"from", event.from_state}, {"to", event.to_state}});
  by_key_.emplace(scratch_, &counter);
  return counter;
}

}  // namespace rstmdb::server
