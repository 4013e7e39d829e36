#include "storage/store.hpp"

#include "storage/batch_prefetch.hpp"
#include "storage/keys.hpp"
#include "storage/ordered_memtable.hpp"
#include "storage/wal_file_system.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <system_error>
#include <utility>

namespace rstmdb::storage {

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

constexpr const char* kLockFileName = "rstmdbd.lock";
constexpr const char* kFormatFileName = "FORMAT";
constexpr const char* kFormatTempName = "FORMAT.tmp";
constexpr const char* kDbDirName = "db";
constexpr const char* kCheckpointsDirName = "checkpoints";
constexpr const char* kUpstreamWalDirName = "wal";

// Indexed by Cf. The names are part of the on-disk format.
constexpr std::array<const char*, kCfCount> kCfNames = {
    "machines", "instances", "log", "index", "idempotency", "snapshots", "meta", "counts",
};

// Deployment target is 2 cores: one flush and one compaction at a time.
constexpr int kBackgroundJobs = 2;
// Spread SST and WAL writeback so a flush or compaction does not queue a large burst of dirty
// pages ahead of the WAL fsync of a durable write.
constexpr std::uint64_t kBytesPerSync = 1 * kMiB;
// ~1% false positives; misses on idempotency keys and absent instances are the common case.
constexpr double kBloomBitsPerKey = 10.0;
// The memtable bloom filter of the instance and idempotency column families, as a fraction of
// the write buffer: 2% of a 32 MiB table is 640 KiB (stays in L2), some 60 bits per entry of
// a full table. perf, non-durable CREATE_INSTANCE (uuid ids) at 4 x 16: the memtable search
// for the new id was 15.5% of the sequencer, 2% with the filter; adding to it costs an
// APPLY_EVENT ~1.5% (docs/decisions.md).
constexpr double kMemtableBloomRatio = 0.02;
// The log CF is read by range scans (catch-up, WAL_READ): larger blocks compress better.
constexpr std::size_t kLogBlockSize = 16 * 1024;
// A backstop only: atomic_flush flushes every CF together, so WAL files normally become
// obsolete at each flush.
constexpr std::uint64_t kMaxTotalWalFactor = 4;

StorageError::Kind kind_of(const rocksdb::Status& s) {
  if (s.IsNoSpace()) return StorageError::Kind::NoSpace;
  if (s.IsCorruption()) return StorageError::Kind::Corruption;
  if (s.IsIOError()) return StorageError::Kind::Io;
  return StorageError::Kind::Other;
}

StorageError status_error(const std::string& what, const rocksdb::Status& s) {
  return StorageError(what + ": " + s.ToString(), kind_of(s));
}

// A file descriptor closed on scope exit unless released.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

OpenResult open_failure(OpenFailure failure, std::string message) {
  OpenResult r;
  r.failure = failure;
  r.message = std::move(message);
  return r;
}

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

bool is_permission_errno(int err) {
  return err == EACCES || err == EPERM;
}

// Content quoted in a message may be anything; keep it short and printable.
std::string printable(std::string_view s) {
  constexpr std::size_t kMaxShown = 64;
  std::string out;
  for (char c : s.substr(0, kMaxShown))
    out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  if (s.size() > kMaxShown) out += "...";
  return out;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool fsync_dir(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return fd.get() >= 0 && ::fsync(fd.get()) == 0;
}

// mkdir -p where only the data directory itself is forced to 0700: parents the operator did
// not ask for keep the umask default.
std::optional<OpenResult> create_data_dir(const fs::path& dir, const std::string& shown) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return std::nullopt;
  const fs::path parent = dir.parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) {
      return open_failure(
          is_permission_errno(ec.value()) ? OpenFailure::PermissionDenied : OpenFailure::CannotCreate,
          "cannot create data directory " + shown + ": " + ec.message());
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    const int err = errno;
    return open_failure(is_permission_errno(err) ? OpenFailure::PermissionDenied : OpenFailure::CannotCreate,
                        "cannot create data directory " + shown + ": " + errno_text(err));
  }
  if (!fs::is_directory(dir, ec)) {
    return open_failure(OpenFailure::CannotCreate,
                        "cannot create data directory " + shown + ": it exists and is not a directory");
  }
  return std::nullopt;
}

// The lock is an flock on an open file description, so it also excludes a second Store in the
// same process, and the kernel drops it when the holder dies.
std::optional<OpenResult> take_lock(const fs::path& dir, const std::string& shown, UniqueFd& out) {
  const fs::path path = dir / kLockFileName;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    const int err = errno;
    return open_failure(is_permission_errno(err) ? OpenFailure::PermissionDenied : OpenFailure::CannotCreate,
                        "cannot open lock file " + path.string() + ": " + errno_text(err));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      return open_failure(OpenFailure::Io, "cannot lock " + path.string() + ": " + errno_text(err));
    }
    std::array<char, 32> buf{};
    const ssize_t n = ::pread(fd.get(), buf.data(), buf.size() - 1, 0);
    std::string pid;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i)
      pid.push_back(buf[i]);
    // The holder writes its pid just after locking; a reader racing it sees an empty file.
    if (pid.empty()) pid = "unknown";
    return open_failure(OpenFailure::Locked,
                        "data directory " + shown + " is in use by another rstmdbd (pid " + pid + ")");
  }
  const std::string content = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || !write_all(fd.get(), content)) {
    const int err = errno;
    return open_failure(OpenFailure::Io, "cannot write " + path.string() + ": " + errno_text(err));
  }
  out.reset(fd.release());
  return std::nullopt;
}

bool has_upstream_wal(const fs::path& dir) {
  std::error_code ec;
  const fs::path wal = dir / kUpstreamWalDirName;
  if (!fs::is_directory(wal, ec)) return false;
  for (fs::directory_iterator it(wal, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".wal") return true;
  }
  return false;
}

// Entries a fresh directory may hold before FORMAT exists: our own lock, a FORMAT write cut
// short by a crash, and what mkfs or a stale server leaves behind.
bool allowed_in_new_dir(const std::string& name) {
  return name == kLockFileName || name == kFormatTempName || name == "lost+found" || name == "admin.sock";
}

std::optional<OpenResult> write_format(const fs::path& dir) {
  const fs::path tmp = dir / kFormatTempName;
  const fs::path final_path = dir / kFormatFileName;
  auto io_failure = [&](int err, const fs::path& what) {
    return open_failure(is_permission_errno(err) ? OpenFailure::PermissionDenied : OpenFailure::Io,
                        "cannot write " + what.string() + ": " + errno_text(err));
  };
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return io_failure(errno, tmp);
    const std::string content = std::string(kDataFormat) + "\n";
    if (!write_all(fd.get(), content) || ::fsync(fd.get()) != 0) return io_failure(errno, tmp);
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) return io_failure(errno, final_path);
  if (!fsync_dir(dir)) return io_failure(errno, dir);
  return std::nullopt;
}

// runtime.md §5.1 step 4.
std::optional<OpenResult> check_format(const fs::path& dir, const std::string& shown) {
  const fs::path path = dir / kFormatFileName;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() >= 0) {
    std::string content;
    std::array<char, 256> buf{};
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        return open_failure(OpenFailure::Io, "cannot read " + path.string() + ": " + errno_text(err));
      }
      if (n == 0) break;
      content.append(buf.data(), static_cast<std::size_t>(n));
      if (content.size() > 4096) break;  // no FORMAT of ours is this long; enough to reject it
    }
    if (!content.empty() && content.back() == '\n') content.pop_back();
    if (content != kDataFormat) {
      return open_failure(OpenFailure::Incompatible, "data directory " + shown + " has FORMAT \"" +
                                                         printable(content) + "\", this rstmdbd needs \"" +
                                                         std::string(kDataFormat) + "\"");
    }
    return std::nullopt;
  }
  if (errno != ENOENT) {
    const int err = errno;
    return open_failure(is_permission_errno(err) ? OpenFailure::PermissionDenied : OpenFailure::Io,
                        "cannot read " + path.string() + ": " + errno_text(err));
  }

  std::error_code ec;
  if (has_upstream_wal(dir) && !fs::exists(dir / kDbDirName, ec)) {
    return open_failure(
        OpenFailure::Incompatible,
        "data directory " + shown +
            " holds an upstream rstmdb layout (wal/*.wal, no db/), which rstmdb-cpp cannot open in place; "
            "to migrate, serve it with the upstream rstmdb server and copy machines and instances into "
            "rstmdb-cpp through the protocol, or point storage.data_dir at a new directory");
  }
  // Without FORMAT, only a new directory is ours to initialise: anything else is someone
  // else's data (and checkpoints/ is emptied at open).
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!allowed_in_new_dir(name)) {
      return open_failure(OpenFailure::Incompatible, "data directory " + shown +
                                                         " has no FORMAT file but is not empty (found \"" +
                                                         printable(name) + "\"); refusing to initialise it");
    }
  }
  if (ec) return open_failure(OpenFailure::Io, "cannot list data directory " + shown + ": " + ec.message());
  return write_format(dir);
}

std::optional<OpenResult> reset_checkpoints(const fs::path& dir) {
  const fs::path path = dir / kCheckpointsDirName;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> entries;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
      entries.push_back(it->path());
    for (const auto& entry : entries) {
      if (ec) break;
      fs::remove_all(entry, ec);
    }
    if (ec) return open_failure(OpenFailure::Io, "cannot empty " + path.string() + ": " + ec.message());
    return std::nullopt;
  }
  if (::mkdir(path.c_str(), 0700) != 0) {
    const int err = errno;
    return open_failure(is_permission_errno(err) ? OpenFailure::PermissionDenied : OpenFailure::Io,
                        "cannot create " + path.string() + ": " + errno_text(err));
  }
  return std::nullopt;
}

OpenResult map_open_status(const rocksdb::Status& s, const std::string& db_path) {
  const std::string text = s.ToString();
  const std::string message = "cannot open RocksDB at " + db_path + ": " + text;
  // Corruption, unknown column families, options the files were not written with, or a file
  // the MANIFEST (or CURRENT) names that is gone: the data is not something we can serve.
  if (s.IsCorruption() || s.IsInvalidArgument() || s.IsNotSupported() || s.IsPathNotFound()) {
    return open_failure(OpenFailure::Incompatible, message);
  }
  if (s.IsIOError()) {
    if (text.find(std::strerror(EACCES)) != std::string::npos) {
      return open_failure(OpenFailure::PermissionDenied, message);
    }
    // RocksDB's own LOCK is the second barrier against a writer that bypassed rstmdbd.lock.
    if (text.find("While lock file") != std::string::npos || text.find("lock hold") != std::string::npos) {
      return open_failure(OpenFailure::Locked, message);
    }
  }
  return open_failure(OpenFailure::Io, message);
}

rocksdb::CompressionType pick_compression(const std::vector<rocksdb::CompressionType>& supported,
                                          std::initializer_list<rocksdb::CompressionType> preferred) {
  for (auto c : preferred) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) return c;
  }
  return rocksdb::kNoCompression;
}

rocksdb::ColumnFamilyOptions cf_options(Cf cf, const StoreOptions& options,
                                        const std::shared_ptr<rocksdb::Cache>& cache,
                                        const std::shared_ptr<OrderedMemTableFactory>& ordered) {
  rocksdb::ColumnFamilyOptions o;
  // Half the budget per column family: RocksDB's write-buffer manager cannot see the ordered
  // memtable's memory, so the budget is kept by the per-table limit. The change log's table
  // fills first (it holds the most bytes per write) and atomic flush then flushes every CF, at
  // which point instances and indexes hold about the other half.
  o.write_buffer_size = static_cast<std::size_t>(options.write_buffer_mb * kMiB / 2);
  // Every CF uses the default bytewise comparator, which the ordered memtable requires.
  switch (options.memtable) {
    case MemtableKind::Ordered: {
      o.memtable_factory = ordered;
      break;
    }
    case MemtableKind::SkipList: {
      static const auto skiplist = std::make_shared<rocksdb::SkipListFactory>();
      o.memtable_factory = skiplist;
      break;
    }
  }
  o.compaction_style = rocksdb::kCompactionStyleLevel;
  // Keeps space amplification near 1.1 whatever the data size; trimmed log ranges and
  // overwritten instances are the bulk of garbage here.
  o.level_compaction_dynamic_level_bytes = true;

  const auto supported = rocksdb::GetSupportedCompressions();
  o.compression = pick_compression(supported, {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression});
  // The change log is appended in key order: its flushed files never overlap and move down
  // the levels without a rewrite, but only while every level uses the same compression.
  o.bottommost_compression =
      cf == Cf::Log ? o.compression
                    : pick_compression(
                          supported, {rocksdb::kZSTD, rocksdb::kLZ4Compression, rocksdb::kSnappyCompression});

  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  // Index and filter blocks live in the block cache so memory stays within block_cache_mb;
  // L0 ones are pinned because every read consults them.
  t.cache_index_and_filter_blocks = true;
  t.cache_index_and_filter_blocks_with_high_priority = true;
  t.pin_l0_filter_and_index_blocks_in_cache = true;
  t.format_version = 5;
  switch (cf) {
    case Cf::Instances:
    case Cf::Machines:
    case Cf::Idempotency:
    case Cf::Snapshots:
      if (cf == Cf::Instances || cf == Cf::Idempotency) {
        // A create (and an idempotency check) looks up a key that is usually absent: the
        // memtable's bloom filter answers that without a search of the table.
        o.memtable_prefix_bloom_size_ratio = kMemtableBloomRatio;
        o.memtable_whole_key_filtering = true;
      }
      t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
      t.optimize_filters_for_memory = true;
      t.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
      break;
    case Cf::Log:
      t.block_size = kLogBlockSize;
      break;
    case Cf::Index:
    case Cf::Meta:
    case Cf::Counts:
      break;
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

rocksdb::Options db_options(const StoreOptions& options, rocksdb::Env* env,
                            std::shared_ptr<rocksdb::Logger> logger,
                            std::shared_ptr<rocksdb::EventListener> listener) {
  rocksdb::Options o;
  o.env = env;
  if (options.statistics) o.statistics = options.statistics;
  // No info LOG file: RocksDB's lines go to our log (rocksdb_log.hpp explains the abort this
  // avoids on a full disk).
  o.info_log = std::move(logger);
  o.listeners.push_back(std::move(listener));
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  // A batch spans CFs (state + log + index); flushing them together keeps the SSTs of one
  // crash-consistent point even if the WAL is lost after a flush.
  o.atomic_flush = true;
  o.max_open_files = options.max_open_files;
  o.max_background_jobs = kBackgroundJobs;
  o.max_subcompactions = 1;
  // One writer at a time inserts into the memtables (the sequencer or the committer, never
  // both), and the ordered memtable relies on it.
  o.allow_concurrent_memtable_write = false;
  o.bytes_per_sync = kBytesPerSync;
  o.wal_bytes_per_sync = kBytesPerSync;
  // Counts only RocksDB's own arenas (range deletions); the ordered memtable's memory is
  // bounded per CF by write_buffer_size (cf_options). With atomic flush all memtables flush as
  // one, and each flush starts a new WAL file of about storage.wal_segment_size_mb.
  o.db_write_buffer_size = static_cast<std::size_t>(options.write_buffer_mb * kMiB);
  o.max_total_wal_size = kMaxTotalWalFactor * options.write_buffer_mb * kMiB;
  // Restart must not grow with history: do not read every SST's properties at open.
  o.skip_stats_update_on_db_open = true;
  return o;
}

}  // namespace

// The first storage failure, and who to tell. Shared by the Store and its RocksDB listener,
// which may outlive the Store object by a moment while RocksDB shuts its threads down.
struct Store::FailureState {
  mutable std::mutex mutex;
  std::optional<StorageError> first;
  std::function<void(const StorageError&)> handler;
  bool handler_told = false;

  // Records `e` if it is the first failure; returns the handler to call (outside the lock)
  // when the handler has not heard of a failure yet.
  std::function<void(const StorageError&)> record(const StorageError& e) {
    std::lock_guard lock(mutex);
    if (!first) first = e;
    if (handler && !handler_told) {
      handler_told = true;
      return handler;
    }
    return {};
  }
};

namespace {

class BackgroundErrorListener final : public rocksdb::EventListener {
 public:
  explicit BackgroundErrorListener(std::shared_ptr<Store::FailureState> state) : state_(std::move(state)) {}

  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* bg_error) override {
    if (bg_error == nullptr || bg_error->ok()) return;
    const StorageError e = status_error(std::string("background ") + reason_name(reason), *bg_error);
    if (auto handler = state_->record(e)) handler(e);
  }

  // Fail-stop: the process exits and RocksDB's recovery at the next open decides what is on
  // disk; resuming writes in this process could reuse offsets the engine already handed out.
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* auto_recovery) override {
    if (auto_recovery != nullptr) *auto_recovery = false;
  }

 private:
  static const char* reason_name(rocksdb::BackgroundErrorReason reason) {
    switch (reason) {
      case rocksdb::BackgroundErrorReason::kFlush:
        return "flush";
      case rocksdb::BackgroundErrorReason::kCompaction:
        return "compaction";
      case rocksdb::BackgroundErrorReason::kWriteCallback:
        return "write";
      case rocksdb::BackgroundErrorReason::kMemTable:
        return "memtable";
      case rocksdb::BackgroundErrorReason::kManifestWrite:
        return "manifest write";
      case rocksdb::BackgroundErrorReason::kFlushNoWAL:
        return "flush";
      case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL:
        return "manifest write";
    }
    return "error";
  }

  std::shared_ptr<Store::FailureState> state_;
};

}  // namespace

std::string_view cf_name(Cf cf) {
  return kCfNames[static_cast<std::size_t>(cf)];
}

// --- DataDirLock ------------------------------------------------------------------------------

LockResult DataDirLock::acquire(const std::string& dir) {
  UniqueFd fd;
  LockResult result;
  if (auto failure = take_lock(fs::path(dir), dir, fd)) {
    result.failure = failure->failure;
    result.message = std::move(failure->message);
    return result;
  }
  result.lock.emplace(DataDirLock(fd.release()));
  return result;
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DataDirLock& DataDirLock::operator=(DataDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

// --- Batch ------------------------------------------------------------------------------------

Batch::Batch() : batch_(std::make_unique<rocksdb::WriteBatch>()) {}
Batch::~Batch() = default;
Batch::Batch(Batch&&) noexcept = default;
Batch& Batch::operator=(Batch&&) noexcept = default;

namespace {

[[noreturn]] void throw_batch_error(const char* what, const rocksdb::Status& s) {
  throw status_error(std::string("batch ") + what, s);
}

}  // namespace

void Batch::put(Cf cf, std::string_view key, std::string_view value) {
  if (!store_) throw StorageError("batch was not created by Store::new_batch", StorageError::Kind::Other);
  if (!batch_) batch_ = std::make_unique<rocksdb::WriteBatch>();
  const auto s = batch_->Put(store_->handle(cf), rocksdb::Slice(key.data(), key.size()),
                             rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) throw_batch_error("put", s);
}

void Batch::del(Cf cf, std::string_view key) {
  if (!store_) throw StorageError("batch was not created by Store::new_batch", StorageError::Kind::Other);
  if (!batch_) batch_ = std::make_unique<rocksdb::WriteBatch>();
  const auto s = batch_->Delete(store_->handle(cf), rocksdb::Slice(key.data(), key.size()));
  if (!s.ok()) throw_batch_error("delete", s);
}

void Batch::delete_range(Cf cf, std::string_view begin, std::string_view end) {
  if (!store_) throw StorageError("batch was not created by Store::new_batch", StorageError::Kind::Other);
  if (!batch_) batch_ = std::make_unique<rocksdb::WriteBatch>();
  const auto s = batch_->DeleteRange(store_->handle(cf), rocksdb::Slice(begin.data(), begin.size()),
                                     rocksdb::Slice(end.data(), end.size()));
  if (!s.ok()) throw_batch_error("delete_range", s);
}

void Batch::clear() {
  if (batch_) batch_->Clear();
}

bool Batch::empty() const {
  return !batch_ || batch_->Count() == 0;
}

std::size_t Batch::data_size() const {
  return batch_ ? batch_->GetDataSize() : 0;
}

// --- Store ------------------------------------------------------------------------------------

OpenResult Store::open(const StoreOptions& options) {
  fs::path dir = fs::path(options.data_dir).lexically_normal();
  if (!dir.empty() && !dir.has_filename()) dir = dir.parent_path();  // "data/" → "data"
  if (dir.empty()) return open_failure(OpenFailure::CannotCreate, "storage.data_dir is empty");
  const std::string& shown = options.data_dir;

  if (auto failure = create_data_dir(dir, shown)) return std::move(*failure);
  UniqueFd lock;
  if (auto failure = take_lock(dir, shown, lock)) return std::move(*failure);
  if (auto failure = check_format(dir, shown)) return std::move(*failure);
  if (auto failure = reset_checkpoints(dir)) return std::move(*failure);

  std::unique_ptr<Store> store(new Store());
  store->data_dir_ = options.data_dir;
  store->failure_ = std::make_shared<FailureState>();
  store->logger_ = make_rocksdb_logger(options.log_sink);
  store->block_cache_ = rocksdb::NewLRUCache(static_cast<std::size_t>(options.block_cache_mb * kMiB));

  const std::string db_path = (dir / kDbDirName).string();
  // Created here (0700, durably) rather than by RocksDB, which logs an ERROR line when it
  // looks into a missing directory on a first start.
  if (::mkdir(db_path.c_str(), 0700) == 0) {
    if (!fsync_dir(dir)) {
      const int err = errno;
      return open_failure(is_permission_errno(err) ? OpenFailure::PermissionDenied : OpenFailure::Io,
                          "cannot sync " + dir.string() + ": " + errno_text(err));
    }
  } else if (errno != EEXIST) {
    const int err = errno;
    return open_failure(is_permission_errno(err) ? OpenFailure::PermissionDenied : OpenFailure::Io,
                        "cannot create " + db_path + ": " + errno_text(err));
  }
  store->env_ = make_store_env(options.env);
  rocksdb::Options db_opts = db_options(options, store->env_.get(), store->logger_,
                                        std::make_shared<BackgroundErrorListener>(store->failure_));
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  // One factory for all CFs: their tables share a pool of freed node blocks as large as the
  // write-buffer budget, so a new memtable reuses the memory a flushed one held instead of
  // faulting in (and zeroing) fresh pages on the writer's thread.
  // Built only for the ordered kind; cf_options never reads it for the skip list.
  const auto ordered = options.memtable == MemtableKind::Ordered
                           ? std::make_shared<OrderedMemTableFactory>(static_cast<std::size_t>(
                                 options.write_buffer_mb * kMiB / MemtableBlockPool::kBlockBytes))
                           : nullptr;
  // The default CF is unused; it gets small-CF options so it shares the block cache.
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName,
                           cf_options(Cf::Meta, options, store->block_cache_, ordered));
  for (std::size_t i = 0; i < kCfCount; ++i) {
    descriptors.emplace_back(kCfNames[i],
                             cf_options(static_cast<Cf>(i), options, store->block_cache_, ordered));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s =
      rocksdb::DB::Open(rocksdb::DBOptions(db_opts), db_path, descriptors, &handles, &raw);
  if (!s.ok()) return map_open_status(s, db_path);
  store->db_.reset(raw);
  store->default_handle_ = handles.at(0);
  store->handles_.assign(handles.begin() + 1, handles.end());
  store->lock_fd_ = lock.release();
  if (ordered) {
    // The change log's keys append in order; they need no warming.
    store->batch_prefetch_ = std::make_unique<BatchPrefetch>(ordered, store->handle(Cf::Log)->GetID());
  }

  OpenResult result;
  result.store = std::move(store);
  return result;
}

Store::~Store() {
  // Best effort: a caller that needs to know about failures calls flush_all() first. The
  // flush makes the next open replay no WAL.
  auto report = [](const char* what, const rocksdb::Status& s) {
    if (!s.ok()) std::cerr << "rstmdbd: storage: " << what << " at close failed: " << s.ToString() << '\n';
  };
  if (db_ && failure()) {
    // A failed store is left as it is on disk, like after a crash; RocksDB recovers it at the
    // next open. It is not closed: closing after a failed write can trip RocksDB 7.8's own
    // assertions (ColumnFamilySet::~ColumnFamilySet 'last_ref' after a failed atomic flush,
    // facebook/rocksdb#12176). The server exits right after a failure anyway; in a process
    // that goes on (tests), the database object, its threads and the data-dir lock are kept
    // for the process's lifetime, reachable from here, so nothing else can open the directory
    // while they live.
    struct Abandoned {
      std::unique_ptr<rocksdb::Env> env;  // the database runs on it: kept as long
      std::unique_ptr<rocksdb::DB> db;
      std::vector<rocksdb::ColumnFamilyHandle*> handles;
      int lock_fd;
    };
    static auto* const abandoned = new std::vector<Abandoned>();
    static std::mutex abandoned_mutex;
    std::lock_guard lock(abandoned_mutex);
    handles_.push_back(default_handle_);
    abandoned->push_back(Abandoned{std::move(env_), std::move(db_), std::move(handles_), lock_fd_});
    lock_fd_ = -1;
    return;
  }
  if (db_) {
    std::vector<rocksdb::ColumnFamilyHandle*> all(handles_);
    all.push_back(default_handle_);
    report("WAL sync", db_->FlushWAL(true));
    rocksdb::FlushOptions flush;
    flush.allow_write_stall = true;
    report("memtable flush", db_->Flush(flush, all));
    for (auto* h : all)
      report("column family release", db_->DestroyColumnFamilyHandle(h));
    handles_.clear();
    default_handle_ = nullptr;
    report("close", db_->Close());
    db_.reset();
  }
  if (lock_fd_ >= 0) {
    // Closing the descriptor drops the flock. The file stays: unlinking it would let two
    // processes lock different inodes under the same name.
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
}

Batch Store::new_batch() const {
  Batch b;
  b.store_ = this;
  return b;
}

std::optional<std::string> Store::get(Cf cf, std::string_view key) const {
  rocksdb::PinnableSlice value;
  const auto s = db_->Get(rocksdb::ReadOptions(), handle(cf), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) throw status_error(std::string("read from ") + kCfNames[static_cast<std::size_t>(cf)], s);
  return value.ToString();
}

void Store::scan(Cf cf, std::string_view prefix, std::string_view start,
                 const std::function<bool(std::string_view key, std::string_view value)>& visit) const {
  // An iterator reads one implicit snapshot, so a scan sees a single commit point.
  rocksdb::ReadOptions ro;
  const std::string upper = prefix.empty() ? std::string() : prefix_end(prefix);
  const rocksdb::Slice upper_slice(upper);
  // The bound lets RocksDB stop at the prefix's end without reading into the next blocks.
  if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handle(cf)));
  const std::string_view seek = start < prefix ? prefix : start;
  for (it->Seek(rocksdb::Slice(seek.data(), seek.size())); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    const std::string_view key(k.data(), k.size());
    if (!prefix.empty() && !key.starts_with(prefix)) break;
    const rocksdb::Slice v = it->value();
    if (!visit(key, std::string_view(v.data(), v.size()))) break;
  }
  const auto s = it->status();
  if (!s.ok()) throw status_error(std::string("scan of ") + kCfNames[static_cast<std::size_t>(cf)], s);
}

struct Store::Cursor::State {
  std::string prefix;
  std::string upper;  // prefix_end(prefix); the iterator's bound points at it
  rocksdb::Slice upper_slice;
  std::unique_ptr<rocksdb::Iterator> it;
  const char* cf_name = "";
};

Store::Cursor::~Cursor() = default;
Store::Cursor::Cursor(Cursor&&) noexcept = default;
Store::Cursor& Store::Cursor::operator=(Cursor&&) noexcept = default;

Store::Cursor Store::cursor(Cf cf, std::string_view prefix) const {
  Cursor c;
  c.state_ = std::make_unique<Cursor::State>();
  auto& st = *c.state_;
  st.prefix = std::string(prefix);
  st.cf_name = kCfNames[static_cast<std::size_t>(cf)];
  rocksdb::ReadOptions ro;
  if (!prefix.empty()) {
    st.upper = prefix_end(prefix);
    st.upper_slice = rocksdb::Slice(st.upper);
    if (!st.upper.empty()) ro.iterate_upper_bound = &st.upper_slice;
  }
  st.it.reset(db_->NewIterator(ro, handle(cf)));
  return c;
}

void Store::Cursor::check() const {
  const auto s = state_->it->status();
  if (!s.ok()) throw status_error(std::string("scan of ") + state_->cf_name, s);
}

void Store::Cursor::seek(std::string_view key) {
  const std::string_view target = key < state_->prefix ? std::string_view(state_->prefix) : key;
  state_->it->Seek(rocksdb::Slice(target.data(), target.size()));
  check();
}

bool Store::Cursor::valid() const {
  if (!state_->it->Valid()) return false;
  const auto k = state_->it->key();
  return std::string_view(k.data(), k.size()).starts_with(state_->prefix);
}

std::string_view Store::Cursor::key() const {
  const auto k = state_->it->key();
  return {k.data(), k.size()};
}

std::string_view Store::Cursor::value() const {
  const auto v = state_->it->value();
  return {v.data(), v.size()};
}

void Store::Cursor::next() {
  state_->it->Next();
  check();
}

std::optional<std::string> Store::last_key(Cf cf) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(cf)));
  it->SeekToLast();
  if (!it->status().ok())
    throw status_error(std::string("last key of ") + kCfNames[static_cast<std::size_t>(cf)], it->status());
  if (!it->Valid()) return std::nullopt;
  return it->key().ToString();
}

std::optional<StorageError> Store::write(Batch& batch, bool sync) {
  if (batch.store_ != this)
    return StorageError("batch was not created by this store", StorageError::Kind::Other);
  if (auto failed = failure()) return failed;
  if (!batch.batch_) batch.batch_ = std::make_unique<rocksdb::WriteBatch>();
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  std::lock_guard lock(write_mutex_);
  if (batch_prefetch_) batch_prefetch_->run(*batch.batch_);
  const auto s = db_->Write(wo, batch.batch_.get());
  if (!s.ok()) return fail(status_error("write", s));
  return std::nullopt;
}

std::optional<StorageError> Store::sync_wal() {
  if (auto failed = failure()) return failed;
  // FlushWAL(true) also covers manual_wal_flush, where SyncWAL alone would miss buffered bytes.
  const auto s = db_->FlushWAL(true);
  if (!s.ok()) return fail(status_error("WAL sync", s));
  return std::nullopt;
}

std::optional<StorageError> Store::compact_range(Cf cf, std::string_view begin, std::string_view end) {
  rocksdb::CompactRangeOptions o;
  // Deleted ranges usually sit in the bottommost level, which a normal manual compaction
  // skips; forcing it is what drops the covered data and the tombstones.
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  o.exclusive_manual_compaction = false;
  const rocksdb::Slice b(begin.data(), begin.size());
  const rocksdb::Slice e(end.data(), end.size());
  const auto s = db_->CompactRange(o, handle(cf), begin.empty() ? nullptr : &b, end.empty() ? nullptr : &e);
  if (!s.ok()) return status_error(std::string("compaction of ") + kCfNames[static_cast<std::size_t>(cf)], s);
  return std::nullopt;
}

Store::CfFiles Store::cf_files(Cf cf) const {
  rocksdb::ColumnFamilyMetaData meta;
  db_->GetColumnFamilyMetaData(handle(cf), &meta);
  CfFiles out;
  out.file_count = meta.file_count + meta.blob_file_count;
  out.total_bytes = meta.size + meta.blob_file_size;
  if (cf == Cf::Log) {
    std::uint64_t active = 0, immutable = 0, mem_bytes = 0;
    // A property that is unavailable reads as 0: this is a statistic, not state.
    if (!db_->GetIntProperty(handle(cf), rocksdb::DB::Properties::kNumEntriesActiveMemTable, &active))
      active = 0;
    if (!db_->GetIntProperty(handle(cf), rocksdb::DB::Properties::kNumEntriesImmMemTables, &immutable)) {
      immutable = 0;
    }
    if (active + immutable > 0) {
      if (!db_->GetIntProperty(handle(cf), rocksdb::DB::Properties::kCurSizeAllMemTables, &mem_bytes)) {
        mem_bytes = 0;
      }
      out.file_count += 1;
      out.total_bytes += mem_bytes;
    }
    out.file_count = std::max<std::uint64_t>(out.file_count, 1);
  }
  return out;
}

std::uint64_t Store::disk_bytes() const {
  // Files come and go under compaction while we walk; a vanished file simply counts 0.
  std::uint64_t total = 0;
  std::error_code ec;
  const fs::path db_path = fs::path(data_dir_) / kDbDirName;
  for (fs::recursive_directory_iterator it(db_path, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec) || file_ec) continue;
    const auto size = it->file_size(file_ec);
    if (!file_ec) total += size;
  }
  return total;
}

std::optional<StorageError> Store::checkpoint(const std::string& dir) const {
  std::error_code ec;
  const fs::path parent = fs::path(dir).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) return StorageError{"checkpoint: cannot create " + parent.string() + ": " + ec.message()};
  }
  rocksdb::Checkpoint* raw = nullptr;
  auto s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return status_error("checkpoint", s);
  const std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  // log_size_for_flush = 0: always flush first (atomic_flush: every CF at one sequence number),
  // so the checkpoint is those SSTs plus the WAL written after the flush, copied up to the size
  // it had once the live-file list was taken. Each write group is one WriteBatch, which is one
  // WAL record: a record cut off at that size is dropped whole by point-in-time recovery when
  // the checkpoint is opened, so what it holds is always a prefix of the commit sequence.
  s = cp->CreateCheckpoint(dir, 0);
  if (!s.ok()) return status_error("checkpoint", s);
  return std::nullopt;
}

std::optional<StorageError> Store::flush_all() {
  if (auto failed = failure()) return failed;
  // Sync first: if the flush fails, acknowledged writes are still durable in the WAL.
  auto s = db_->FlushWAL(true);
  if (!s.ok()) return fail(status_error("WAL sync", s));
  std::vector<rocksdb::ColumnFamilyHandle*> all(handles_);
  all.push_back(default_handle_);
  rocksdb::FlushOptions flush;
  flush.allow_write_stall = true;
  s = db_->Flush(flush, all);
  if (!s.ok()) return fail(status_error("memtable flush", s));
  return std::nullopt;
}

void Store::set_block_cache_mb(std::uint64_t mb) {
  block_cache_->SetCapacity(static_cast<std::size_t>(mb * kMiB));
}

}  // namespace rstmdb::storage

namespace rstmdb::storage {

void Store::set_background_error_handler(std::function<void(const StorageError&)> handler) {
  std::optional<StorageError> pending;
  {
    std::lock_guard lock(failure_->mutex);
    failure_->handler = std::move(handler);
    failure_->handler_told = false;
    if (failure_->first && failure_->handler) {
      failure_->handler_told = true;
      pending = failure_->first;
    }
  }
  if (pending) failure_->handler(*pending);
}

StorageError Store::fail(StorageError cause) {
  mark_failed(cause);
  return cause;
}

void Store::mark_failed(const StorageError& cause) {
  std::lock_guard lock(failure_->mutex);
  if (!failure_->first) failure_->first = cause;
}

std::optional<StorageError> Store::failure() const {
  std::lock_guard lock(failure_->mutex);
  return failure_->first;
}

}  // namespace rstmdb::storage
