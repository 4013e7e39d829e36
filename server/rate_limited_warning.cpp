#include "server/rate_limited_warning.hpp"

namespace rstmdb::server {

RateLimitedWarning::RateLimitedWarning(std::shared_ptr<spdlog::logger> log, std::string kind,
                                       Clock::duration interval)
    : log_(std::move(log)), kind_(std::move(kind)), interval_(interval) {}

std::optional<std::uint64_t> RateLimitedWarning::admit() {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  if (last_line_ && now - *last_line_ < interval_) {
    ++suppressed_;
    return std::nullopt;
  }
  last_line_ = now;
  return std::exchange(suppressed_, 0);
}

std::string RateLimitedWarning::suffix(std::uint64_t suppressed) const {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(interval_).count();
  return fmt::format(" ({} similar suppressed in the last {} s)", suppressed, secs);
}

void RateLimitedWarning::flush() {
  std::uint64_t suppressed = 0;
  {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    if (suppressed_ == 0 || (last_line_ && now - *last_line_ < interval_)) return;
    suppressed = std::exchange(suppressed_, 0);
    last_line_ = now;
  }
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(interval_).count();
  log_->warn("{}: {} more in the last {} s (suppressed)", kind_, suppressed, secs);
}

ClientWarnings::ClientWarnings(const std::shared_ptr<spdlog::logger>& log)
    : connection_limit(log, "connection limit reached"),
      accept_failed(log, "accept failed"),
      protocol_error(log, "connections closed for protocol errors"),
      write_timeout(log, "connections closed for no write progress"),
      auth_failures(log, "connections closed after failed AUTHs"),
      admin_refused(log, "admin socket connections refused"),
      admin_connection_limit(log, "admin socket connections over the limit"),
      tls_handshake(log, "TLS handshakes failed") {}

void ClientWarnings::flush() {
  connection_limit.flush();
  accept_failed.flush();
  protocol_error.flush();
  write_timeout.flush();
  auth_failures.flush();
  admin_refused.flush();
  admin_connection_limit.flush();
  tls_handshake.flush();
}

}  // namespace rstmdb::server
