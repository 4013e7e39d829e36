// Fault rules for FaultFs (tests/support/fault_fs.hpp): which call to fail, and with what.
//
// A FaultInjector holds at most one armed rule. It counts the calls that match the rule (by file
// kind, for tables by the job writing them, and by operation) and fails the n-th (and, for a
// persistent rule, every later one) with EIO or ENOSPC as the POSIX file system reports them.
// Thread-safe.
#pragma once

#include <rocksdb/io_status.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace rstmdb::test {

// Which files a fault rule matches, by name: *.log, *.sst, MANIFEST-*, anything else.
enum class FileKind { Any, Wal, Table, Manifest, Other };
// Which job writes a table file: compactions run on RocksDB's low-priority pool ("rocksdb:low"
// threads), flushes on its high-priority pool or on the caller's thread (at open and close).
enum class TableJob { Any, Flush, Compaction };
// Which calls a fault rule matches. Sync: Sync or Fsync; Create: NewWritableFile or
// ReopenWritableFile.
enum class FileOp { Create, Append, Sync, RangeSync, Close };

struct FaultRule {
  FileKind kind = FileKind::Any;
  TableJob job = TableJob::Any;  // for FileKind::Table
  FileOp op = FileOp::Append;
  std::uint64_t nth = 1;    // the n-th matching call after inject() fails (n >= 1)
  int error = EIO;          // EIO or ENOSPC
  bool persistent = false;  // every matching call after the n-th fails too (a disk that stays full)
};
// "ENOSPC on the 3rd append to a flush's table, and after"
std::string describe(const FaultRule& rule);

// The kind of the file named `name` (a file name, no directory).
FileKind kind_of(const std::string& name);
// The job of a table file created on the calling thread.
TableJob current_job();
const char* op_name(FileOp op);

class FaultInjector {
 public:
  // Arms `rule`, replacing any armed rule; its call count starts now.
  void arm(const FaultRule& rule);
  void clear();
  // The error for `op` on the file `name` (of `kind`, written by `job`), if the armed rule
  // fails this call; counts the call if it matches.
  std::optional<rocksdb::IOStatus> check(FileKind kind, TableJob job, FileOp op, const std::string& name);
  // Calls failed so far, and the first of them (e.g. "FaultFs: injected ENOSPC on append 000012.sst").
  std::uint64_t injected() const;
  std::string first() const;

 private:
  mutable std::mutex mutex_;
  std::optional<FaultRule> rule_;
  std::uint64_t matches_ = 0;
  std::uint64_t injected_ = 0;
  std::string first_;
};

}  // namespace rstmdb::test
