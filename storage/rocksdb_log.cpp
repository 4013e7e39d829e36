#include "storage/rocksdb_log.hpp"

#include <array>
#include <cstdarg>
#include <cstdio>
#include <string>

namespace rstmdb::storage {

namespace {

// Longest RocksDB line we keep; longer ones (a full options dump line) are cut.
constexpr std::size_t kMaxLineBytes = 4096;

class SinkLogger final : public rocksdb::Logger {
 public:
  explicit SinkLogger(RocksLogSink sink)
      // DEBUG_LEVEL: RocksDB filters nothing itself; the sink's logger decides what it shows.
      : rocksdb::Logger(rocksdb::InfoLogLevel::DEBUG_LEVEL), sink_(std::move(sink)) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (!sink_) return;
    std::array<char, kMaxLineBytes> buf;
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(buf.data(), buf.size(), format, copy);
    va_end(copy);
    if (n < 0) return;
    std::string_view line(buf.data(), std::min<std::size_t>(static_cast<std::size_t>(n), buf.size() - 1));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
      line.remove_suffix(1);
    sink_(map_rocksdb_level(level), line);
  }

 private:
  RocksLogSink sink_;
};

}  // namespace

RocksLogLevel map_rocksdb_level(rocksdb::InfoLogLevel level) {
  switch (level) {
    case rocksdb::InfoLogLevel::DEBUG_LEVEL:
    case rocksdb::InfoLogLevel::INFO_LEVEL:
    case rocksdb::InfoLogLevel::HEADER_LEVEL:
      return RocksLogLevel::Debug;
    case rocksdb::InfoLogLevel::WARN_LEVEL:
      return RocksLogLevel::Warn;
    case rocksdb::InfoLogLevel::ERROR_LEVEL:
      return RocksLogLevel::Error;
    case rocksdb::InfoLogLevel::FATAL_LEVEL:
    case rocksdb::InfoLogLevel::NUM_INFO_LOG_LEVELS:
      return RocksLogLevel::Critical;
  }
  return RocksLogLevel::Critical;
}

std::shared_ptr<rocksdb::Logger> make_rocksdb_logger(RocksLogSink sink) {
  return std::make_shared<SinkLogger>(std::move(sink));
}

}  // namespace rstmdb::storage
