// RocksDB's own log lines, handed to a callback instead of RocksDB's info LOG file.
//
// Why: RocksDB writes its info LOG through the same file writer as its data files, and
// Debian's librocksdb is built with assertions on: after one failed write to that file (a full
// disk) the next log line aborts the process (WritableFileWriter::
// AssertFalseAndGetStatusForPrevError). With this logger there is no info LOG file at all;
// the server forwards the lines to its own log (spdlog) at mapped levels.
//
// Thread-safety: RocksDB calls Logv from its background threads and from the caller's thread
// concurrently; the sink must be thread-safe and must not block for long.
#pragma once

#include <rocksdb/env.h>

#include <functional>
#include <memory>
#include <string_view>

namespace rstmdb::storage {

// Our levels for RocksDB's lines. RocksDB's INFO and HEADER lines (option dumps, every flush
// and compaction) are Debug: an operator wants them only when investigating.
enum class RocksLogLevel { Debug, Info, Warn, Error, Critical };

using RocksLogSink = std::function<void(RocksLogLevel level, std::string_view line)>;

// A rocksdb::Logger that formats each line and hands it to `sink` (null: lines are dropped).
std::shared_ptr<rocksdb::Logger> make_rocksdb_logger(RocksLogSink sink);

// How a RocksDB level maps to ours (exposed for tests).
RocksLogLevel map_rocksdb_level(rocksdb::InfoLogLevel level);

}  // namespace rstmdb::storage
