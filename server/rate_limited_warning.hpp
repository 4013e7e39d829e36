// A WARN line that clients can trigger (rejected connections, protocol errors, stuck peers):
// at most one line per kind per interval, with the count of the ones suppressed in between
// (runtime.md §4.4 "Repeated WARNs of one kind: at most one per 10 s with a suppressed count").
//
//   RateLimitedWarning limit(log, "connection limit reached");
//   limit.warn("connection limit reached ({}), rejecting {}", n, peer);
//
// The first event of a quiet period is logged at once. Later events inside the interval are
// only counted; the next line that is let through says how many were suppressed, and flush()
// (called by the server every interval) reports a count left over when no further event came,
// so every event is accounted for in the log. Thread-safe; the suppressed path costs a mutex
// and no formatting.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace rstmdb::server {

class RateLimitedWarning {
 public:
  using Clock = std::chrono::steady_clock;
  // runtime.md §4.4.
  static constexpr Clock::duration kInterval = std::chrono::seconds(10);

  // `kind` names the warning in the leftover-count line of flush().
  RateLimitedWarning(std::shared_ptr<spdlog::logger> log, std::string kind,
                     Clock::duration interval = kInterval);

  template <typename... Args>
  void warn(fmt::format_string<Args...> format, Args&&... args) {
    const auto suppressed = admit();
    if (!suppressed) return;
    std::string line = fmt::format(format, std::forward<Args>(args)...);
    if (*suppressed > 0) line += suffix(*suppressed);
    log_->warn("{}", line);
  }

  // Logs "<kind>: N more in the last 10 s (suppressed)" if events were suppressed and the
  // interval since the last line has passed.
  void flush();

 private:
  // nullopt: suppress this event; otherwise log it, with this many suppressed before it.
  std::optional<std::uint64_t> admit();
  std::string suffix(std::uint64_t suppressed) const;

  std::shared_ptr<spdlog::logger> log_;
  std::string kind_;
  Clock::duration interval_;
  std::mutex mutex_;
  std::optional<Clock::time_point> last_line_;
  std::uint64_t suppressed_ = 0;
};

// The client-triggered warnings of one server, one limiter per kind. Sessions share them.
struct ClientWarnings {
  explicit ClientWarnings(const std::shared_ptr<spdlog::logger>& log);
  void flush();

  RateLimitedWarning connection_limit;
  RateLimitedWarning accept_failed;
  RateLimitedWarning protocol_error;
  RateLimitedWarning write_timeout;
  RateLimitedWarning auth_failures;
  RateLimitedWarning admin_refused;           // admin socket peers of another uid
  RateLimitedWarning admin_connection_limit;  // admin socket connections beyond its limit
  RateLimitedWarning tls_handshake;           // failed and timed-out TLS handshakes
};

}  // namespace rstmdb::server
