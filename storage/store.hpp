// The RocksDB-backed store: data-directory ownership (lock, FORMAT), column families, point
// reads, ordered scans, atomic batch writes and WAL syncs. It knows byte layouts of keys
// (keys.hpp) and records (records.hpp) but nothing of state-machine semantics; the engine
// decides what to write.
//
// Data directory (runtime.md §5.6):
//   <data_dir>/rstmdbd.lock   flock(LOCK_EX|LOCK_NB) held for the Store's lifetime; holds "pid\n"
//   <data_dir>/FORMAT         "rstmdb-cpp-data 1"
//   <data_dir>/db/            RocksDB
//   <data_dir>/checkpoints/   emptied at open
//
// Thread-safety: reads, scans, write() and sync_wal() may be called from any thread
// concurrently. Durability: write(batch, sync=true) returns only after the WAL holding the
// batch is synced; a batch is applied atomically (all of it survives a crash or none).
#pragma once

#include "storage/rocksdb_log.hpp"
#include "storage/storage_error.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rocksdb {
class DB;
class Statistics;
class ColumnFamilyHandle;
class WriteBatch;
class Cache;
}  // namespace rocksdb

namespace rstmdb::storage {

// Column families. Key layouts are in keys.hpp.
enum class Cf : unsigned char {
  Machines,     // machine_key(name, version)        → MachineRecord
  Instances,    // instance_id                        → InstanceRecord (live or tombstone)
  Log,          // offset_key(offset)                 → change-log entry JSON
  Index,        // index keys (keys.hpp)              → "" (LIST_INSTANCES filters)
  Idempotency,  // idempotency_key(scope, ...)        → IdempotencyRecord
  Snapshots,    // instance_id                        → snapshot JSON
  Meta,         // fixed names (keys.hpp kMeta*)      → values (u64 BE unless stated)
  Counts,       // count_key(machine, state)          → u64 BE live instances in that state
};
inline constexpr std::size_t kCfCount = 8;

// The column family's name in RocksDB ("machines", "instances", ...): part of the on-disk format.
std::string_view cf_name(Cf cf);

// Why open() failed, mapped to exit codes by the caller (runtime.md §5.8).
enum class OpenFailure {
  CannotCreate,      // 73: data dir could not be created
  PermissionDenied,  // 77
  Locked,            // 75: another process holds rstmdbd.lock
  Incompatible,      // 65: FORMAT mismatch, upstream layout, corrupt DB
  Io,                // 74: other I/O error opening RocksDB
};

// Contents of <data_dir>/FORMAT (the file holds this line plus "\n"; a missing newline is
// accepted). Backup and restore write it too.
inline constexpr std::string_view kDataFormat = "rstmdb-cpp-data 1";

// The memtable representation of every column family (storage.memtable).
enum class MemtableKind {
  Ordered,   // ours (ordered_memtable.hpp): the default
  SkipList,  // RocksDB's own skip list
};

struct StoreOptions {
  std::string data_dir = "./data";
  std::uint64_t block_cache_mb = 256;
  int max_open_files = 1024;
  std::uint64_t write_buffer_mb = 64;  // storage.wal_segment_size_mb
  MemtableKind memtable = MemtableKind::Ordered;
  // RocksDB's own log lines go here; there is no info LOG file (rocksdb_log.hpp). Null: dropped.
  RocksLogSink log_sink;
  // Test seam: RocksDB runs on this Env, e.g. one whose FileSystem injects faults or simulates
  // a power cut (tests/unit/storage). Null: rocksdb::Env::Default(). Must outlive the Store.
  rocksdb::Env* env = nullptr;
  // Test seam: RocksDB counts its work here (tickers such as NUMBER_DB_NEXT), so tests can
  // check how much a read did. Null: no statistics (they cost a little on every operation).
  std::shared_ptr<rocksdb::Statistics> statistics;
};

class Store;
class DataDirLock;
class BatchPrefetch;

// The outcome of DataDirLock::acquire.
struct LockResult;

struct OpenResult {
  std::unique_ptr<Store> store;  // null on failure
  OpenFailure failure{};
  std::string message;  // e.g. "data directory ./data is in use by another rstmdbd (pid 123)"
};

// The data-directory lock alone (<dir>/rstmdbd.lock, taken exactly as Store::open takes it:
// flock(LOCK_EX|LOCK_NB), then "pid\n" written into it), for tools that must keep every server
// off a data directory without opening its database (restore, the offline backup's probe).
// Releasing it (destructor) closes the descriptor; the file stays. Move-only.
class DataDirLock {
 public:
  // `dir` must exist; the lock file is created (0600) if missing. Failures: Locked (75, the
  // message names the holder's pid), PermissionDenied, CannotCreate, Io.
  static LockResult acquire(const std::string& dir);

  DataDirLock(DataDirLock&& other) noexcept;
  DataDirLock& operator=(DataDirLock&& other) noexcept;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

struct LockResult {
  std::optional<DataDirLock> lock;  // empty on failure
  OpenFailure failure{};
  std::string message;
};

// A set of changes applied atomically by Store::write.
class Batch {
 public:
  Batch();
  ~Batch();
  Batch(Batch&&) noexcept;
  Batch& operator=(Batch&&) noexcept;

  void put(Cf cf, std::string_view key, std::string_view value);
  void del(Cf cf, std::string_view key);
  // Deletes every key in [begin, end).
  void delete_range(Cf cf, std::string_view begin, std::string_view end);
  void clear();
  bool empty() const;
  std::size_t data_size() const;  // encoded bytes so far

 private:
  friend class Store;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
  const Store* store_ = nullptr;  // set by Store::new_batch
};

class Store {
 public:
  static OpenResult open(const StoreOptions& options);
  ~Store();  // flushes the WAL, closes the DB, releases the lock

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Batch new_batch() const;

  // Point read; nullopt when absent. Throws StorageError on I/O failure.
  std::optional<std::string> get(Cf cf, std::string_view key) const;

  // Visits keys >= `start` (and, if `prefix` is non-empty, only while the key starts with
  // `prefix`) in byte order; `visit` returns false to stop. Reads a consistent snapshot.
  // Throws StorageError.
  void scan(Cf cf, std::string_view prefix, std::string_view start,
            const std::function<bool(std::string_view key, std::string_view value)>& visit) const;

  // A forward cursor over the keys of `cf` that start with `prefix` (all keys if empty), for
  // readers that interleave several ranges (a k-way merge). Each cursor reads its own implicit
  // snapshot. Not thread-safe; may outlive nothing but the Store.
  class Cursor {
   public:
    ~Cursor();
    Cursor(Cursor&&) noexcept;
    Cursor& operator=(Cursor&&) noexcept;
    // Positions at the first key >= max(key, prefix). Throws StorageError.
    void seek(std::string_view key);
    bool valid() const;
    std::string_view key() const;
    std::string_view value() const;
    // Throws StorageError.
    void next();

   private:
    friend class Store;
    Cursor() = default;
    void check() const;
    struct State;
    std::unique_ptr<State> state_;
  };
  Cursor cursor(Cf cf, std::string_view prefix) const;

  // The greatest key of `cf`, or nullopt when it is empty (a range delete's end: that key plus
  // a zero byte is greater than every key). Throws StorageError.
  std::optional<std::string> last_key(Cf cf) const;

  // Applies `batch` atomically. sync=true: returns after the WAL is synced.
  // Returns an error instead of throwing. A failed write (like a failed sync_wal or flush_all)
  // marks the store failed (mark_failed): its outcome is unknown and nothing is written again.
  // The batch itself is left as it was; clear() it to reuse it. Thread-safe; writes are
  // applied one at a time (the ordered memtable's prefetch pass needs its table's writer
  // to itself: ActiveTableRegistry).
  [[nodiscard]] std::optional<StorageError> write(Batch& batch, bool sync);

  // Syncs the WAL (makes every earlier write durable).
  [[nodiscard]] std::optional<StorageError> sync_wal();

  // Compacts the key range [begin, end) of `cf` (empty = whole CF) so deleted data is
  // reclaimed on disk. Blocking; never call on an I/O thread.
  [[nodiscard]] std::optional<StorageError> compact_range(Cf cf, std::string_view begin,
                                                          std::string_view end);

  // Files and on-disk bytes currently backing `cf` (SST files; the WAL and memtables count
  // toward the log CF's size as one extra "segment" when non-empty). Measured now.
  struct CfFiles {
    std::uint64_t file_count = 0;
    std::uint64_t total_bytes = 0;
  };
  CfFiles cf_files(Cf cf) const;

  // Approximate total on-disk bytes of the database directory.
  std::uint64_t disk_bytes() const;

  // Creates a checkpoint of the whole DB under `dir` (must not exist; parents are created):
  // memtables are flushed first (one atomic flush of every CF), SSTs are hard-linked, MANIFEST,
  // OPTIONS and the WAL written since that flush are copied. It is one point in time at a
  // commit boundary: writes racing it land either wholly in the copied WAL or not at all
  // (docs/storage.md "Checkpoints"). Blocking; never on an I/O thread. Thread-safe.
  [[nodiscard]] std::optional<StorageError> checkpoint(const std::string& dir) const;

  const std::string& data_dir() const noexcept { return data_dir_; }

  // Flushes memtables and syncs; used at shutdown.
  [[nodiscard]] std::optional<StorageError> flush_all();

  // Resizes the shared block cache (storage.block_cache_mb is reloadable). Thread-safe.
  void set_block_cache_mb(std::uint64_t mb);

  // Errors RocksDB reports from its own threads (a failed flush, compaction or WAL write:
  // rocksdb::EventListener::OnBackgroundError). `handler` hears of the first failure only,
  // on a RocksDB thread, and must not call back into the store; RocksDB's automatic recovery
  // is disabled, since a storage failure is fail-stop for us. A failure reported before the
  // handler is set is handed to it when it is set. Thread-safe.
  void set_background_error_handler(std::function<void(const StorageError&)> handler);

  // Marks the store as failed (a write or sync failed; the engine has stopped writing). From
  // then on write() and sync_wal() fail without touching RocksDB, and the destructor neither
  // syncs, flushes nor closes the database: after an I/O error RocksDB's file writers must not
  // be written again (Debian's librocksdb asserts), and what is on disk is left for RocksDB's
  // recovery at the next open; the database object and the data-dir lock are kept until the
  // process exits (store.cpp says why). Thread-safe; idempotent.
  void mark_failed(const StorageError& cause);
  // The first failure marked or reported, if any. Thread-safe.
  std::optional<StorageError> failure() const;

  struct FailureState;  // shared with the background-error listener (store.cpp)

 private:
  Store() = default;
  rocksdb::ColumnFamilyHandle* handle(Cf cf) const { return handles_[static_cast<std::size_t>(cf)]; }
  // Marks the store failed with `cause` and returns it: every failed write, sync or flush.
  StorageError fail(StorageError cause);
  friend class Batch;

  std::string data_dir_;
  int lock_fd_ = -1;
  std::unique_ptr<rocksdb::Env> env_;  // storage/wal_file_system.hpp; outlives db_
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // indexed by Cf; owned by db_
  rocksdb::ColumnFamilyHandle* default_handle_ = nullptr;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::shared_ptr<rocksdb::Logger> logger_;
  std::shared_ptr<FailureState> failure_;
  std::mutex write_mutex_;  // held over a write's prefetch pass and DB::Write
  // storage.memtable: ordered only (it holds the memtable factory); guarded by write_mutex_.
  std::unique_ptr<BatchPrefetch> batch_prefetch_;
};

}  // namespace rstmdb::storage
