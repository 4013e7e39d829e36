// File operations of backup and restore, each one durable when it returns: a copied or written
// file is fsynced, a renamed entry's directory is fsynced by the caller with fsync_directory.
// Every failure throws BackupError naming the path and the errno text (Kind::Permission for
// EACCES/EPERM, Kind::Io otherwise).
#pragma once

#include "backup/backup_error.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::backup {

// Buffer of one read/write step when copying and hashing: large enough for sequential disk
// throughput, small enough to keep the tool's memory flat.
inline constexpr std::size_t kCopyBufferBytes = 1 << 20;

struct FileDigest {
  std::uint64_t size = 0;
  std::string sha256;  // lowercase hex

  bool operator==(const FileDigest&) const = default;
};

// Creates `to` (must not exist; mode 0600) with the bytes of `from`, fsyncs it, and returns
// the size and SHA-256 of what was copied.
FileDigest copy_file_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// Size and SHA-256 of a file's contents.
FileDigest digest_file(const std::filesystem::path& path);

// Creates `path` (must not exist; mode 0600) holding `content`, fsynced.
FileDigest write_file_durably(const std::filesystem::path& path, std::string_view content);

// Reads a whole file of at most `max_bytes` (larger: BackupError Invalid, naming `what`).
std::string read_small_file(const std::filesystem::path& path, std::size_t max_bytes, std::string_view what);

// mkdir(path, 0700); the parent must exist.
void make_directory(const std::filesystem::path& path);

void fsync_directory(const std::filesystem::path& dir);

// rename(2) that fails with EEXIST instead of replacing an existing `to` (renameat2
// RENAME_NOREPLACE); `from` and `to` on one file system.
void rename_no_replace(const std::filesystem::path& from, const std::filesystem::path& to);

// Removes `path` and everything under it; a missing path is not an error.
void remove_tree(const std::filesystem::path& path);

// Writes all of `data` to `fd` (a pipe or file), retrying short writes and EINTR.
void write_all(int fd, std::string_view data, std::string_view what);

// Reads exactly `size` bytes unless end of input comes first; returns the bytes read.
std::size_t read_up_to(int fd, char* buffer, std::size_t size, std::string_view what);

// "<what>: <strerror>" as a BackupError of the kind that errno calls for.
[[noreturn]] void throw_errno(int err, const std::string& what);

// An exclusive flock(2) on a file, created 0600 if missing, released by the destructor.
class FileLock {
 public:
  // nullopt if another process holds it; throws BackupError on other failures.
  static std::optional<FileLock> try_lock(const std::filesystem::path& path);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace rstmdb::backup
