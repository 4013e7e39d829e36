// Writing a backup from a checkpoint (runtime.md §7.1): a directory backup
// DIR/rstmdb-<UTC timestamp>-<offset>/ {FORMAT, db/, MANIFEST.json}, or the same tree as a tar
// stream. The checkpoint directory is only read (it may be a live server's checkpoints/<id>).
//
// Directory backups are written as DIR/.tmp-<name>/, every file and directory fsynced, then
// renamed into place and DIR fsynced: a backup that is visible under its name is complete, and
// a run that is killed leaves only a .tmp- directory, removed by the next run. One run at a
// time writes to DIR: each holds DIR/.lock (flock) throughout, so a second one fails with
// Busy instead of racing the first one's cleanup or pruning.
#pragma once

#include "backup/backup_plan.hpp"
#include "backup/manifest.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rstmdb::backup {

inline constexpr std::string_view kBackupNamePrefix = "rstmdb-";
inline constexpr std::string_view kTempPrefix = ".tmp-";
inline constexpr std::string_view kBackupDirLockName = ".lock";

struct WrittenBackup {
  std::filesystem::path path;  // DIR/rstmdb-…, or "-" for a tar stream
  Manifest manifest;
  std::vector<std::filesystem::path> pruned;   // older backups removed by --keep
  std::vector<std::filesystem::path> removed;  // leftovers of killed runs
};

// "rstmdb-<compact UTC timestamp>-<latest_offset>".
std::string backup_name(const Manifest& manifest);

// Writes a directory backup under `dir` (created 0700 if missing), then keeps the newest `keep`
// backups of `dir` if given. Throws BackupError: Busy (another run holds DIR/.lock), Exists
// (DIR is an incremental repository), Io/Permission, Invalid (the copy does not hold what the
// server reported).
WrittenBackup write_directory_backup(const std::filesystem::path& dir, BackupPlan plan,
                                     std::optional<std::uint32_t> keep);

// Streams the backup as a tar to `fd`: the directory entry, MANIFEST.json, FORMAT, db/ and its
// files. The files are read twice (digests for the manifest first, then the content), and the
// second read must give the same digests.
WrittenBackup write_tar_backup(int fd, std::string what, BackupPlan plan);

// Directory backups in `dir` (entries rstmdb-* holding a MANIFEST.json), newest first.
std::vector<std::filesystem::path> list_backups(const std::filesystem::path& dir);

}  // namespace rstmdb::backup
