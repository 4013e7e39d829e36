#include "server/rate_limited_warning.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

using rstmdb::server::RateLimitedWarning;

namespace {

struct CapturedLog {
  CapturedLog() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    sink->set_pattern("%l %v");
    logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_level(spdlog::level::trace);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);)
      result.push_back(line);
    return result;
  }
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
};

constexpr auto kShort = std::chrono::milliseconds(200);

}  // namespace

TEST_CASE("the first warning of a quiet period is logged at once, repeats are counted") {
  CapturedLog log;
  RateLimitedWarning w(log.logger, "limit", kShort);
  for (int i = 0; i < 1000; ++i)
    w.warn("rejecting peer {}", i);
  auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "warning rejecting peer 0");

  std::this_thread::sleep_for(kShort + std::chrono::milliseconds(20));
  w.warn("rejecting peer {}", 1000);
  lines = log.lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[1] == "warning rejecting peer 1000 (999 similar suppressed in the last 0 s)");
}

TEST_CASE("flush reports a leftover count once its window has passed, and only then") {
  CapturedLog log;
  RateLimitedWarning w(log.logger, "connection limit reached", kShort);
  w.warn("first");
  w.warn("second");
  w.warn("third");
  w.flush();  // inside the window: nothing yet
  CHECK(log.lines().size() == 1);
  std::this_thread::sleep_for(kShort + std::chrono::milliseconds(20));
  w.flush();
  auto lines = log.lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[1] == "warning connection limit reached: 2 more in the last 0 s (suppressed)");
  std::this_thread::sleep_for(kShort + std::chrono::milliseconds(20));
  w.flush();  // nothing suppressed since: silent
  CHECK(log.lines().size() == 2);
}

TEST_CASE("every event is accounted for across threads") {
  CapturedLog log;
  RateLimitedWarning w(log.logger, "kind", std::chrono::hours(1));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&w] {
      for (int i = 0; i < 2500; ++i)
        w.warn("event");
    });
  for (auto& t : threads)
    t.join();
  CHECK(log.lines().size() == 1);
  RateLimitedWarning later(log.logger, "kind", std::chrono::milliseconds(0));
  later.warn("a");
  later.warn("b");  // zero interval: nothing is suppressed
  CHECK(log.lines().size() == 3);
}
