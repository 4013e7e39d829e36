// Reading and checking backups (runtime.md §7.2, and the first half of restore, §7.3).
//
// A backup PATH is one of three kinds (classify_backup):
//   Directory   PATH/MANIFEST.json, PATH/FORMAT, PATH/db/   (backup --to DIR)
//   Tar         a regular file or "-" (stdin)                 (backup --to -)
//   Repository  a RocksDB BackupEngine repository              (backup --incremental)
// Checks, in the order they run: the manifest (manifest.hpp), the file set (every listed file
// with its size and SHA-256, nothing else), the FORMAT line, then unless --quick the database
// itself, opened read-only (nothing is written into the backup): every SST checksum, records
// that decode and agree with the counters, a log that ends at latest_offset, and offsets and
// counts equal to the manifest's.
#pragma once

#include "backup/incremental.hpp"
#include "backup/manifest.hpp"
#include "storage/rocksdb_log.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rstmdb::backup {

enum class BackupKind { Directory, Tar, Repository };

// "-" is a tar on standard input. A directory that holds directory backups instead of being
// one is Invalid with a message naming the newest. Throws BackupError (Invalid).
BackupKind classify_backup(const std::string& path);

// Decodes DIR/MANIFEST.json and checks the file set against it (present, sizes, nothing
// extra, FORMAT's content); with `digests` also every file's SHA-256.
Manifest check_backup_directory(const std::filesystem::path& dir, bool digests);

// The database check: `db_dir` opened read-only, checksums, cross-check, and the summary equal
// to the manifest's. Throws BackupError (Invalid).
void check_backup_database(const std::filesystem::path& db_dir, const Manifest& manifest,
                           const storage::RocksLogSink& log_sink);

// Copies a directory backup's files (FORMAT, db/*) into `target` (created 0700, must not
// exist), checking each file's size and SHA-256 against the manifest as it is copied, and
// syncing files and directories.
void copy_backup_files(const std::filesystem::path& backup_dir, const Manifest& manifest,
                       const std::filesystem::path& target);

// Reads a backup tar from `fd` (`what` names it in errors). The manifest must be the first
// file; every later entry must be FORMAT, db/ or a file the manifest lists, with its size and
// digest, and every listed file must come. With `target` (created 0700, must not exist) the
// files are written there and synced; without, only checked.
Manifest read_backup_tar(int fd, const std::string& what, const std::optional<std::filesystem::path>& target);

struct VerifyReport {
  BackupKind kind = BackupKind::Directory;
  std::vector<Manifest> backups;   // one, or each backup of a repository (oldest first)
  std::vector<std::uint32_t> ids;  // repository backup ids, parallel to `backups`
};

// verify-backup PATH [--quick]. A tar's database check extracts it into a fresh directory
// under `scratch_parent`, removed afterwards. Throws BackupError (Invalid; Io for scratch space).
VerifyReport verify_backup(const std::string& path, bool quick, const std::filesystem::path& scratch_parent,
                           const storage::RocksLogSink& log_sink);

}  // namespace rstmdb::backup
