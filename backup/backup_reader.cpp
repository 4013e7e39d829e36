#include "backup/backup_reader.hpp"

#include "backup/backup_writer.hpp"
#include "backup/durable_io.hpp"
#include "backup/sha256.hpp"
#include "backup/tar_stream.hpp"
#include "storage/db_summary.hpp"
#include "storage/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>

namespace rstmdb::backup {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void invalid(const std::string& message) {
  throw BackupError(BackupError::Kind::Invalid, message);
}

std::string format_line() {
  return std::string(storage::kDataFormat) + "\n";
}

std::string summary_text(const storage::DbSummary& s) {
  return "offset " + std::to_string(s.latest_offset) + " (oldest " + std::to_string(s.oldest_offset) + "), " +
         std::to_string(s.machines) + " machine versions, " + std::to_string(s.instances) + " instances";
}

const ManifestFile* find_file(const Manifest& m, std::string_view path) {
  for (const auto& f : m.files) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

// Files and directories actually present in a directory backup, relative to it.
void check_listing(const fs::path& dir, const Manifest& m) {
  std::set<std::string> listed;
  for (const auto& f : m.files)
    listed.insert(f.path);
  std::set<std::string> seen;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string rel = fs::relative(it->path(), dir).string();
    const auto status = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(status)) {
      if (rel != kDbDirName) invalid(dir.string() + ": unexpected directory " + rel);
      continue;
    }
    if (!fs::is_regular_file(status)) invalid(dir.string() + ": " + rel + " is not a regular file");
    if (rel == kManifestFileName) continue;
    if (listed.count(rel) == 0) invalid(dir.string() + ": " + rel + " is not listed in the manifest");
    const ManifestFile* f = find_file(m, rel);
    const auto size = fs::file_size(it->path(), ec);
    if (ec) break;
    if (size != f->size) {
      invalid(dir.string() + ": " + rel + " is " + std::to_string(size) + " bytes, the manifest says " +
              std::to_string(f->size));
    }
    seen.insert(rel);
  }
  if (ec) invalid("cannot read " + dir.string() + ": " + ec.message());
  for (const auto& f : m.files) {
    if (seen.count(f.path) == 0) invalid(dir.string() + ": " + f.path + " is missing");
  }
}

void check_digest(const std::string& where, const ManifestFile& f, const FileDigest& d) {
  if (d.size != f.size) {
    invalid(where + ": " + f.path + " is " + std::to_string(d.size) + " bytes, the manifest says " +
            std::to_string(f.size));
  }
  if (d.sha256 != f.sha256) invalid(where + ": " + f.path + " does not match its SHA-256 in the manifest");
}

// One top-level directory name of a tar backup: "rstmdb-…", a plain file name.
bool valid_top_name(std::string_view name) {
  return valid_backup_path(std::string(kDbDirName) + "/" + std::string(name));
}

}  // namespace

BackupKind classify_backup(const std::string& path) {
  if (path == "-") return BackupKind::Tar;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) invalid(path + ": no such file or directory");
  if (fs::is_regular_file(status)) return BackupKind::Tar;
  if (!fs::is_directory(status)) invalid(path + " is neither a backup directory nor a backup archive");
  if (fs::exists(fs::path(path) / kManifestFileName, ec)) return BackupKind::Directory;
  if (is_incremental_repository(path)) return BackupKind::Repository;
  const auto inside = list_backups(path);
  if (!inside.empty()) {
    invalid(path + " holds " + std::to_string(inside.size()) + " backup(s), name one of them, e.g. " +
            inside.front().string());
  }
  invalid(path + " is not a backup: no " + std::string(kManifestFileName) + " and not a backup repository");
}

Manifest check_backup_directory(const fs::path& dir, bool digests) {
  Manifest m = decode_manifest(read_small_file(dir / kManifestFileName, kMaxManifestBytes, "manifest"));
  check_listing(dir, m);
  if (read_small_file(dir / kFormatFileName, 256, "FORMAT") != format_line()) {
    invalid(dir.string() + ": FORMAT is not \"" + std::string(storage::kDataFormat) + "\"");
  }
  if (digests) {
    for (const auto& f : m.files)
      check_digest(dir.string(), f, digest_file(dir / f.path));
  }
  return m;
}

void check_backup_database(const fs::path& db_dir, const Manifest& m, const storage::RocksLogSink& log_sink) {
  storage::SummaryOptions options;
  options.verify_checksums = true;
  options.cross_check = true;
  options.log_sink = log_sink;
  storage::DbSummary got;
  try {
    got = storage::read_db_summary(db_dir.string(), options);
  } catch (const storage::StorageError& e) {
    invalid(std::string("database check failed: ") + e.what());
  }
  if (got != m.summary) {
    invalid("the database holds " + summary_text(got) + ", the manifest says " + summary_text(m.summary));
  }
}

void copy_backup_files(const fs::path& backup_dir, const Manifest& m, const fs::path& target) {
  make_directory(target);
  make_directory(target / kDbDirName);
  for (const auto& f : m.files)
    check_digest(backup_dir.string(), f, copy_file_durably(backup_dir / f.path, target / f.path));
  fsync_directory(target / kDbDirName);
  fsync_directory(target);
}

Manifest read_backup_tar(int fd, const std::string& what, const std::optional<fs::path>& target) {
  TarReader tar(fd, what);
  auto entry = tar.next();
  if (!entry) invalid(what + ": the archive is empty");
  std::string top;
  if (entry->type == '5') {
    top = entry->name;
    entry = tar.next();
  } else {
    top = entry->name.substr(0, entry->name.find('/'));
  }
  if (!valid_top_name(top)) invalid(what + ": unexpected top-level entry in the archive");
  const std::string prefix = top + "/";
  if (!entry || entry->type != '0' || entry->name != prefix + std::string(kManifestFileName)) {
    invalid(what + ": the archive does not start with " + prefix + std::string(kManifestFileName));
  }
  if (entry->size > kMaxManifestBytes) invalid(what + ": the manifest is larger than the limit");
  std::string text;
  tar.read_content([&](const char* data, std::size_t n) { text.append(data, n); });
  const Manifest m = decode_manifest(text);

  if (target) {
    make_directory(*target);
    make_directory(*target / kDbDirName);
  }
  std::set<std::string> seen;
  while ((entry = tar.next())) {
    if (!entry->name.starts_with(prefix)) invalid(what + ": entry outside " + top + "/ in the archive");
    const std::string rel = entry->name.substr(prefix.size());
    if (entry->type == '5') {
      if (rel != kDbDirName) invalid(what + ": unexpected directory " + rel + " in the archive");
      continue;
    }
    const ManifestFile* f = find_file(m, rel);
    if (f == nullptr) invalid(what + ": " + rel + " is not listed in the manifest");
    if (!seen.insert(rel).second) invalid(what + ": " + rel + " appears twice in the archive");
    if (entry->size != f->size) {
      invalid(what + ": " + rel + " is " + std::to_string(entry->size) + " bytes, the manifest says " +
              std::to_string(f->size));
    }
    Sha256 hash;
    std::string format_content;
    int out = -1;
    if (target) {
      out = ::open((*target / rel).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (out < 0) throw_errno(errno, "cannot create " + (*target / rel).string());
    }
    struct Closer {
      int fd;
      ~Closer() {
        if (fd >= 0) ::close(fd);
      }
    } closer{out};
    tar.read_content([&](const char* data, std::size_t n) {
      hash.update(data, n);
      if (rel == kFormatFileName && format_content.size() < 256)
        format_content.append(data, std::min<std::size_t>(n, 256));
      if (out >= 0) write_all(out, std::string_view(data, n), (*target / rel).string());
    });
    if (out >= 0 && ::fsync(out) != 0) throw_errno(errno, "cannot sync " + (*target / rel).string());
    check_digest(what, *f, FileDigest{entry->size, hash.hex_digest()});
    if (rel == kFormatFileName && format_content != format_line()) {
      invalid(what + ": FORMAT is not \"" + std::string(storage::kDataFormat) + "\"");
    }
  }
  for (const auto& f : m.files) {
    if (seen.count(f.path) == 0) invalid(what + ": " + f.path + " is missing from the archive");
  }
  if (target) {
    fsync_directory(*target / kDbDirName);
    fsync_directory(*target);
  }
  return m;
}

VerifyReport verify_backup(const std::string& path, bool quick, const fs::path& scratch_parent,
                           const storage::RocksLogSink& log_sink) {
  VerifyReport report;
  report.kind = classify_backup(path);
  switch (report.kind) {
    case BackupKind::Directory: {
      Manifest m = check_backup_directory(path, true);
      if (!quick) check_backup_database(fs::path(path) / kDbDirName, m, log_sink);
      report.backups.push_back(std::move(m));
      break;
    }
    case BackupKind::Repository: {
      for (auto& b : verify_incremental_repository(path, quick, log_sink)) {
        report.ids.push_back(b.id);
        report.backups.push_back(std::move(b.metadata));
      }
      break;
    }
    case BackupKind::Tar: {
      int fd = 0;
      if (path != "-") {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw_errno(errno, "cannot open " + path);
      }
      struct Closer {
        int fd;
        ~Closer() {
          if (fd > 0) ::close(fd);
        }
      } closer{fd};
      const std::string what = path == "-" ? std::string("standard input") : path;
      if (quick) {
        report.backups.push_back(read_backup_tar(fd, what, std::nullopt));
        break;
      }
      std::string scratch = (scratch_parent / "rstmdb-verify-XXXXXX").string();
      if (::mkdtemp(scratch.data()) == nullptr)
        throw_errno(errno, "cannot create a scratch directory in " + scratch_parent.string());
      struct Remover {
        fs::path dir;
        ~Remover() {
          std::error_code ec;
          fs::remove_all(dir, ec);
        }
      } remover{scratch};
      Manifest m = read_backup_tar(fd, what, fs::path(scratch) / "backup");
      check_backup_database(fs::path(scratch) / "backup" / kDbDirName, m, log_sink);
      report.backups.push_back(std::move(m));
      break;
    }
  }
  return report;
}

}  // namespace rstmdb::backup
