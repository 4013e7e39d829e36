#include "fault_injector.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace rstmdb::test {

using rocksdb::IOStatus;

FileKind kind_of(const std::string& name) {
  if (name.ends_with(".log")) return FileKind::Wal;
  if (name.ends_with(".sst")) return FileKind::Table;
  if (name.starts_with("MANIFEST-")) return FileKind::Manifest;
  return FileKind::Other;
}

// Compactions run on RocksDB's low-priority (and bottom-priority) pools, whose threads it names
// "rocksdb:low…" / "rocksdb:bottom…"; flushes run on "rocksdb:high…" or on the caller's thread.
TableJob current_job() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  const std::string_view n(name);
  return n.starts_with("rocksdb:low") || n.starts_with("rocksdb:bottom") ? TableJob::Compaction
                                                                         : TableJob::Flush;
}

const char* op_name(FileOp op) {
  switch (op) {
    case FileOp::Create:
      return "create";
    case FileOp::Append:
      return "append";
    case FileOp::Sync:
      return "sync";
    case FileOp::RangeSync:
      return "range sync";
    case FileOp::Close:
      return "close";
  }
  return "?";
}

std::string describe(const FaultRule& rule) {
  std::string what = rule.error == ENOSPC ? "ENOSPC"
                     : rule.error == EIO  ? "EIO"
                                          : "errno " + std::to_string(rule.error);
  what += " on call " + std::to_string(rule.nth) + " of " + op_name(rule.op);
  switch (rule.kind) {
    case FileKind::Any:
      what += " (any file)";
      break;
    case FileKind::Wal:
      what += " of a WAL";
      break;
    case FileKind::Table:
      what += rule.job == TableJob::Flush        ? " of a flush's table"
              : rule.job == TableJob::Compaction ? " of a compaction's table"
                                                 : " of a table";
      break;
    case FileKind::Manifest:
      what += " of the MANIFEST";
      break;
    case FileKind::Other:
      what += " of another file";
      break;
  }
  if (rule.persistent) what += ", and every later one";
  return what;
}

void FaultInjector::arm(const FaultRule& rule) {
  std::lock_guard lock(mutex_);
  rule_ = rule;
  rule_.value().nth = std::max<std::uint64_t>(rule.nth, 1);
  matches_ = 0;
}

void FaultInjector::clear() {
  std::lock_guard lock(mutex_);
  rule_.reset();
}

std::uint64_t FaultInjector::injected() const {
  std::lock_guard lock(mutex_);
  return injected_;
}

std::string FaultInjector::first() const {
  std::lock_guard lock(mutex_);
  return first_;
}

std::optional<IOStatus> FaultInjector::check(FileKind kind, TableJob job, FileOp op,
                                             const std::string& name) {
  std::lock_guard lock(mutex_);
  if (!rule_) return std::nullopt;
  const FaultRule& r = *rule_;
  if (r.op != op || (r.kind != FileKind::Any && r.kind != kind)) return std::nullopt;
  if (kind == FileKind::Table && r.job != TableJob::Any && r.job != job) return std::nullopt;
  ++matches_;
  if (matches_ < r.nth || (matches_ > r.nth && !r.persistent)) return std::nullopt;
  ++injected_;
  const std::string what =
      std::string("FaultFs: injected ") + (r.error == ENOSPC ? "ENOSPC" : "EIO") + " on " + op_name(op) +
      " " + name +
      (kind == FileKind::Table ? (job == TableJob::Compaction ? " (compaction)" : " (flush)") : "");
  if (first_.empty()) first_ = what;
  if (r.error == ENOSPC) {
    // As the POSIX file system reports it: a no-space I/O error, which RocksDB may retry.
    IOStatus s = IOStatus::NoSpace(what, std::strerror(ENOSPC));
    s.SetRetryable(true);
    return s;
  }
  return IOStatus::IOError(what, std::strerror(r.error));
}

}  // namespace rstmdb::test
