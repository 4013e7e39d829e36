// What a database directory holds, read from that directory itself: a checkpoint, a backup's
// copy, a restored directory. These are the offsets and counts a backup manifest records and
// verify-backup/restore confirm (runtime.md §7.1, §7.2), so they must come from the files, not
// from a live server's memory.
//
// The directory is opened read-only: nothing in it is created, changed or removed (no LOCK, no
// OPTIONS file, no info LOG; RocksDB's lines go to `log_sink`), and the WAL a checkpoint carries
// is replayed in memory only. Safe on a checkpoint inside a live server's data directory and on
// a backup on read-only media. Blocking; thread-safe (each call opens its own handle).
#pragma once

#include "storage/rocksdb_log.hpp"
#include "storage/storage_error.hpp"

#include <cstdint>
#include <string>

namespace rstmdb::storage {

struct DbSummary {
  std::uint64_t latest_offset = 0;  // meta latest_offset (0: empty log)
  std::uint64_t oldest_offset = 1;  // meta oldest_offset (1 until compaction trims)
  std::uint64_t machines = 0;       // (machine, version) pairs, as Engine::machine_count
  std::uint64_t instances = 0;      // live instances: the sum of the counts CF, as Engine::instance_count

  bool operator==(const DbSummary&) const = default;
};

struct SummaryOptions {
  // DB::VerifyChecksum: every block of every SST file is read and its checksum checked.
  bool verify_checksums = false;
  // Also check that the directory is one commit point of rstmdb-cpp data: every live instance
  // record counted per (machine, state) equals the counts CF, every stored value decodes, and
  // the log ends exactly at latest_offset (every write appends one entry; compaction keeps the
  // newest). O(instances + machines); for verify-backup and restore, not for checkpoints.
  bool cross_check = false;
  // Files RocksDB may keep open at once (its table cache); bounded so that a large backup does
  // not need thousands of descriptors.
  int max_open_files = 256;
  RocksLogSink log_sink;  // null: RocksDB's lines are dropped
};

// Opens `db_dir` (a RocksDB directory holding every column family of store.hpp) read-only and
// reads its summary. Throws StorageError: Kind::Corruption when the directory is not an intact
// rstmdb-cpp database (a column family missing, a checksum mismatch, a value that does not
// decode, counts or log that disagree under cross_check), Kind::Io when it cannot be read.
DbSummary read_db_summary(const std::string& db_dir, const SummaryOptions& options = {});

}  // namespace rstmdb::storage
