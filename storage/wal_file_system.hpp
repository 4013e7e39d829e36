// The file system the Store runs RocksDB on: the base one (the real disk, or a test's
// fault-injecting one), except that write-ahead-log files are preallocated *with* their size.
//
// Why: RocksDB preallocates a WAL in blocks of ~1.1 x the write buffer with
// FALLOC_FL_KEEP_SIZE, so the file still grows with every append, and each fdatasync of a
// synced write then also commits the new file size through the file system's journal. With
// the size extended up front, a synced write lands inside the file and its fdatasync writes
// only the data: a 200-byte write + fdatasync on this project's test machine (ext4) takes
// ~115 µs mean instead of ~190 µs (docs/decisions.md, issue 10).
//
// What it changes on disk: a WAL being written has the preallocated size, the bytes past the
// last record reading as zeros. RocksDB closes a WAL by truncating it to what it wrote; after
// a crash or a power cut the zeros stay, and recovery reads them as the zero-filled
// preallocation its log reader skips (point-in-time recovery reports no corruption for them).
// Every other file (tables, MANIFEST, OPTIONS) is created exactly as the base would.
//
// Threads: as rocksdb::FileSystem requires, every call may come from any thread; this layer
// keeps no state of its own.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <memory>
#include <string>

namespace rstmdb::storage {

class WalSizeExtendingFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit WalSizeExtendingFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base)
      : FileSystemWrapper(base) {}

  static const char* kClassName() { return "RstmdbWalSizeExtendingFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& file_opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;

  // True for a RocksDB write-ahead-log file name ("<dir>/000123.log").
  static bool is_wal_file(const std::string& fname);
};

// An Env whose file system is WalSizeExtendingFileSystem over `base`'s (Env::Default() when
// null); threads and clock are the default Env's.
std::unique_ptr<rocksdb::Env> make_store_env(rocksdb::Env* base);

}  // namespace rstmdb::storage
