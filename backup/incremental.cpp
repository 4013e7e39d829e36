#include "backup/incremental.hpp"

#include "backup/backup_writer.hpp"
#include "backup/durable_io.hpp"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/utilities/backup_engine.h>

#include <sys/stat.h>

#include <memory>

namespace rstmdb::backup {

namespace fs = std::filesystem;

namespace {

BackupError status_error(const std::string& what, const rocksdb::Status& s) {
  const bool corrupt = s.IsCorruption() || s.IsInvalidArgument() || s.IsNotFound() || s.IsPathNotFound();
  return BackupError(corrupt ? BackupError::Kind::Invalid : BackupError::Kind::Io,
                     what + ": " + s.ToString());
}

rocksdb::BackupEngineOptions engine_options(const fs::path& dir, const storage::RocksLogSink& log_sink,
                                            std::shared_ptr<rocksdb::Logger>& logger) {
  logger = storage::make_rocksdb_logger(log_sink);
  rocksdb::BackupEngineOptions o(dir.string());
  o.info_log = logger.get();
  o.share_table_files = true;
  o.share_files_with_checksum = true;
  o.sync = true;
  o.backup_log_files = true;  // a checkpoint's WAL tail is part of its point in time
  o.max_background_operations = 1;
  return o;
}

// The checkpoint, opened read-only with every column family (BackupEngine needs a DB).
class ReadOnlyCheckpoint {
 public:
  ReadOnlyCheckpoint(const fs::path& dir, const storage::RocksLogSink& log_sink) {
    rocksdb::DBOptions o;
    o.info_log = storage::make_rocksdb_logger(log_sink);
    o.max_open_files = 256;
    o.skip_stats_update_on_db_open = true;
    std::vector<std::string> names;
    auto s = rocksdb::DB::ListColumnFamilies(o, dir.string(), &names);
    if (!s.ok()) throw status_error("cannot open checkpoint " + dir.string(), s);
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : names)
      descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    s = rocksdb::DB::OpenForReadOnly(o, dir.string(), descriptors, &handles_, &raw);
    if (!s.ok()) throw status_error("cannot open checkpoint " + dir.string(), s);
    db_.reset(raw);
  }
  ~ReadOnlyCheckpoint() {
    for (auto* h : handles_)
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  ReadOnlyCheckpoint(const ReadOnlyCheckpoint&) = delete;
  ReadOnlyCheckpoint& operator=(const ReadOnlyCheckpoint&) = delete;
  rocksdb::DB* db() { return db_.get(); }

 private:
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
};

IncrementalBackup describe(const rocksdb::BackupInfo& info) {
  IncrementalBackup b;
  b.id = info.backup_id;
  b.size = info.size;
  b.file_count = info.number_files;
  try {
    b.metadata = decode_manifest(info.app_metadata, false);
  } catch (const BackupError& e) {
    throw BackupError(BackupError::Kind::Invalid,
                      "backup " + std::to_string(info.backup_id) + ": " + e.what());
  }
  return b;
}

}  // namespace

bool is_incremental_repository(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "meta", ec) &&
         (fs::is_directory(dir / "private", ec) || fs::is_directory(dir / "shared_checksum", ec));
}

IncrementalBackup write_incremental_backup(const fs::path& dir, const BackupPlan& plan,
                                           std::optional<std::uint32_t> keep) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    if (dir.has_parent_path()) {
      fs::create_directories(dir.parent_path(), ec);
      if (ec) throw_errno(ec.value(), "cannot create " + dir.parent_path().string());
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      throw_errno(errno, "cannot create " + dir.string());
  }
  if (!is_incremental_repository(dir)) {
    // A fresh directory becomes a repository; anything else is someone's data.
    bool only_lock = true;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().filename() != kBackupDirLockName) only_lock = false;
    }
    if (!only_lock || ec) {
      throw BackupError(BackupError::Kind::Exists,
                        dir.string() + " is not empty and not an incremental backup repository");
    }
  }
  auto lock = FileLock::try_lock(dir / kBackupDirLockName);
  if (!lock) throw BackupError(BackupError::Kind::Busy, "another backup is writing to " + dir.string());

  Manifest metadata = plan.manifest;
  metadata.files.clear();
  {
    storage::SummaryOptions summary_options;
    summary_options.log_sink = plan.log_sink;
    try {
      metadata.summary = storage::read_db_summary(plan.checkpoint_dir.string(), summary_options);
    } catch (const storage::StorageError& e) {
      throw BackupError(BackupError::Kind::Invalid, e.what());
    }
  }
  if (plan.expected && *plan.expected != metadata.summary) {
    throw BackupError(BackupError::Kind::Invalid, "checkpoint " + plan.checkpoint_dir.string() +
                                                      " does not hold what the server reported");
  }

  std::shared_ptr<rocksdb::Logger> logger;
  const auto options = engine_options(dir, plan.log_sink, logger);
  rocksdb::BackupEngine* raw = nullptr;
  rocksdb::Status s = rocksdb::BackupEngine::Open(rocksdb::Env::Default(), options, &raw);
  if (!s.ok()) throw status_error("cannot open backup repository " + dir.string(), s);
  const std::unique_ptr<rocksdb::BackupEngine> engine(raw);
  ReadOnlyCheckpoint checkpoint(plan.checkpoint_dir, plan.log_sink);
  rocksdb::CreateBackupOptions create;
  create.flush_before_backup = false;  // read-only and already flushed: a checkpoint
  std::size_t progress = 0;            // BackupEngine reports progress every few MiB copied
  if (plan.after_file) create.progress_callback = [&] { plan.after_file(++progress); };
  rocksdb::BackupID id = 0;
  s = engine->CreateNewBackupWithMetadata(create, checkpoint.db(), encode_manifest(metadata), &id);
  if (!s.ok()) throw status_error("cannot write a backup into " + dir.string(), s);
  if (keep) {
    s = engine->PurgeOldBackups(*keep);
    if (!s.ok()) throw status_error("cannot remove old backups from " + dir.string(), s);
  }
  rocksdb::BackupInfo info;
  s = engine->GetBackupInfo(id, &info);
  if (!s.ok()) throw status_error("cannot read back backup " + std::to_string(id), s);
  return describe(info);
}

std::vector<IncrementalBackup> verify_incremental_repository(const fs::path& dir, bool quick,
                                                             const storage::RocksLogSink& log_sink) {
  std::shared_ptr<rocksdb::Logger> logger;
  const auto options = engine_options(dir, log_sink, logger);
  rocksdb::BackupEngineReadOnly* raw = nullptr;
  rocksdb::Status s = rocksdb::BackupEngineReadOnly::Open(rocksdb::Env::Default(), options, &raw);
  if (!s.ok()) throw status_error("cannot open backup repository " + dir.string(), s);
  const std::unique_ptr<rocksdb::BackupEngineReadOnly> engine(raw);
  std::vector<rocksdb::BackupID> corrupt;
  engine->GetCorruptedBackups(&corrupt);
  if (!corrupt.empty()) {
    throw BackupError(BackupError::Kind::Invalid, "backup repository " + dir.string() + ": backup " +
                                                      std::to_string(corrupt.front()) + " is corrupt");
  }
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos);
  if (infos.empty())
    throw BackupError(BackupError::Kind::Invalid, "backup repository " + dir.string() + " is empty");
  std::vector<IncrementalBackup> out;
  for (const auto& info : infos) {
    s = engine->VerifyBackup(info.backup_id, !quick);
    if (!s.ok()) {
      throw BackupError(BackupError::Kind::Invalid, "backup " + std::to_string(info.backup_id) + " in " +
                                                        dir.string() + ": " + s.ToString());
    }
    out.push_back(describe(info));
  }
  return out;
}

IncrementalBackup restore_latest_incremental(const fs::path& dir, const fs::path& db_dir,
                                             const storage::RocksLogSink& log_sink) {
  if (!is_incremental_repository(dir)) {
    throw BackupError(BackupError::Kind::Invalid, dir.string() + " is not a backup repository");
  }
  std::shared_ptr<rocksdb::Logger> logger;
  const auto options = engine_options(dir, log_sink, logger);
  rocksdb::BackupEngineReadOnly* raw = nullptr;
  rocksdb::Status s = rocksdb::BackupEngineReadOnly::Open(rocksdb::Env::Default(), options, &raw);
  if (!s.ok()) throw status_error("cannot open backup repository " + dir.string(), s);
  const std::unique_ptr<rocksdb::BackupEngineReadOnly> engine(raw);
  rocksdb::BackupInfo info;
  s = engine->GetLatestBackupInfo(&info);
  if (!s.ok()) throw status_error("backup repository " + dir.string() + " has no usable backup", s);
  s = engine->VerifyBackup(info.backup_id, true);
  if (!s.ok()) {
    throw BackupError(BackupError::Kind::Invalid, "backup " + std::to_string(info.backup_id) + " in " +
                                                      dir.string() + ": " + s.ToString());
  }
  IncrementalBackup b = describe(info);
  if (fs::exists(db_dir)) {
    throw BackupError(BackupError::Kind::Io, db_dir.string() + " already exists");
  }
  rocksdb::RestoreOptions restore;
  s = engine->RestoreDBFromBackup(restore, info.backup_id, db_dir.string(), db_dir.string());
  if (!s.ok()) throw status_error("cannot restore backup " + std::to_string(info.backup_id), s);
  return b;
}

}  // namespace rstmdb::backup
