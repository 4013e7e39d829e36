// Talking to the service manager (runtime.md §5.2): the sd_notify(3) datagram protocol,
// written in-tree so that the server does not link libsystemd.
//
// ServiceNotifier sends one datagram per message to the AF_UNIX socket named by
// $NOTIFY_SOCKET ("/path" or "@abstract"); without that variable every call is a no-op.
// ServiceHeartbeat runs on the server's io_context and sends the periodic STATUS= line and,
// when the manager asked for it ($WATCHDOG_USEC), WATCHDOG=1 at half the interval, so a
// main loop that stops turning stops the keep-alives.
//
// Threads: ServiceNotifier is immutable after construction and safe to use from any thread
// (each call is one non-blocking sendto on a socket opened at startup, so it works even
// when the process has run out of file descriptors). ServiceHeartbeat's start()/stop() may be
// called from any thread; its timers run on its own strand.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rstmdb::server {

// What the service manager put into our environment.
struct NotifyEnvironment {
  std::string socket;  // $NOTIFY_SOCKET; empty = not supervised
  // Half of this is the WATCHDOG=1 period; unset when $WATCHDOG_USEC is absent, malformed,
  // or meant for another process ($WATCHDOG_PID names a different pid).
  std::optional<std::chrono::microseconds> watchdog_interval;
  std::vector<std::string> warnings;  // malformed variables, for the log
};

// Pure parser of the three variables (null = unset); `self` is our pid.
NotifyEnvironment parse_notify_environment(const char* notify_socket, const char* watchdog_usec,
                                           const char* watchdog_pid, pid_t self);
// parse_notify_environment() of this process's environment.
NotifyEnvironment read_notify_environment();

class ServiceNotifier {
 public:
  // Opens the datagram socket for `socket_address` ("/path" or "@abstract"). An empty
  // address disables the notifier; an unusable one disables it and sets problem().
  explicit ServiceNotifier(std::string socket_address);
  ~ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  bool enabled() const noexcept { return fd_ >= 0; }
  // Why an address that was given cannot be used (empty when fine or unset).
  const std::string& problem() const noexcept { return problem_; }

  // One datagram with `message` ("KEY=value" lines). False if disabled or the send failed
  // (the manager is gone or its queue is full); callers carry on either way.
  bool send(std::string_view message) const;

  // Convenience forms. `status` is a one-line human-readable state (newlines become spaces).
  bool ready(std::string_view status) const;      // READY=1 + STATUS=
  bool status(std::string_view status) const;     // STATUS=
  bool stopping(std::string_view status) const;   // STOPPING=1 + STATUS=
  bool reloading(std::string_view status) const;  // RELOADING=1 + MONOTONIC_USEC= + STATUS=
  bool watchdog() const;                          // WATCHDOG=1
  // EXTEND_TIMEOUT_USEC=: the start/stop timeout is extended to `extension` from now.
  bool extend_timeout(std::chrono::microseconds extension, std::string_view status) const;

 private:
  int fd_ = -1;
  std::string address_;  // sockaddr_un.sun_path bytes (a leading NUL for the abstract form)
  std::string problem_;
};

class ServiceHeartbeat {
 public:
  // Between two periodic STATUS= lines (runtime.md §5.2: "every 10 s").
  static constexpr std::chrono::seconds kStatusInterval{10};
  // Floor of the WATCHDOG=1 period, so that a tiny WATCHDOG_USEC cannot make a busy loop.
  static constexpr std::chrono::milliseconds kMinWatchdogPeriod{1};

  // `status_line` is called on the heartbeat's strand for each periodic STATUS= line and
  // must be cheap and thread-safe. `notifier` must outlive the heartbeat.
  ServiceHeartbeat(boost::asio::any_io_executor executor, const ServiceNotifier& notifier,
                   std::optional<std::chrono::microseconds> watchdog_interval,
                   std::function<std::string()> status_line);
  ~ServiceHeartbeat();

  // The WATCHDOG=1 period for a manager's WATCHDOG_USEC: half of it, at least kMinWatchdogPeriod.
  static std::chrono::microseconds watchdog_period_for(std::chrono::microseconds interval);

  // Arms the timers (nothing happens when the notifier is disabled).
  void start();
  // No further messages after this returns; pending timers are cancelled.
  void stop();

  // The WATCHDOG=1 period in use, if any.
  std::optional<std::chrono::microseconds> watchdog_period() const noexcept { return watchdog_period_; }

 private:
  void arm_status();
  void arm_watchdog();

  const ServiceNotifier& notifier_;
  std::optional<std::chrono::microseconds> watchdog_period_;
  std::function<std::string()> status_line_;
  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::steady_timer status_timer_;
  boost::asio::steady_timer watchdog_timer_;
  std::atomic<bool> stopped_{false};
};

// While alive, tells the manager every kPeriod that a slow phase (opening a large database,
// runtime.md §5.1 step 5) is still making progress, so TimeoutStartSec= does not kill it.
// Owns one thread, only when the notifier is enabled.
class StartupTimeoutExtender {
 public:
  static constexpr std::chrono::seconds kPeriod{5};
  // Each message extends the timeout this far from now: three periods, so one late
  // message is not fatal.
  static constexpr std::chrono::seconds kExtension{15};

  // `period` is kPeriod except in tests.
  StartupTimeoutExtender(const ServiceNotifier& notifier, std::string status,
                         std::chrono::milliseconds period = kPeriod);
  ~StartupTimeoutExtender();  // stops and joins the thread
  StartupTimeoutExtender(const StartupTimeoutExtender&) = delete;
  StartupTimeoutExtender& operator=(const StartupTimeoutExtender&) = delete;

 private:
  std::jthread thread_;
};

}  // namespace rstmdb::server
