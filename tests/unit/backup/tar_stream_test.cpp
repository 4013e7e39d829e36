#include "backup/tar_stream.hpp"
#include "backup/backup_error.hpp"
#include "backup_test_support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>

using namespace rstmdb::backup;
using backup_test::read_file;
using backup_test::TempDir;
using backup_test::write_file;
namespace fs = std::filesystem;

namespace {

int open_write(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  return fd;
}

int open_read(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  return fd;
}

struct Entry {
  TarEntry header;
  std::string content;
};

std::vector<Entry> read_all(const fs::path& archive) {
  const int fd = open_read(archive);
  TarReader reader(fd, archive.string());
  std::vector<Entry> out;
  try {
    while (auto e = reader.next()) {
      Entry entry{*e, ""};
      if (e->type == '0')
        reader.read_content([&](const char* d, std::size_t n) { entry.content.append(d, n); });
      out.push_back(std::move(entry));
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return out;
}

int run(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Writes a small archive: a directory, a file from bytes, a file from disk with a long name.
fs::path sample_archive(const TempDir& tmp, const std::string& long_name) {
  const fs::path source = tmp.path() / "source.bin";
  std::string big(3 * kCopyBufferBytes + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>(i * 7 + 3);
  write_file(source, big);
  const fs::path archive = tmp.path() / "a.tar";
  const int fd = open_write(archive);
  TarWriter w(fd, archive.string());
  w.directory("top", 1700000000);
  w.file_from_bytes("top/hello.txt", "hello\n", 1700000000);
  const FileDigest d = w.file_from_path(long_name, source, big.size(), 1700000000);
  w.finish();
  ::close(fd);
  CHECK(d.size == big.size());
  CHECK(d == digest_file(source));
  return archive;
}

}  // namespace

TEST_CASE("tar number fields: octal, then base-256", "[tar]") {
  char f[12];
  REQUIRE(encode_tar_number(f, sizeof f, 0));
  CHECK(std::string(f, 12) == std::string("00000000000\0", 12));
  REQUIRE(encode_tar_number(f, sizeof f, 0777));
  CHECK(decode_tar_number(std::string_view(f, 12)) == 0777u);
  const std::uint64_t max_octal = (std::uint64_t{1} << 33) - 1;  // 11 octal digits
  REQUIRE(encode_tar_number(f, sizeof f, max_octal));
  CHECK(f[0] == '7');
  CHECK(decode_tar_number(std::string_view(f, 12)) == max_octal);
  REQUIRE(encode_tar_number(f, sizeof f, max_octal + 1));
  CHECK(static_cast<unsigned char>(f[0]) == 0x80);
  CHECK(decode_tar_number(std::string_view(f, 12)) == max_octal + 1);
  REQUIRE(encode_tar_number(f, sizeof f, 5'000'000'000'000ull));
  CHECK(decode_tar_number(std::string_view(f, 12)) == 5'000'000'000'000ull);
  CHECK(decode_tar_number("  0123 \0") == 0123u);
  CHECK_FALSE(decode_tar_number("12x4"));
  CHECK_FALSE(decode_tar_number(""));
  CHECK_FALSE(decode_tar_number(std::string_view("\0\0\0\0", 4)));
}

TEST_CASE("an archive reads back entry by entry, and GNU tar reads it too", "[tar]") {
  TempDir tmp;
  const std::string long_name = "top/" + std::string(120, 'd') + "/" + std::string(90, 'f');
  const fs::path archive = sample_archive(tmp, long_name);
  CHECK(fs::file_size(archive) % kTarBlockBytes == 0);
  const auto entries = read_all(archive);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].header.name == "top");
  CHECK(entries[0].header.type == '5');
  CHECK(entries[1].header.name == "top/hello.txt");
  CHECK(entries[1].content == "hello\n");
  CHECK(entries[2].header.name == long_name);
  CHECK(entries[2].content == read_file(tmp.path() / "source.bin"));

  // The real tar agrees on names and bytes.
  const fs::path out = tmp.path() / "extracted";
  fs::create_directories(out);
  REQUIRE(run("tar -xf '" + archive.string() + "' -C '" + out.string() + "' 2>/dev/null") == 0);
  CHECK(read_file(out / "top" / "hello.txt") == "hello\n");
  CHECK(read_file(out / long_name) == read_file(tmp.path() / "source.bin"));
}

TEST_CASE("a damaged archive is refused", "[tar]") {
  TempDir tmp;
  const fs::path archive = sample_archive(tmp, "top/data.bin");
  const std::string good = read_file(archive);
  auto refused = [&](const std::string& bytes, const std::string& fragment) {
    const fs::path bad = tmp.path() / "bad.tar";
    write_file(bad, bytes);
    try {
      read_all(bad);
      FAIL("accepted a damaged archive");
    } catch (const BackupError& e) {
      CHECK(e.kind() == BackupError::Kind::Invalid);
      CHECK_THAT(e.what(), Catch::Matchers::Contains(fragment));
    }
  };
  std::string header_flip = good;
  header_flip[kTarBlockBytes + 3] ^= 0x01;  // a name byte of the second header
  refused(header_flip, "a header checksum does not match");
  refused(good.substr(0, kTarBlockBytes * 2 + 100), "ends in the middle of an entry");
  refused(good.substr(0, kTarBlockBytes + 100), "ends in the middle of a header");
  refused(good.substr(0, good.size() - 2 * kTarBlockBytes), "without the end-of-archive marker");
  refused("", "without the end-of-archive marker");
  std::string symlink = good;
  symlink[kTarBlockBytes + 156] = '2';  // typeflag: symbolic link (checksum fixed below)
  unsigned sum = 0;
  for (std::size_t i = 0; i < kTarBlockBytes; ++i)
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(symlink[kTarBlockBytes + i]);
  std::snprintf(&symlink[kTarBlockBytes + 148], 7, "%06o", sum);
  refused(symlink, "unsupported entry type '2'");
}

TEST_CASE("a file that changes size while archived fails the archive", "[tar]") {
  TempDir tmp;
  const fs::path source = tmp.path() / "f";
  write_file(source, "12345");
  const int fd = open_write(tmp.path() / "x.tar");
  TarWriter w(fd, "x.tar");
  CHECK_THROWS_WITH(w.file_from_path("f", source, 10, 0), Catch::Matchers::Contains("became shorter"));
  CHECK_THROWS_WITH(w.file_from_path("f", source, 3, 0), Catch::Matchers::Contains("grew"));
  ::close(fd);
}
