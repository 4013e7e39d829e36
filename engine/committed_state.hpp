// What has been committed, published for every thread: the machine catalog, the live instance
// counters per (machine, state), the offset sequence, the snapshot count and the log I/O
// counters. Loaded once at startup — O(machine versions + (machine, state) pairs), never
// O(history) — and then advanced by the write pipeline after each successful commit.
//
// Thread-safety: every member function may be called from any thread. The pipeline is the
// only writer (count_updates / publish, called by the thread that writes a group, one group
// at a time).
#pragma once

#include "engine/catalog.hpp"
#include "engine/view.hpp"
#include "storage/store.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rstmdb::engine {

// The meta key of the snapshot count (alongside storage::kMetaLatestOffset/kMetaOldestOffset).
inline constexpr std::string_view kMetaSnapshotCount = "snapshot_count";

class CommittedState {
 public:
  // Reads the offsets, the snapshot count, every machine version (compiled) and the counters.
  // Throws StorageError (Corruption for records that do not decode).
  void load(const storage::Store& store);

  MachineCatalog& catalog() noexcept { return catalog_; }
  const MachineCatalog& catalog() const noexcept { return catalog_; }

  // --- counters of live instances
  struct CountUpdate {
    View::CountKey key;
    std::uint64_t value = 0;  // the new count; 0 = the key disappears
  };
  // The counters a group will leave, computed from the committed values (which include every
  // earlier group), for the group's batch.
  std::vector<CountUpdate> count_updates(const View& group) const;
  std::uint64_t live_total() const;
  // Live instances matching the filters (absent = any): O(number of states).
  std::uint64_t count(const std::optional<std::string>& machine,
                      const std::optional<std::string>& state) const;
  // Every non-zero counter (a copy).
  std::map<View::CountKey, std::uint64_t> counts() const;

  // --- a successful commit of `group` with the counters `counts`: everything readers see
  // moves forward (counters, catalog, snapshot count, latest offset, I/O counters).
  void publish(const View& group, const std::vector<CountUpdate>& counts);
  // FLUSH_ALL: no machines, no instances, no snapshots.
  void clear_all();

  // --- offsets (0 before the first entry; oldest retained = 1 until trimmed)
  std::uint64_t latest_offset() const noexcept { return latest_offset_.load(std::memory_order_acquire); }
  std::uint64_t oldest_offset() const noexcept { return oldest_offset_.load(std::memory_order_acquire); }
  void set_oldest_offset(std::uint64_t offset) noexcept {
    oldest_offset_.store(offset, std::memory_order_release);
  }
  std::uint64_t snapshot_count() const noexcept { return snapshot_count_.load(); }
  // The snapshot count after `group` (for its batch).
  std::uint64_t snapshot_count_after(const View& group) const noexcept;

  // --- log I/O since process start (WAL_STATS io_stats)
  IoStats io_stats() const;
  void count_fsync() noexcept { ++fsyncs_; }
  void count_commit() noexcept { ++commits_; }
  void count_reads(std::uint64_t entries, std::uint64_t bytes) const noexcept {
    reads_ += entries;
    bytes_read_ += bytes;
  }

  // Entries written since the last compaction (compaction.events_threshold).
  std::uint64_t entries_since_compaction() const noexcept { return entries_since_compaction_.load(); }
  void reset_entries_since_compaction() noexcept { entries_since_compaction_ = 0; }

 private:
  MachineCatalog catalog_;

  mutable std::mutex counts_mutex_;
  std::map<View::CountKey, std::uint64_t> counts_;
  std::uint64_t live_total_ = 0;

  std::atomic<std::uint64_t> latest_offset_{0};
  std::atomic<std::uint64_t> oldest_offset_{1};
  std::atomic<std::uint64_t> snapshot_count_{0};
  std::atomic<std::uint64_t> entries_since_compaction_{0};

  mutable std::atomic<std::uint64_t> bytes_written_{0}, bytes_read_{0}, writes_{0}, reads_{0}, fsyncs_{0};
  std::atomic<std::uint64_t> commits_{0};
};

}  // namespace rstmdb::engine
