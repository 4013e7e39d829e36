#include "backup/durable_io.hpp"

#include "backup/sha256.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

namespace rstmdb::backup {

namespace fs = std::filesystem;

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // close(2) reports deferred write errors on some file systems: check it for files we wrote.
  void close_checked(const fs::path& path) {
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) throw_errno(errno, "cannot close " + path.string());
  }

 private:
  int fd_;
};

Fd open_or_throw(const fs::path& path, int flags, mode_t mode, const char* verb) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC, mode));
  if (fd.get() < 0) throw_errno(errno, std::string("cannot ") + verb + " " + path.string());
  return fd;
}

}  // namespace

void throw_errno(int err, const std::string& what) {
  const std::string text = what + ": " + std::error_code(err, std::generic_category()).message();
  const bool permission = err == EACCES || err == EPERM;
  throw BackupError(permission ? BackupError::Kind::Permission : BackupError::Kind::Io, text);
}

void write_all(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, "cannot write " + std::string(what));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::size_t read_up_to(int fd, char* buffer, std::size_t size, std::string_view what) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, buffer + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, "cannot read " + std::string(what));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

FileDigest copy_file_durably(const fs::path& from, const fs::path& to) {
  Fd in = open_or_throw(from, O_RDONLY, 0, "open");
  Fd out = open_or_throw(to, O_WRONLY | O_CREAT | O_EXCL, 0600, "create");
  std::vector<char> buffer(kCopyBufferBytes);
  Sha256 hash;
  FileDigest digest;
  for (;;) {
    const std::size_t n = read_up_to(in.get(), buffer.data(), buffer.size(), from.string());
    if (n == 0) break;
    hash.update(buffer.data(), n);
    write_all(out.get(), std::string_view(buffer.data(), n), to.string());
    digest.size += n;
    if (n < buffer.size()) break;
  }
  if (::fsync(out.get()) != 0) throw_errno(errno, "cannot sync " + to.string());
  out.close_checked(to);
  digest.sha256 = hash.hex_digest();
  return digest;
}

FileDigest digest_file(const fs::path& path) {
  Fd in = open_or_throw(path, O_RDONLY, 0, "open");
  std::vector<char> buffer(kCopyBufferBytes);
  Sha256 hash;
  FileDigest digest;
  for (;;) {
    const std::size_t n = read_up_to(in.get(), buffer.data(), buffer.size(), path.string());
    if (n == 0) break;
    hash.update(buffer.data(), n);
    digest.size += n;
    if (n < buffer.size()) break;
  }
  digest.sha256 = hash.hex_digest();
  return digest;
}

FileDigest write_file_durably(const fs::path& path, std::string_view content) {
  Fd out = open_or_throw(path, O_WRONLY | O_CREAT | O_EXCL, 0600, "create");
  write_all(out.get(), content, path.string());
  if (::fsync(out.get()) != 0) throw_errno(errno, "cannot sync " + path.string());
  out.close_checked(path);
  Sha256 hash;
  hash.update(content.data(), content.size());
  return FileDigest{content.size(), hash.hex_digest()};
}

std::string read_small_file(const fs::path& path, std::size_t max_bytes, std::string_view what) {
  Fd in = open_or_throw(path, O_RDONLY, 0, "open");
  std::string out;
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    const std::size_t n = read_up_to(in.get(), buffer.data(), buffer.size(), path.string());
    out.append(buffer.data(), n);
    if (out.size() > max_bytes) {
      throw BackupError(BackupError::Kind::Invalid, std::string(what) + " " + path.string() +
                                                        " is larger than " + std::to_string(max_bytes) +
                                                        " bytes");
    }
    if (n < buffer.size()) break;
  }
  return out;
}

void make_directory(const fs::path& path) {
  if (::mkdir(path.c_str(), 0700) != 0) throw_errno(errno, "cannot create " + path.string());
}

void fsync_directory(const fs::path& dir) {
  Fd fd = open_or_throw(dir, O_RDONLY | O_DIRECTORY, 0, "open");
  if (::fsync(fd.get()) != 0) throw_errno(errno, "cannot sync " + dir.string());
}

void rename_no_replace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    throw_errno(errno, "cannot rename " + from.string() + " to " + to.string());
  }
}

void remove_tree(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw_errno(ec.value(), "cannot remove " + path.string());
  }
}

std::optional<FileLock> FileLock::try_lock(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno(errno, "cannot open " + path.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return std::nullopt;
    throw_errno(err, "cannot lock " + path.string());
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace rstmdb::backup
