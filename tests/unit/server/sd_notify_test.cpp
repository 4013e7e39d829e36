// sd_notify sender: environment parsing, datagram format on path and abstract sockets,
// heartbeat cadence and stop, startup timeout extension. The receiving end is a real
// AF_UNIX datagram socket, as systemd's is.
#include "server/sd_notify.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace {

using rstmdb::server::parse_notify_environment;
using rstmdb::server::ServiceHeartbeat;
using rstmdb::server::ServiceNotifier;
using rstmdb::server::StartupTimeoutExtender;
using namespace std::chrono_literals;

// A bound datagram socket playing the service manager.
class Receiver {
 public:
  // `abstract`: bind in the abstract namespace; else a file in a fresh temp directory.
  explicit Receiver(bool abstract) {
    const std::string name = rstmdb::test::unique_name("rstmdb-sdnotify-test");
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t length;
    if (abstract) {
      address_ = "@" + name;
      std::memcpy(addr.sun_path + 1, name.data(), name.size());
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    } else {
      dir_ = std::filesystem::temp_directory_path() / name;
      std::filesystem::create_directories(dir_);
      address_ = (dir_ / "notify").string();
      std::memcpy(addr.sun_path, address_.data(), address_.size());
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() + 1);
    }
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), length) == 0);
  }
  ~Receiver() {
    close();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  const std::string& address() const { return address_; }

  // The next datagram within `timeout`, or nullopt.
  std::optional<std::string> next(std::chrono::milliseconds timeout = 2000ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
  // Every datagram already queued.
  std::vector<std::string> drain() {
    std::vector<std::string> all;
    while (auto m = next(0ms))
      all.push_back(*m);
    return all;
  }

 private:
  int fd_ = -1;
  std::string address_;
  std::filesystem::path dir_;
};

std::size_t count_of(const std::vector<std::string>& messages, const std::string& text) {
  std::size_t n = 0;
  for (const auto& m : messages)
    n += m == text;
  return n;
}

}  // namespace

TEST_CASE("notify environment: unset, set, watchdog for us or another process", "[sd_notify]") {
  auto env = parse_notify_environment(nullptr, nullptr, nullptr, 42);
  CHECK(env.socket.empty());
  CHECK_FALSE(env.watchdog_interval);
  CHECK(env.warnings.empty());

  env = parse_notify_environment("/run/systemd/notify", "30000000", nullptr, 42);
  CHECK(env.socket == "/run/systemd/notify");
  REQUIRE(env.watchdog_interval);
  CHECK(*env.watchdog_interval == 30s);

  env = parse_notify_environment("@x", "30000000", "42", 42);
  REQUIRE(env.watchdog_interval);

  env = parse_notify_environment("@x", "30000000", "43", 42);  // another process's watchdog
  CHECK_FALSE(env.watchdog_interval);
  CHECK(env.warnings.empty());
}

TEST_CASE("notify environment: malformed watchdog values are ignored with a warning", "[sd_notify]") {
  for (const char* bad : {"abc", "0", "-5", "12x", "99999999999999999999", "31536000000001"}) {
    INFO(bad);
    const auto env = parse_notify_environment("@x", bad, nullptr, 42);
    CHECK_FALSE(env.watchdog_interval);
    REQUIRE(env.warnings.size() == 1);
    CHECK(env.warnings[0].find("WATCHDOG_USEC") != std::string::npos);
  }
  const auto env = parse_notify_environment("@x", "1000", "pid", 42);
  CHECK_FALSE(env.watchdog_interval);
  CHECK(env.warnings.size() == 1);
  // An empty variable is unset.
  CHECK(parse_notify_environment("@x", "", nullptr, 42).warnings.empty());
}

TEST_CASE("notifier without NOTIFY_SOCKET is a no-op", "[sd_notify]") {
  ServiceNotifier notifier("");
  CHECK_FALSE(notifier.enabled());
  CHECK(notifier.problem().empty());
  CHECK_FALSE(notifier.ready("ready"));
  CHECK_FALSE(notifier.watchdog());
}

TEST_CASE("notifier rejects unusable addresses", "[sd_notify]") {
  // Built one by one: GCC 12 -O3 sees an out-of-bounds memcpy in an initializer list of
  // concatenated strings when the standard headers come precompiled (a false report).
  std::vector<std::string> bad_addresses{"relative/notify"};
  bad_addresses.push_back("/" + std::string(120, 'a'));
  bad_addresses.push_back("@" + std::string(120, 'a'));
  for (const std::string& bad : bad_addresses) {
    ServiceNotifier notifier(bad);
    CHECK_FALSE(notifier.enabled());
    CHECK(notifier.problem().find("NOTIFY_SOCKET=") == 0);
  }
}

TEST_CASE("notifier sends one datagram per message, path and abstract sockets", "[sd_notify]") {
  for (bool abstract : {false, true}) {
    INFO("abstract=" << abstract);
    Receiver manager(abstract);
    ServiceNotifier notifier(manager.address());
    REQUIRE(notifier.enabled());

    CHECK(notifier.ready("ready; 0 conns; offset 7"));
    CHECK(manager.next() == "READY=1\nSTATUS=ready; 0 conns; offset 7");
    CHECK(notifier.status("line one\nline two"));  // one line only
    CHECK(manager.next() == "STATUS=line one line two");
    CHECK(notifier.stopping("draining 2 connection(s), grace 5s"));
    CHECK(manager.next() == "STOPPING=1\nSTATUS=draining 2 connection(s), grace 5s");
    CHECK(notifier.watchdog());
    CHECK(manager.next() == "WATCHDOG=1");
    CHECK(notifier.extend_timeout(15s, "opening"));
    CHECK(manager.next() == "EXTEND_TIMEOUT_USEC=15000000\nSTATUS=opening");

    CHECK(notifier.reloading("reloading configuration"));
    const auto reloading = manager.next();
    REQUIRE(reloading);
    const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
    REQUIRE(reloading->rfind(prefix, 0) == 0);
    const auto status_at = reloading->find("\nSTATUS=reloading configuration");
    REQUIRE(status_at != std::string::npos);
    const auto usec = reloading->substr(prefix.size(), status_at - prefix.size());
    CHECK_FALSE(usec.empty());
    CHECK(usec.find_first_not_of("0123456789") == std::string::npos);

    // The manager went away: the send fails, nothing throws.
    manager.close();
    CHECK_FALSE(notifier.watchdog());
  }
}

TEST_CASE("heartbeat sends WATCHDOG=1 at half the interval until stopped", "[sd_notify]") {
  Receiver manager(true);
  ServiceNotifier notifier(manager.address());
  boost::asio::io_context io;
  ServiceHeartbeat heartbeat(io.get_executor(), notifier, 40ms, [] { return std::string("ready"); });
  REQUIRE(heartbeat.watchdog_period() == 20ms);
  heartbeat.start();
  io.run_for(400ms);  // ~20 periods
  const auto during = manager.drain();
  // Generous bounds: the count proves a cadence, not exact timing.
  CHECK(count_of(during, "WATCHDOG=1") >= 5);
  CHECK(count_of(during, "WATCHDOG=1") <= 25);
  CHECK(count_of(during, "WATCHDOG=1") == during.size());  // no STATUS= before 10 s

  heartbeat.stop();
  io.restart();
  io.run_for(150ms);
  CHECK(manager.drain().empty());
}

TEST_CASE("heartbeat without a watchdog interval sends no WATCHDOG=1", "[sd_notify]") {
  Receiver manager(true);
  ServiceNotifier notifier(manager.address());
  boost::asio::io_context io;
  ServiceHeartbeat heartbeat(io.get_executor(), notifier, std::nullopt, [] { return std::string("ready"); });
  CHECK_FALSE(heartbeat.watchdog_period());
  heartbeat.start();
  io.run_for(200ms);
  CHECK(manager.drain().empty());
  heartbeat.stop();
}

TEST_CASE("watchdog period has a floor", "[sd_notify]") {
  CHECK(ServiceHeartbeat::watchdog_period_for(1us) == ServiceHeartbeat::kMinWatchdogPeriod);
  CHECK(ServiceHeartbeat::watchdog_period_for(30s) == 15s);
}

TEST_CASE("startup timeout extender repeats EXTEND_TIMEOUT_USEC until destroyed", "[sd_notify]") {
  Receiver manager(true);
  ServiceNotifier notifier(manager.address());
  {
    StartupTimeoutExtender extender(notifier, "starting: opening storage", 20ms);
    REQUIRE(manager.next());
    REQUIRE(manager.next());
  }
  manager.drain();  // at most one more was in flight when it was destroyed
  CHECK_FALSE(manager.next(100ms));

  StartupTimeoutExtender extender(notifier, "starting: opening storage", 20ms);
  const auto message = manager.next();
  REQUIRE(message);
  CHECK(message->rfind("EXTEND_TIMEOUT_USEC=15000000\nSTATUS=starting: opening storage (", 0) == 0);
}
