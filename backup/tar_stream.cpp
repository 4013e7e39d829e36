#include "backup/tar_stream.hpp"

#include "backup/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <vector>

namespace rstmdb::backup {

namespace {

// Field offsets and widths of the ustar header.
constexpr std::size_t kNameOff = 0, kNameLen = 100;
constexpr std::size_t kModeOff = 100, kModeLen = 8;
constexpr std::size_t kUidOff = 108, kGidOff = 116, kIdLen = 8;
constexpr std::size_t kSizeOff = 124, kSizeLen = 12;
constexpr std::size_t kMtimeOff = 136, kMtimeLen = 12;
constexpr std::size_t kChecksumOff = 148, kChecksumLen = 8;
constexpr std::size_t kTypeOff = 156;
constexpr std::size_t kMagicOff = 257;
constexpr std::size_t kPrefixOff = 345, kPrefixLen = 155;

using Block = std::array<char, kTarBlockBytes>;

std::uint64_t padding_for(std::uint64_t size) {
  return (kTarBlockBytes - size % kTarBlockBytes) % kTarBlockBytes;
}

unsigned header_checksum(const Block& b) {
  unsigned sum = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const bool in_field = i >= kChecksumOff && i < kChecksumOff + kChecksumLen;
    sum += in_field ? static_cast<unsigned>(' ') : static_cast<unsigned char>(b[i]);
  }
  return sum;
}

[[noreturn]] void damaged(const std::string& what, const std::string& problem) {
  throw BackupError(BackupError::Kind::Invalid, what + ": not a backup archive: " + problem);
}

}  // namespace

bool encode_tar_number(char* field, std::size_t width, std::uint64_t value) noexcept {
  // Octal with a terminating NUL when it fits in width - 1 digits.
  const std::size_t digits = width - 1;
  if (digits < 22 && value < (std::uint64_t{1} << (3 * digits))) {
    for (std::size_t i = digits; i-- > 0;) {
      field[i] = static_cast<char>('0' + (value & 7));
      value >>= 3;
    }
    field[digits] = '\0';
    return true;
  }
  // GNU base-256: high bit of the first byte set, the value big-endian in the rest.
  if (width < 9) return false;
  std::memset(field, 0, width);
  field[0] = static_cast<char>(0x80);
  for (std::size_t i = width; i-- > 1 && value != 0;) {
    field[i] = static_cast<char>(value & 0xFF);
    value >>= 8;
  }
  return true;
}

std::optional<std::uint64_t> decode_tar_number(std::string_view field) noexcept {
  if (field.empty()) return std::nullopt;
  if (static_cast<unsigned char>(field[0]) == 0x80) {
    std::uint64_t v = 0;
    for (std::size_t i = 1; i < field.size(); ++i) {
      if (v >> 56) return std::nullopt;  // would overflow 64 bits
      v = (v << 8) | static_cast<unsigned char>(field[i]);
    }
    return v;
  }
  std::size_t i = 0;
  while (i < field.size() && field[i] == ' ')
    ++i;
  std::uint64_t v = 0;
  bool any = false;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (v >> 61) return std::nullopt;
    v = (v << 3) | static_cast<std::uint64_t>(field[i] - '0');
    any = true;
  }
  for (; i < field.size(); ++i) {
    if (field[i] != '\0' && field[i] != ' ') return std::nullopt;
  }
  if (!any) return std::nullopt;
  return v;
}

// --- TarWriter ---------------------------------------------------------------------------------

void TarWriter::header(std::string_view name, char type, std::uint64_t size, std::int64_t mtime) {
  std::string full(name);
  if (type == '5') full += '/';
  if (full.size() > kMaxTarNameBytes) {
    throw BackupError(BackupError::Kind::Io, "tar entry name longer than 255 bytes: " + full);
  }
  Block b{};
  std::string_view prefix;
  std::string_view rest = full;
  if (full.size() > kNameLen) {
    // Split at a '/' so that the prefix fits 155 bytes and the rest 100.
    std::size_t cut = std::string::npos;
    for (std::size_t i = full.size() > kNameLen + 1 ? full.size() - kNameLen - 1 : 0; i < full.size(); ++i) {
      if (full[i] == '/' && i <= kPrefixLen) {
        cut = i;
        break;
      }
    }
    if (cut == std::string::npos)
      throw BackupError(BackupError::Kind::Io, "tar entry name cannot be split: " + full);
    prefix = std::string_view(full).substr(0, cut);
    rest = std::string_view(full).substr(cut + 1);
  }
  std::copy(rest.begin(), rest.end(), b.begin() + kNameOff);
  std::copy(prefix.begin(), prefix.end(), b.begin() + kPrefixOff);
  encode_tar_number(b.data() + kModeOff, kModeLen, type == '5' ? 0700 : 0600);
  encode_tar_number(b.data() + kUidOff, kIdLen, 0);
  encode_tar_number(b.data() + kGidOff, kIdLen, 0);
  if (!encode_tar_number(b.data() + kSizeOff, kSizeLen, size)) {
    throw BackupError(BackupError::Kind::Io, "file too large for a tar entry: " + full);
  }
  encode_tar_number(b.data() + kMtimeOff, kMtimeLen, mtime > 0 ? static_cast<std::uint64_t>(mtime) : 0);
  b[kTypeOff] = type;
  std::memcpy(b.data() + kMagicOff,
              "ustar\0"
              "00",
              8);
  const unsigned sum = header_checksum(b);
  std::snprintf(b.data() + kChecksumOff, kChecksumLen, "%06o", sum);  // 6 digits, NUL
  b[kChecksumOff + 7] = ' ';
  write_all(fd_, std::string_view(b.data(), b.size()), what_);
}

void TarWriter::pad(std::uint64_t size) {
  static const Block zeros{};
  const std::uint64_t n = padding_for(size);
  if (n != 0) write_all(fd_, std::string_view(zeros.data(), n), what_);
}

void TarWriter::directory(std::string_view name, std::int64_t mtime) {
  header(name, '5', 0, mtime);
}

void TarWriter::file_from_bytes(std::string_view name, std::string_view content, std::int64_t mtime) {
  header(name, '0', content.size(), mtime);
  write_all(fd_, content, what_);
  pad(content.size());
}

FileDigest TarWriter::file_from_path(std::string_view name, const std::filesystem::path& path,
                                     std::uint64_t size, std::int64_t mtime) {
  const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw_errno(errno, "cannot open " + path.string());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{in};
  header(name, '0', size, mtime);
  std::vector<char> buffer(kCopyBufferBytes);
  Sha256 hash;
  std::uint64_t done = 0;
  while (done < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - done));
    const std::size_t n = read_up_to(in, buffer.data(), want, path.string());
    if (n < want)
      throw BackupError(BackupError::Kind::Io, path.string() + " became shorter while it was archived");
    hash.update(buffer.data(), n);
    write_all(fd_, std::string_view(buffer.data(), n), what_);
    done += n;
  }
  char extra = 0;
  if (read_up_to(in, &extra, 1, path.string()) != 0) {
    throw BackupError(BackupError::Kind::Io, path.string() + " grew while it was archived");
  }
  pad(size);
  return FileDigest{size, hash.hex_digest()};
}

void TarWriter::finish() {
  static const Block zeros{};
  write_all(fd_, std::string_view(zeros.data(), zeros.size()), what_);
  write_all(fd_, std::string_view(zeros.data(), zeros.size()), what_);
}

// --- TarReader ---------------------------------------------------------------------------------

void TarReader::read_exactly(char* buffer, std::size_t size) {
  if (read_up_to(fd_, buffer, size, what_) != size) damaged(what_, "it ends in the middle of an entry");
}

void TarReader::skip_rest() {
  std::vector<char> buffer(kCopyBufferBytes);
  std::uint64_t left = remaining_ + padding_;
  while (left > 0) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), left));
    read_exactly(buffer.data(), n);
    left -= n;
  }
  remaining_ = padding_ = 0;
}

std::optional<TarEntry> TarReader::next() {
  skip_rest();
  Block b;
  const std::size_t n = read_up_to(fd_, b.data(), b.size(), what_);
  if (n == 0) damaged(what_, "it ends without the end-of-archive marker");
  if (n != b.size()) damaged(what_, "it ends in the middle of a header");
  const bool zero = std::all_of(b.begin(), b.end(), [](char c) { return c == '\0'; });
  if (zero) return std::nullopt;  // the marker's first block; what follows is not read
  const auto stored = decode_tar_number(std::string_view(b.data() + kChecksumOff, kChecksumLen));
  if (!stored || *stored != header_checksum(b)) damaged(what_, "a header checksum does not match");
  if (std::memcmp(b.data() + kMagicOff, "ustar", 5) != 0) damaged(what_, "a header is not ustar");
  TarEntry e;
  const char type = b[kTypeOff];
  if (type == '0' || type == '\0') {
    e.type = '0';
  } else if (type == '5') {
    e.type = '5';
  } else {
    damaged(what_, std::string("unsupported entry type '") + (type >= 0x20 && type < 0x7F ? type : '?') +
                       "' (only files and directories)");
  }
  auto text = [&](std::size_t off, std::size_t len) {
    std::string_view f(b.data() + off, len);
    return f.substr(0, f.find('\0'));
  };
  const std::string_view prefix = text(kPrefixOff, kPrefixLen);
  const std::string_view name = text(kNameOff, kNameLen);
  e.name = prefix.empty() ? std::string(name) : std::string(prefix) + "/" + std::string(name);
  while (!e.name.empty() && e.name.back() == '/')
    e.name.pop_back();
  if (e.name.empty()) damaged(what_, "an entry has no name");
  const auto size = decode_tar_number(std::string_view(b.data() + kSizeOff, kSizeLen));
  if (!size) damaged(what_, "the size of " + e.name + " is not a number");
  e.size = e.type == '5' ? 0 : *size;
  remaining_ = *size;
  padding_ = padding_for(*size);
  return e;
}

void TarReader::read_content(const std::function<void(const char* data, std::size_t size)>& sink) {
  std::vector<char> buffer(kCopyBufferBytes);
  while (remaining_ > 0) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), remaining_));
    read_exactly(buffer.data(), n);
    remaining_ -= n;
    sink(buffer.data(), n);
  }
}

}  // namespace rstmdb::backup
