// Hot-backup checkpoints of the live store (runtime.md §7.1 online backup, §5.6 checkpoints/):
// ADMIN_CHECKPOINT_CREATE makes one under <data_dir>/checkpoints/<id>/, the backup tool copies
// it out and ADMIN_CHECKPOINT_RELEASE deletes it. The server writes only inside its own data
// directory; the copying is the tool's.
//
// A checkpoint is one point in time at a commit boundary (Store::checkpoint), and the offsets
// and counts it reports are read from the checkpoint itself (storage/db_summary.hpp), never
// from the live engine, so they are exactly what a restore of it will hold.
//
// Bounds: at most kMaxOpenCheckpoints at once (each pins the SST files it links, so disk space
// is held until release); one that is not released within kMaxCheckpointAge is abandoned and
// purged (purge_older_than, called by the admin listener's sweep); Store::open empties
// checkpoints/ at startup. A release after a completed copy records the time of the last
// successful backup (for ADMIN_STATUS and rstmdb_backup_last_success_timestamp_seconds).
//
// Thread-safety: every method may be called from any thread; create, release and purge block
// (a flush, hard links, directory removal) and must not run on an I/O thread.
#pragma once

#include "protocol/error.hpp"
#include "storage/db_summary.hpp"
#include "storage/rocksdb_log.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace rstmdb::storage {
class Store;
}

namespace rstmdb::server {

// Checkpoints that may exist at once: enough for a backup and a second one started by hand
// while it runs; each holds disk space until it is released.
inline constexpr std::size_t kMaxOpenCheckpoints = 4;
// A checkpoint not released within this time is abandoned (runtime.md §7.1: 1 h).
inline constexpr std::chrono::hours kMaxCheckpointAge{1};
// Longest checkpoint id accepted in a release request (ours are ~30 bytes).
inline constexpr std::size_t kMaxCheckpointIdBytes = 64;

struct CheckpointInfo {
  std::string id;
  std::filesystem::path path;  // absolute, symlinks resolved
  storage::DbSummary summary;  // read from the checkpoint
  std::chrono::system_clock::time_point created_at;
};

struct BackupRecord {
  std::chrono::system_clock::time_point at;  // when the tool released the checkpoint it copied
  std::string checkpoint;
  std::uint64_t latest_offset = 0;
};

class CheckpointRegistry {
 public:
  // `store` must outlive the registry; checkpoints go to <store.data_dir()>/checkpoints/.
  CheckpointRegistry(storage::Store& store, storage::RocksLogSink log_sink);

  // Flushes, links and reads the checkpoint. Errors: RATE_LIMITED at kMaxOpenCheckpoints,
  // WAL_IO_ERROR when the store has failed or the checkpoint cannot be made or read.
  std::variant<CheckpointInfo, protocol::Error> create();

  // Deletes checkpoint `id`. `backup_completed`: the tool copied it successfully (recorded as
  // the last successful backup). Errors: BAD_REQUEST for a malformed id, NOT_FOUND for an id
  // that is not open (never made, released, or purged), WAL_IO_ERROR if it cannot be removed.
  std::optional<protocol::Error> release(std::string_view id, bool backup_completed);

  // Deletes the checkpoints created more than `age` ago; returns their ids.
  std::vector<std::string> purge_older_than(std::chrono::steady_clock::duration age);

  std::size_t open_count() const;
  std::optional<BackupRecord> last_backup() const;

 private:
  struct Open {
    CheckpointInfo info;
    std::chrono::steady_clock::time_point created;
  };

  storage::Store& store_;
  storage::RocksLogSink log_sink_;
  std::filesystem::path dir_;  // absolute <data_dir>/checkpoints
  std::mutex create_mutex_;    // one checkpoint (one flush) at a time
  mutable std::mutex mutex_;   // guards everything below
  std::map<std::string, Open> open_;
  std::size_t reserved_ = 0;  // creations in progress, counted against the limit
  std::uint64_t next_serial_ = 1;
  std::optional<BackupRecord> last_backup_;
};

// An id as ADMIN_CHECKPOINT_RELEASE accepts it: 1..kMaxCheckpointIdBytes of [A-Za-z0-9-].
bool valid_checkpoint_id(std::string_view id) noexcept;

}  // namespace rstmdb::server
