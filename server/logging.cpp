#include "server/logging.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
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

// Marks a payload that LogLine built for JSON: the rest is `"msg":…` plus fields, already
// escaped, to be placed in the line's object as is.
constexpr char kFieldsMarker = '\x1f';
constexpr std::string_view kFieldsStart = "\"msg\":\"";

std::atomic<LogFormat> g_format{LogFormat::Text};
std::atomic<bool> g_journal{false};

// syslog priority of a level (sd-daemon(3) prefixes).
char journal_priority(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return '7';
    case spdlog::level::info:
      return '6';
    case spdlog::level::warn:
      return '4';
    case spdlog::level::err:
      return '3';
    case spdlog::level::critical:
      return '2';
    default:
      return '6';
  }
}

// `2026-02-21T10:15:30.123Z INFO  server: message`, or for the journal `<6>INFO  server: message`.
class TextFormatter final : public spdlog::formatter {
 public:
  explicit TextFormatter(bool journal) : journal_(journal) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    if (journal_) {
      const char prefix[3] = {'<', journal_priority(msg.level), '>'};
      dest.append(prefix, prefix + 3);
    } else {
      append_utc_timestamp(dest, msg.time);
      dest.push_back(' ');
    }
    const auto level = upper_level(msg.level);
    dest.append(level.data(), level.data() + level.size());
    dest.push_back(' ');
    dest.append(msg.logger_name.data(), msg.logger_name.data() + msg.logger_name.size());
    dest.append(std::string_view(": "));
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>(journal_);
  }

 private:
  bool journal_;
};

void append_escaped(spdlog::memory_buf_t& out, std::string_view s) {
  std::string quoted;
  append_quoted(quoted, s);
  // Without the quotes: the formatter writes them around it.
  out.append(quoted.data() + 1, quoted.data() + quoted.size() - 1);
}

// `{"ts":"…","level":"info","logger":"server","msg":"…"}`, plus a LogLine's fields.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    dest.append(std::string_view("{\"ts\":\""));
    append_utc_timestamp(dest, msg.time);
    dest.append(std::string_view("\",\"level\":\""));
    const auto level = lower_level(msg.level);
    dest.append(level.data(), level.data() + level.size());
    dest.append(std::string_view("\",\"logger\":\""));
    append_escaped(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (payload.size() > kFieldsStart.size() && payload.front() == kFieldsMarker &&
        payload.substr(1, kFieldsStart.size()) == kFieldsStart) {
      dest.append(std::string_view("\","));
      dest.append(payload.data() + 1, payload.data() + payload.size());
      dest.append(std::string_view("}\n"));
      return;
    }
    dest.append(std::string_view("\",\"msg\":\""));
    append_escaped(dest, payload);
    dest.append(std::string_view("\"}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// Length of the valid UTF-8 sequence at s[i], or 0 if the bytes there are not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n;
  unsigned min;
  unsigned cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, min = 0x80, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, min = 0x800, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

void init_logging(LogFormat format, std::string_view level, std::string_view journal_stream) {
  std::lock_guard lock(g_mutex);
  g_sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  const bool journal = format == LogFormat::Text && journal_stream_matches(journal_stream, STDOUT_FILENO);
  g_format = format;
  g_journal = journal;
  if (format == LogFormat::Json) {
    g_sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    g_sink->set_formatter(std::make_unique<TextFormatter>(journal));
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

LogFormat log_format() noexcept {
  return g_format.load();
}

bool logging_to_journal() noexcept {
  return g_journal.load();
}

bool journal_stream_matches(std::string_view journal_stream, int fd) noexcept {
  // "<device>:<inode>", both decimal (systemd.exec(5)).
  const auto colon = journal_stream.find(':');
  if (colon == std::string_view::npos) return false;
  unsigned long long dev = 0, ino = 0;
  const auto d = journal_stream.substr(0, colon), i = journal_stream.substr(colon + 1);
  auto [dend, dec] = std::from_chars(d.data(), d.data() + d.size(), dev);
  auto [iend, iec] = std::from_chars(i.data(), i.data() + i.size(), ino);
  if (d.empty() || i.empty() || dec != std::errc() || iec != std::errc() || dend != d.data() + d.size() ||
      iend != i.data() + i.size()) {
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

void append_quoted(std::string& out, std::string_view s, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool cut = max_bytes != 0 && s.size() > max_bytes;
  const std::size_t limit = cut ? max_bytes : s.size();
  out.push_back('"');
  std::size_t i = 0;
  while (i < limit) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
      continue;
    }
    if (n > 1) {
      if (i + n > limit) break;  // do not split a character at the cut
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out.append(esc, 6);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  if (cut) out.append("...");
  out.push_back('"');
}

LogLine::LogLine(std::string_view msg, LogFormat format) : format_(format) {
  if (format_ == LogFormat::Json) {
    line_.push_back(kFieldsMarker);
    line_.append("\"msg\":");
    append_quoted(line_, msg);
  } else {
    line_.append(msg);
  }
}

LogLine LogLine::fields(std::string_view msg, LogFormat format) {
  LogLine line(msg, format);
  if (format != LogFormat::Json) line.line_.clear();
  return line;
}

void LogLine::key(std::string_view k) {
  if (format_ == LogFormat::Json) {
    line_.append(",\"");
    line_.append(k);
    line_.append("\":");
  } else {
    if (!line_.empty()) line_.push_back(' ');
    line_.append(k);
    line_.push_back('=');
  }
}

LogLine& LogLine::text(std::string_view k, std::string_view value) {
  key(k);
  append_quoted(line_, value, kMaxFieldBytes);
  return *this;
}

LogLine& LogLine::token(std::string_view k, std::string_view value) {
  key(k);
  if (format_ == LogFormat::Json) {
    append_quoted(line_, value, kMaxFieldBytes);
  } else {
    line_.append(value);
  }
  return *this;
}

LogLine& LogLine::number(std::string_view k, std::uint64_t value) {
  key(k);
  line_.append(std::to_string(value));
  return *this;
}

LogLine& LogLine::none(std::string_view k) {
  key(k);
  line_.append(format_ == LogFormat::Json ? "null" : "-");
  return *this;
}

}  // namespace rstmdb::server
