// A POSIX ustar archive written to or read from a file descriptor (a pipe: `backup --to -`,
// `restore --from -`), one entry at a time, never seeking and never holding a file in memory.
//
// Written: directories (typeflag '5') and regular files ('0'), mode 0700/0600, uid/gid 0,
// names up to 255 bytes (ustar prefix + name), sizes in octal or, from 8 GiB, GNU base-256;
// the archive ends with two zero blocks. GNU tar and bsdtar read it.
// Read: the same subset. Other entry types (links, devices, pax/GNU extension headers) and
// damaged headers (bad checksum, bad number fields, truncation) are BackupError Invalid.
#pragma once

#include "backup/backup_error.hpp"
#include "backup/durable_io.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::backup {

inline constexpr std::size_t kTarBlockBytes = 512;
// ustar's name (100) + '/' + prefix (155) limit.
inline constexpr std::size_t kMaxTarNameBytes = 255;

class TarWriter {
 public:
  // `what` names the output in errors ("standard output").
  TarWriter(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}

  void directory(std::string_view name, std::int64_t mtime);
  void file_from_bytes(std::string_view name, std::string_view content, std::int64_t mtime);
  // Streams `path`, which must be exactly `size` bytes long (the header is written first);
  // returns the digest of the bytes written. A file that turns out shorter or longer is a
  // BackupError (Io): the archive is then unusable, and the caller fails.
  FileDigest file_from_path(std::string_view name, const std::filesystem::path& path, std::uint64_t size,
                            std::int64_t mtime);
  // The end-of-archive marker.
  void finish();

 private:
  void header(std::string_view name, char type, std::uint64_t size, std::int64_t mtime);
  void pad(std::uint64_t size);

  int fd_;
  std::string what_;
};

struct TarEntry {
  std::string name;  // without a trailing '/'
  char type = '0';   // '0' regular file, '5' directory
  std::uint64_t size = 0;
};

class TarReader {
 public:
  TarReader(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}

  // The next entry's header, or nullopt at the end-of-archive marker. Unread content of the
  // previous entry is skipped.
  std::optional<TarEntry> next();
  // The current file entry's content, in chunks of at most kCopyBufferBytes; at most once
  // per entry.
  void read_content(const std::function<void(const char* data, std::size_t size)>& sink);

 private:
  void read_exactly(char* buffer, std::size_t size);
  void skip_rest();

  int fd_;
  std::string what_;
  std::uint64_t remaining_ = 0;  // unread content bytes of the current entry
  std::uint64_t padding_ = 0;    // padding after them
};

// Exposed for tests: the ustar number field rules.
bool encode_tar_number(char* field, std::size_t width, std::uint64_t value) noexcept;
std::optional<std::uint64_t> decode_tar_number(std::string_view field) noexcept;

}  // namespace rstmdb::backup
