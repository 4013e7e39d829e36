// Process-wide logging setup (runtime.md §4.4): spdlog to stdout, text or JSON lines, UTC
// timestamps. Loggers are named by component ("server", "request", "storage", ...).
#pragma once

#include "storage/rocksdb_log.hpp"

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

namespace rstmdb::server {

enum class LogFormat { Text, Json };

// Installs the stdout sink with the given format and level ("trace".."critical", "off").
// Call once, before any other thread logs.
void init_logging(LogFormat format, std::string_view level);

// Changes the level of every logger, existing and future (logging.level on reload). Thread-safe.
void set_log_level(std::string_view level);

// A logger sharing the process sink, created on first use.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name);

// RocksDB's lines in our log, under the logger "rocksdb" (storage/rocksdb_log.hpp).
storage::RocksLogSink rocksdb_log_sink();

// RocksDB 7.8 warns twice on every checkpoint ("File Deletions Disabled, but already disabled",
// "File Deletions Enable, but not really enabled"): Checkpoint disables file deletions, and
// the live-file listing inside it disables them again. Expected, so logged at DEBUG.
storage::RocksLogLevel demote_expected_rocksdb_warning(storage::RocksLogLevel level, std::string_view line);

}  // namespace rstmdb::server
