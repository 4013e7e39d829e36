#include "server/logging.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace rstmdb::server {
namespace {

std::shared_ptr<spdlog::sinks::sink> g_sink;
std::mutex g_mutex;

void append_utc_timestamp(spdlog::memory_buf_t& out, spdlog::log_clock::time_point tp) {
  const auto since_epoch = tp.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
  std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  const int n =
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  out.append(buf, buf + n);
}

std::string_view upper_level(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "TRACE";
    case spdlog::level::debug:
      return "DEBUG";
    case spdlog::level::info:
      return "INFO ";
    case spdlog::level::warn:
      return "WARN ";
    case spdlog::level::err:
      return "ERROR";
    case spdlog::level::critical:
      return "CRIT ";
    default:
      return "OFF  ";
  }
}

std::string_view lower_level(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// `2026-02-21T10:15:30.123Z INFO  server: message`
class TextFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append_utc_timestamp(dest, msg.time);
    dest.push_back(' ');
    const auto level = upper_level(msg.level);
    dest.append(level.data(), level.data() + level.size());
    dest.push_back(' ');
    dest.append(msg.logger_name.data(), msg.logger_name.data() + msg.logger_name.size());
    dest.append(std::string_view(": "));
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<TextFormatter>(); }
};

void append_json_escaped(spdlog::memory_buf_t& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (c < 0x20) {
          const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out.append(esc, esc + 6);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
}

// `{"ts":"…","level":"info","logger":"server","msg":"…"}`. Log messages never carry
// client-supplied bytes that are not valid UTF-8 (those are logged by size only).
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    dest.append(std::string_view("{\"ts\":\""));
    append_utc_timestamp(dest, msg.time);
    dest.append(std::string_view("\",\"level\":\""));
    const auto level = lower_level(msg.level);
    dest.append(level.data(), level.data() + level.size());
    dest.append(std::string_view("\",\"logger\":\""));
    append_json_escaped(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    dest.append(std::string_view("\",\"msg\":\""));
    append_json_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("\"}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void init_logging(LogFormat format, std::string_view level) {
  std::lock_guard lock(g_mutex);
  g_sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  if (format == LogFormat::Json) {
    g_sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    g_sink->set_formatter(std::make_unique<TextFormatter>());
  }
  auto lvl = spdlog::level::from_str(std::string(level == "warn" ? "warning" : level));
  spdlog::set_level(lvl);
  // Every line is flushed: stdout is usually a pipe to journald or a container runtime,
  // and a crash must not eat the last lines.
  spdlog::flush_on(spdlog::level::trace);
  spdlog::drop_all();
  auto root = std::make_shared<spdlog::logger>("server", g_sink);
  root->set_level(lvl);
  spdlog::set_default_logger(root);
}

void set_log_level(std::string_view level) {
  std::lock_guard lock(g_mutex);  // ordered with get_logger(), which copies the global level
  spdlog::set_level(spdlog::level::from_str(std::string(level == "warn" ? "warning" : level)));
}

std::shared_ptr<spdlog::logger> get_logger(const std::string& name) {
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(name)) return existing;
  if (!g_sink) g_sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(name, g_sink);
  logger->set_level(spdlog::get_level());
  spdlog::register_logger(logger);
  return logger;
}

storage::RocksLogLevel demote_expected_rocksdb_warning(storage::RocksLogLevel level, std::string_view line) {
  if (level != storage::RocksLogLevel::Warn) return level;
  if (line.find("File Deletions Disabled, but already disabled") != std::string_view::npos ||
      line.find("File Deletions Enable, but not really enabled") != std::string_view::npos) {
    return storage::RocksLogLevel::Debug;
  }
  return level;
}

storage::RocksLogSink rocksdb_log_sink() {
  auto log = get_logger("rocksdb");
  return [log](storage::RocksLogLevel level, std::string_view line) {
    using L = storage::RocksLogLevel;
    switch (demote_expected_rocksdb_warning(level, line)) {
      case L::Debug:
        log->debug("{}", line);
        break;
      case L::Info:
        log->info("{}", line);
        break;
      case L::Warn:
        log->warn("{}", line);
        break;
      case L::Error:
        log->error("{}", line);
        break;
      case L::Critical:
        log->critical("{}", line);
        break;
    }
  };
}

}  // namespace rstmdb::server
