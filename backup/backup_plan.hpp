// What a backup is made from: one checkpoint directory and the manifest fields the caller knows
// (backup_writer.hpp, incremental.hpp).
#pragma once

#include "backup/manifest.hpp"
#include "storage/db_summary.hpp"
#include "storage/rocksdb_log.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>

namespace rstmdb::backup {

struct BackupPlan {
  std::filesystem::path checkpoint_dir;  // RocksDB files of one checkpoint; never modified
  // created_at, source, label and versions; summary and files are filled in from the data.
  Manifest manifest;
  // What the server reported the checkpoint holds: the copy must hold the same, or the backup
  // fails. nullopt: nothing to compare with (offline).
  std::optional<storage::DbSummary> expected;
  // Called after each file is copied and synced, with the number copied so far (progress;
  // the tests stop the process there).
  std::function<void(std::size_t files_done)> after_file;
  storage::RocksLogSink log_sink;
};

}  // namespace rstmdb::backup
