// Incremental backups (runtime.md §7.1 --incremental): DIR is a RocksDB BackupEngine repository
// (rocksdb/utilities/backup_engine.h). Each backup shares the SST files it has in common with
// the earlier ones (shared_checksum/), and carries our manifest, without its file list, as the
// backup's application metadata. BackupEngine records and checks a checksum of every file.
//
// The checkpoint is opened read-only in place (it is immutable, and a read-only open writes
// nothing into it), so BackupEngine copies only the files the repository does not have yet.
// Like directory backups, one run at a time holds DIR/.lock.
#pragma once

#include "backup/backup_plan.hpp"
#include "backup/manifest.hpp"
#include "storage/rocksdb_log.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace rstmdb::backup {

struct IncrementalBackup {
  std::uint32_t id = 0;    // BackupEngine's backup id
  Manifest metadata;       // its application metadata (files empty)
  std::uint64_t size = 0;  // bytes of all its files (shared ones included)
  std::uint32_t file_count = 0;
};

// A BackupEngine repository: DIR/meta/ and DIR/private/ or DIR/shared_checksum/.
bool is_incremental_repository(const std::filesystem::path& dir);

// Adds a backup of plan.checkpoint_dir to the repository `dir` (created if missing; an
// existing non-empty directory must be a repository), then keeps the newest `keep` backups
// (PurgeOldBackups). Throws BackupError.
IncrementalBackup write_incremental_backup(const std::filesystem::path& dir, const BackupPlan& plan,
                                           std::optional<std::uint32_t> keep);

// Every backup of the repository, oldest first, each checked with VerifyBackup (file sizes;
// with checksums unless `quick`) and its metadata decoded. A repository with no backups, or
// with one BackupEngine reports corrupt, is invalid. Throws BackupError (Invalid, Io).
std::vector<IncrementalBackup> verify_incremental_repository(const std::filesystem::path& dir, bool quick,
                                                             const storage::RocksLogSink& log_sink);

// Verifies the newest backup (with checksums) and restores it into `db_dir` (must not exist).
// The database in it is not opened here.
IncrementalBackup restore_latest_incremental(const std::filesystem::path& dir,
                                             const std::filesystem::path& db_dir,
                                             const storage::RocksLogSink& log_sink);

}  // namespace rstmdb::backup
