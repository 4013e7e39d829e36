// Process-wide logging setup (runtime.md §4.4): spdlog to stdout, text or JSON lines, UTC
// timestamps. Loggers are named by component ("server", "request", "access", "storage", ...).
//
// Text: `2026-02-21T10:15:30.123Z INFO  server: message`. When stdout is the journal's stream
// (JOURNAL_STREAM names stdout's device and inode, as systemd sets it), text lines drop the
// timestamp (the journal has its own) and start with the syslog priority `<N>` instead, so
// journald files each line under its level. JSON: one object per line,
// `{"ts":…,"level":"info","logger":"server","msg":…}` plus the fields of a LogLine; bytes that
// are not valid UTF-8 become U+FFFD.
#pragma once

#include "storage/rocksdb_log.hpp"

#include <spdlog/logger.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace rstmdb::server {

enum class LogFormat { Text, Json };

// Installs the stdout sink with the given format and level ("trace".."critical", "off").
// Call once, before any other thread logs. `journal_stream` is $JOURNAL_STREAM (empty: unset).
void init_logging(LogFormat format, std::string_view level, std::string_view journal_stream = {});

// The format init_logging installed (Text before it is called).
LogFormat log_format() noexcept;
// Whether text lines go to the journal (init_logging found JOURNAL_STREAM matching stdout).
bool logging_to_journal() noexcept;
// "dev:inode" names the file descriptor `fd` (the JOURNAL_STREAM test).
bool journal_stream_matches(std::string_view journal_stream, int fd) noexcept;

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

// A line with fields (runtime.md §4.4), built for the installed format and logged as
// `log->info("{}", line.str())`:
//   text  `msg key=value key="text"` (fields(): no leading msg)
//   JSON  the fields become members of the line's object, after "msg".
// Text values (client or operator strings) are quoted and escaped like JSON strings, invalid
// UTF-8 replaced by U+FFFD, and cut to kMaxFieldBytes, so a field can neither forge a field nor
// a line nor make a line long.
class LogLine {
 public:
  static constexpr std::size_t kMaxFieldBytes = 256;

  explicit LogLine(std::string_view msg, LogFormat format = log_format());
  // A line of fields only in text (the logger's name says what it is); `msg` in JSON.
  static LogLine fields(std::string_view msg, LogFormat format = log_format());

  LogLine& text(std::string_view key, std::string_view value);
  // A value that is one of the server's own words (an op name, "ok"): written unquoted.
  LogLine& token(std::string_view key, std::string_view value);
  LogLine& number(std::string_view key, std::uint64_t value);
  // No value: "-" in text, null in JSON.
  LogLine& none(std::string_view key);

  const std::string& str() const noexcept { return line_; }

 private:
  void key(std::string_view k);
  LogFormat format_;
  std::string line_;
};

// Appends `s` as a quoted JSON string, invalid UTF-8 replaced by U+FFFD, cut (at a character
// boundary, with "...") after `max_bytes` bytes of input (0 = no limit).
void append_quoted(std::string& out, std::string_view s, std::size_t max_bytes = 0);

}  // namespace rstmdb::server
