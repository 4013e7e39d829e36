// restore --from PATH|- [--force] [--chown U[:G]] (runtime.md §7.3).
//
//   1. Lock the target data directory (a server or another tool holding it: Busy, exit 75).
//   2. A target with anything but the lock file, lost+found or a stale admin.sock in it needs
//      --force (else Exists, 73); its contents are moved aside, never deleted.
//   3. The backup's files are copied into a staging directory, each checked against the
//      manifest's size and SHA-256 as it is copied (a tar is read once, in the same way), and
//      synced; then the database check of verify-backup runs on the copy (Invalid, 65: the
//      staging directory is removed and the target is untouched).
//   4. The copy is opened once as the server opens it (paranoid checks, WAL replayed and
//      flushed), closed, and its offsets and counts compared with the manifest again.
//   5. Ownership: --chown, else the old data directory's owner, applied to every entry.
//   6. The staging directory takes the target's place and the parent is fsynced.
//
// Where the target can be renamed (its parent is writable and it is not a mount point) the
// staging directory is <data_dir>.restore-tmp and the old contents move to
// <data_dir>.pre-restore-<UTC timestamp>. A data directory that is a mount point (a Docker or
// Kubernetes volume) or whose parent is read-only (a read-only root file system) is restored
// in place: staging in <data_dir>/.restore-tmp, old contents into
// <data_dir>/.pre-restore-<UTC timestamp>/, then the restored entries moved up, FORMAT last
// (a crash in between leaves a directory without FORMAT that rstmdbd refuses to open).
#pragma once

#include "backup/manifest.hpp"
#include "storage/rocksdb_log.hpp"
#include "storage/store.hpp"

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <variant>

namespace rstmdb::backup {

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// --chown U[:G]: user and group names or numbers; without G, the user's primary group.
// Returns the owner or the problem.
std::variant<Owner, std::string> parse_owner(std::string_view spec);

struct RestoreRequest {
  std::filesystem::path data_dir;
  std::string from;  // backup PATH or "-" (a tar on `input_fd`)
  int input_fd = 0;
  bool force = false;
  std::optional<Owner> owner;  // --chown
  // How the server opens a data directory (data_dir is replaced by the staging directory).
  storage::StoreOptions store_options;
  storage::RocksLogSink log_sink;
};

struct RestoreResult {
  Manifest manifest;
  std::filesystem::path data_dir;
  std::optional<std::filesystem::path> previous;  // where the old contents went
  bool in_place = false;
  std::optional<std::filesystem::path> removed_leftover;  // a staging directory of an interrupted restore
};

// Throws BackupError (Busy, Exists, Invalid, Io, Permission).
RestoreResult restore_backup(const RestoreRequest& request);

}  // namespace rstmdb::backup
