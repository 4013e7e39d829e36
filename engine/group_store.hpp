// Where the write pipeline puts a committed group: the seam between the pipeline (ordering,
// group commit, fsync policy, failure handling) and RocksDB. The production implementation,
// RocksGroupStore, writes a group as ONE RocksDB WriteBatch; tests implement GroupStore in
// memory to check ordering and failure handling without RocksDB.
//
// Threads: prepare() runs on the sequencer; write() and sync() on the thread that writes
// groups (the committer for synced groups, the sequencer otherwise), never concurrently with
// each other, in group order.
#pragma once

#include "engine/committed_state.hpp"
#include "engine/view.hpp"
#include "storage/storage_error.hpp"

#include <memory>
#include <optional>
#include <vector>

namespace rstmdb::engine {

// A group made ready to write: built off the writer's critical path.
class PreparedGroup {
 public:
  virtual ~PreparedGroup() = default;
};

class GroupStore {
 public:
  virtual ~GroupStore() = default;
  // Everything of `group` that does not depend on earlier groups' commits.
  virtual std::unique_ptr<PreparedGroup> prepare(const View& group) = 0;
  // Writes the group atomically with the counters it leaves and the snapshot count, synced when
  // `sync`. A failure means the outcome is unknown; the store must not be written again.
  [[nodiscard]] virtual std::optional<storage::StorageError> write(
      PreparedGroup& prepared, const View& group, const std::vector<CommittedState::CountUpdate>& counts,
      std::uint64_t snapshot_count, bool sync) = 0;
  // Makes every earlier write durable (every_n / every_ms / shutdown).
  [[nodiscard]] virtual std::optional<storage::StorageError> sync() = 0;
  // Storage failed (fail-stop): never write, sync or flush again.
  virtual void mark_failed(const storage::StorageError& cause) = 0;
};

// GroupStore over storage::Store.
class RocksGroupStore final : public GroupStore {
 public:
  explicit RocksGroupStore(storage::Store& store) : store_(store) {}

  std::unique_ptr<PreparedGroup> prepare(const View& group) override;
  std::optional<storage::StorageError> write(PreparedGroup& prepared, const View& group,
                                             const std::vector<CommittedState::CountUpdate>& counts,
                                             std::uint64_t snapshot_count, bool sync) override;
  std::optional<storage::StorageError> sync() override { return store_.sync_wal(); }
  void mark_failed(const storage::StorageError& cause) override { store_.mark_failed(cause); }

 private:
  storage::Store& store_;
};

}  // namespace rstmdb::engine
