#include "backup/backup_writer.hpp"

#include "backup/durable_io.hpp"
#include "backup/incremental.hpp"
#include "backup/sha256.hpp"
#include "backup/tar_stream.hpp"
#include "storage/store.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>

namespace rstmdb::backup {

namespace fs = std::filesystem;

namespace {

std::int64_t unix_seconds_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The checkpoint's files, sorted by name. Anything but plain regular files is refused: a
// checkpoint is RocksDB's flat directory of SSTs, MANIFEST, CURRENT, OPTIONS and WAL files.
std::vector<std::string> checkpoint_files(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) {
      throw BackupError(BackupError::Kind::Io,
                        "checkpoint " + dir.string() + " holds " + name + ", which is not a regular file");
    }
    if (!valid_backup_path(std::string(kDbDirName) + "/" + name)) {
      throw BackupError(BackupError::Kind::Io,
                        "checkpoint " + dir.string() + " holds an unexpected file name");
    }
    names.push_back(name);
  }
  if (ec) throw_errno(ec.value(), "cannot list " + dir.string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string format_file_content() {
  return std::string(storage::kDataFormat) + "\n";
}

void check_expected(const BackupPlan& plan, const storage::DbSummary& got, const std::string& where) {
  if (plan.expected && *plan.expected != got) {
    throw BackupError(BackupError::Kind::Invalid,
                      where + " holds offset " + std::to_string(got.latest_offset) + " with " +
                          std::to_string(got.instances) + " instances, but the server reported offset " +
                          std::to_string(plan.expected->latest_offset) + " with " +
                          std::to_string(plan.expected->instances) + " instances");
  }
}

storage::DbSummary read_summary(const fs::path& db_dir, const BackupPlan& plan) {
  storage::SummaryOptions options;
  options.log_sink = plan.log_sink;
  try {
    return storage::read_db_summary(db_dir.string(), options);
  } catch (const storage::StorageError& e) {
    const bool corrupt = e.kind() == storage::StorageError::Kind::Corruption;
    throw BackupError(corrupt ? BackupError::Kind::Invalid : BackupError::Kind::Io, e.what());
  }
}

// Removes what killed runs left: every .tmp- entry (the caller holds DIR/.lock, so no other
// run is writing one).
std::vector<fs::path> remove_leftovers(const fs::path& dir) {
  std::vector<fs::path> removed;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(kTempPrefix)) removed.push_back(it->path());
  }
  if (ec) throw_errno(ec.value(), "cannot list " + dir.string());
  for (const auto& p : removed)
    remove_tree(p);
  if (!removed.empty()) fsync_directory(dir);
  return removed;
}

// Removes every backup of `dir` but the newest `keep`. Each one is first renamed to a .tmp-
// name (atomic), so a prune cut short never leaves a partial backup under a backup's name.
std::vector<fs::path> prune(const fs::path& dir, std::uint32_t keep) {
  std::vector<fs::path> pruned;
  const auto backups = list_backups(dir);
  for (std::size_t i = keep; i < backups.size(); ++i) {
    const fs::path doomed = dir / (std::string(kTempPrefix) + "delete-" + backups[i].filename().string());
    rename_no_replace(backups[i], doomed);
    pruned.push_back(backups[i]);
  }
  if (!pruned.empty()) fsync_directory(dir);
  for (const auto& p : pruned)
    remove_tree(dir / (std::string(kTempPrefix) + "delete-" + p.filename().string()));
  return pruned;
}

}  // namespace

std::string backup_name(const Manifest& manifest) {
  // created_at is "YYYY-MM-DDTHH:MM:SS.mmmZ"; the name uses the compact form.
  std::string compact;
  for (char c : manifest.created_at) {
    if (c != '-' && c != ':') compact.push_back(c);
  }
  return std::string(kBackupNamePrefix) + compact + "-" + std::to_string(manifest.summary.latest_offset);
}

std::vector<fs::path> list_backups(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (!name.starts_with(kBackupNamePrefix) || !it->is_directory(type_ec)) continue;
    if (fs::exists(it->path() / kManifestFileName, type_ec)) out.push_back(it->path());
  }
  if (ec) throw_errno(ec.value(), "cannot list " + dir.string());
  // The timestamp is fixed-width, so name order is time order.
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() > b.filename(); });
  return out;
}

WrittenBackup write_directory_backup(const fs::path& dir, BackupPlan plan,
                                     std::optional<std::uint32_t> keep) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (dir.has_parent_path()) {
      fs::create_directories(dir.parent_path(), ec);
      if (ec) throw_errno(ec.value(), "cannot create " + dir.parent_path().string());
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      throw_errno(errno, "cannot create " + dir.string());
  }
  if (is_incremental_repository(dir)) {
    throw BackupError(
        BackupError::Kind::Exists,
        dir.string() + " is an incremental backup repository; use --incremental or another directory");
  }
  auto lock = FileLock::try_lock(dir / kBackupDirLockName);
  if (!lock) throw BackupError(BackupError::Kind::Busy, "another backup is writing to " + dir.string());

  WrittenBackup out;
  out.removed = remove_leftovers(dir);
  const auto names = checkpoint_files(plan.checkpoint_dir);

  // The name needs the offset, which is read from the copy: copy under a provisional name.
  const fs::path tmp = dir / (std::string(kTempPrefix) + "writing");
  make_directory(tmp);
  make_directory(tmp / kDbDirName);
  Manifest& m = plan.manifest;
  m.files.clear();
  m.files.push_back(ManifestFile{std::string(kFormatFileName), 0, ""});
  std::size_t done = 0;
  for (const auto& name : names) {
    const FileDigest d = copy_file_durably(plan.checkpoint_dir / name, tmp / kDbDirName / name);
    m.files.push_back(ManifestFile{std::string(kDbDirName) + "/" + name, d.size, d.sha256});
    if (plan.after_file) plan.after_file(++done);
  }
  const FileDigest format = write_file_durably(tmp / kFormatFileName, format_file_content());
  m.files.front().size = format.size;
  m.files.front().sha256 = format.sha256;
  m.summary = read_summary(tmp / kDbDirName, plan);
  check_expected(plan, m.summary, "the copy of checkpoint " + plan.checkpoint_dir.string());
  write_file_durably(tmp / kManifestFileName, encode_manifest(m));
  fsync_directory(tmp / kDbDirName);
  fsync_directory(tmp);

  const std::string name = backup_name(m);
  rename_no_replace(tmp, dir / name);
  fsync_directory(dir);
  out.path = dir / name;
  out.manifest = m;
  if (keep) out.pruned = prune(dir, *keep);
  return out;
}

WrittenBackup write_tar_backup(int fd, std::string what, BackupPlan plan) {
  const auto names = checkpoint_files(plan.checkpoint_dir);
  Manifest& m = plan.manifest;
  m.summary = read_summary(plan.checkpoint_dir, plan);
  check_expected(plan, m.summary, "checkpoint " + plan.checkpoint_dir.string());
  const std::string format = format_file_content();
  Sha256 format_hash;
  format_hash.update(format.data(), format.size());
  m.files.clear();
  m.files.push_back(ManifestFile{std::string(kFormatFileName), format.size(), format_hash.hex_digest()});
  for (const auto& name : names) {
    const FileDigest d = digest_file(plan.checkpoint_dir / name);
    m.files.push_back(ManifestFile{std::string(kDbDirName) + "/" + name, d.size, d.sha256});
  }

  const std::string top = backup_name(m);
  const std::int64_t mtime = unix_seconds_now();
  TarWriter tar(fd, std::move(what));
  tar.directory(top, mtime);
  tar.file_from_bytes(top + "/" + std::string(kManifestFileName), encode_manifest(m), mtime);
  tar.file_from_bytes(top + "/" + std::string(kFormatFileName), format, mtime);
  tar.directory(top + "/" + std::string(kDbDirName), mtime);
  std::size_t done = 0;
  for (std::size_t i = 1; i < m.files.size(); ++i) {
    const ManifestFile& f = m.files[i];
    const FileDigest d =
        tar.file_from_path(top + "/" + f.path, plan.checkpoint_dir / names[i - 1], f.size, mtime);
    if (d.sha256 != f.sha256) {
      throw BackupError(BackupError::Kind::Io,
                        "checkpoint file " + names[i - 1] + " changed while it was archived");
    }
    if (plan.after_file) plan.after_file(++done);
  }
  tar.finish();
  WrittenBackup out;
  out.path = "-";
  out.manifest = m;
  return out;
}

}  // namespace rstmdb::backup
