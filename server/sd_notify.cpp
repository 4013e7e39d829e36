#include "server/sd_notify.hpp"

#include <boost/asio/dispatch.hpp>

#include <condition_variable>
#include <mutex>

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace rstmdb::server {

namespace asio = boost::asio;
using std::chrono::microseconds;

namespace {

// Largest WATCHDOG_USEC we accept: a year. Anything longer is a typo, and it keeps the
// steady_timer arithmetic far from overflow.
constexpr std::uint64_t kMaxWatchdogUsec = 365ull * 24 * 3600 * 1000 * 1000;

std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::string one_line(std::string_view text) {
  std::string line(text);
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  return line;
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

NotifyEnvironment parse_notify_environment(const char* notify_socket, const char* watchdog_usec,
                                           const char* watchdog_pid, pid_t self) {
  NotifyEnvironment env;
  if (notify_socket != nullptr) env.socket = notify_socket;
  if (watchdog_usec == nullptr || *watchdog_usec == '\0') return env;
  if (watchdog_pid != nullptr && *watchdog_pid != '\0') {
    const auto pid = parse_decimal(watchdog_pid);
    if (!pid) {
      env.warnings.push_back(std::string("ignoring WATCHDOG_PID=") + watchdog_pid + ": not a pid");
      return env;
    }
    if (*pid != static_cast<std::uint64_t>(self)) return env;  // meant for another process
  }
  const auto usec = parse_decimal(watchdog_usec);
  if (!usec || *usec == 0 || *usec > kMaxWatchdogUsec) {
    env.warnings.push_back(std::string("ignoring WATCHDOG_USEC=") + watchdog_usec + ": must be 1.." +
                           std::to_string(kMaxWatchdogUsec) + " microseconds");
    return env;
  }
  env.watchdog_interval = microseconds(*usec);
  return env;
}

NotifyEnvironment read_notify_environment() {
  return parse_notify_environment(std::getenv("NOTIFY_SOCKET"), std::getenv("WATCHDOG_USEC"),
                                  std::getenv("WATCHDOG_PID"), ::getpid());
}

ServiceNotifier::ServiceNotifier(std::string socket_address) {
  if (socket_address.empty()) return;
  sockaddr_un probe{};
  if (socket_address.front() == '@') {
    address_ = socket_address;
    address_.front() = '\0';  // abstract namespace: leading NUL, no terminator
    if (address_.size() > sizeof(probe.sun_path)) problem_ = "abstract socket name too long";
  } else if (socket_address.front() == '/') {
    address_ = socket_address;
    if (address_.size() >= sizeof(probe.sun_path)) problem_ = "socket path too long";
  } else {
    problem_ = "not an absolute path or @name";
  }
  if (!problem_.empty()) {
    problem_ = "NOTIFY_SOCKET=" + socket_address + ": " + problem_;
    return;
  }
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) problem_ = "NOTIFY_SOCKET=" + socket_address + ": socket(): " + std::strerror(errno);
}

ServiceNotifier::~ServiceNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool ServiceNotifier::send(std::string_view message) const {
  if (fd_ < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, address_.data(), address_.size());
  // The abstract form is exactly its bytes; a path also counts its terminating NUL.
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                             (address_.front() == '\0' ? 0 : 1));
  for (;;) {
    const auto sent = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                               reinterpret_cast<const sockaddr*>(&addr), length);
    if (sent >= 0) return static_cast<std::size_t>(sent) == message.size();
    if (errno != EINTR) return false;
  }
}

bool ServiceNotifier::ready(std::string_view status) const {
  return send("READY=1\nSTATUS=" + one_line(status));
}

bool ServiceNotifier::status(std::string_view status) const {
  return send("STATUS=" + one_line(status));
}

bool ServiceNotifier::stopping(std::string_view status) const {
  return send("STOPPING=1\nSTATUS=" + one_line(status));
}

bool ServiceNotifier::reloading(std::string_view status) const {
  // MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match this message to its SIGHUP.
  return send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()) +
              "\nSTATUS=" + one_line(status));
}

bool ServiceNotifier::watchdog() const {
  return send("WATCHDOG=1");
}

bool ServiceNotifier::extend_timeout(microseconds extension, std::string_view status) const {
  return send("EXTEND_TIMEOUT_USEC=" + std::to_string(extension.count()) + "\nSTATUS=" + one_line(status));
}

ServiceHeartbeat::ServiceHeartbeat(asio::any_io_executor executor, const ServiceNotifier& notifier,
                                   std::optional<microseconds> watchdog_interval,
                                   std::function<std::string()> status_line)
    : notifier_(notifier),
      status_line_(std::move(status_line)),
      strand_(asio::make_strand(executor)),
      status_timer_(strand_),
      watchdog_timer_(strand_) {
  if (watchdog_interval) watchdog_period_ = watchdog_period_for(*watchdog_interval);
}

microseconds ServiceHeartbeat::watchdog_period_for(microseconds interval) {
  return std::max<microseconds>(interval / 2, kMinWatchdogPeriod);
}

// The timers cancel themselves when destroyed; their handlers see the error before `this`.
ServiceHeartbeat::~ServiceHeartbeat() {
  stopped_ = true;
}

void ServiceHeartbeat::start() {
  if (!notifier_.enabled()) return;
  asio::dispatch(strand_, [this] {
    if (stopped_) return;
    arm_status();
    if (watchdog_period_) {
      notifier_.watchdog();  // the first keep-alive right away, then every period
      arm_watchdog();
    }
  });
}

void ServiceHeartbeat::stop() {
  if (stopped_.exchange(true)) return;
  // Cancelling on the strand keeps the timers single-threaded; a handler that runs anyway
  // sees stopped_ and neither sends nor re-arms.
  asio::dispatch(strand_, [this] {
    status_timer_.cancel();
    watchdog_timer_.cancel();
  });
}

void ServiceHeartbeat::arm_status() {
  status_timer_.expires_after(kStatusInterval);
  status_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    notifier_.status(status_line_());
    arm_status();
  });
}

void ServiceHeartbeat::arm_watchdog() {
  watchdog_timer_.expires_after(*watchdog_period_);
  watchdog_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    notifier_.watchdog();
    arm_watchdog();
  });
}

StartupTimeoutExtender::StartupTimeoutExtender(const ServiceNotifier& notifier, std::string status,
                                               std::chrono::milliseconds period) {
  if (!notifier.enabled()) return;
  thread_ = std::jthread([&notifier, status = std::move(status), period](std::stop_token stop) {
    std::mutex mutex;
    std::condition_variable_any wake;
    const auto started = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex);
    // wait_for returns true once stop is requested, false when a period has passed.
    while (!wake.wait_for(lock, stop, period, [&stop] { return stop.stop_requested(); })) {
      const auto elapsed =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
      notifier.extend_timeout(kExtension, status + " (" + std::to_string(elapsed.count()) + " s)");
    }
  });
}

StartupTimeoutExtender::~StartupTimeoutExtender() = default;  // jthread requests stop and joins

}  // namespace rstmdb::server
