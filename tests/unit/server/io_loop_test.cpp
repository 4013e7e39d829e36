#include "server/io_loop.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include <pthread.h>
#include <time.h>

#include <chrono>
#include <future>
#include <thread>

using namespace std::chrono_literals;
using rstmdb::server::IoLoop;

namespace {

// Waits (bounded) until `pred` holds.
template <typename Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct TwoThreadLoop {
  boost::asio::io_context io{2};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  IoLoop loop{io, 50us};
  std::thread a{[this] { loop.run(); }};
  std::thread b{[this] { loop.run(); }};
  // Stops the context and joins both threads (each would hang if its loop did not end).
  void stop() {
    work.reset();
    io.stop();
    if (a.joinable()) a.join();
    if (b.joinable()) b.join();
  }
  ~TwoThreadLoop() { stop(); }
};

}  // namespace

TEST_CASE("io loop: with nothing to do, all but one thread park", "[io_loop]") {
  TwoThreadLoop t;
  REQUIRE(eventually([&] { return t.loop.parked() == 1; }));
}

TEST_CASE("io loop: a blocking step wakes a parked thread, which serves meanwhile", "[io_loop]") {
  TwoThreadLoop t;
  REQUIRE(eventually([&] { return t.loop.parked() == 1; }));
  std::promise<void> served;
  auto served_future = served.get_future();
  std::future_status status = std::future_status::deferred;
  std::promise<void> done;
  boost::asio::post(t.io, [&] {
    // The only active thread blocks here (as a leader in its fsync) until the next handler ran.
    t.loop.set_blocking(true);
    status = served_future.wait_for(5s);
    t.loop.set_blocking(false);
    done.set_value();
  });
  boost::asio::post(t.io, [&] { served.set_value(); });
  REQUIRE(done.get_future().wait_for(10s) == std::future_status::ready);
  CHECK(status == std::future_status::ready);
  // Not needed any more: one of the two parks again.
  CHECK(eventually([&] { return t.loop.parked() == 1; }));
}

TEST_CASE("io loop: a stopped context ends parked threads too", "[io_loop]") {
  TwoThreadLoop t;
  REQUIRE(eventually([&] { return t.loop.parked() == 1; }));
  t.stop();  // would hang if the parked thread were not woken
  CHECK(t.loop.parked() == 0);
}

TEST_CASE("io loop: a blocking step with nobody else to serve wakes no one", "[io_loop]") {
  TwoThreadLoop t;
  REQUIRE(eventually([&] { return t.loop.parked() == 1; }));
  std::promise<void> served;
  auto served_future = served.get_future();
  std::future_status status = std::future_status::ready;
  unsigned parked_during = 0;
  std::promise<void> done;
  boost::asio::post(t.io, [&] {
    t.loop.set_blocking(true, false);
    // The same wait that the test above sees served: here the next handler must wait for the
    // step's end, since its only other thread stays parked.
    status = served_future.wait_for(100ms);
    parked_during = t.loop.parked();
    t.loop.set_blocking(false);
    done.set_value();
  });
  boost::asio::post(t.io, [&] { served.set_value(); });
  REQUIRE(done.get_future().wait_for(10s) == std::future_status::ready);
  CHECK(status == std::future_status::timeout);
  CHECK(parked_during == 1);
  // Served once the step ended.
  CHECK(served_future.wait_for(5s) == std::future_status::ready);
}

namespace {

// The CPU time one I/O thread (spin 10 ms) uses while a handler arrives every 2 ms for 300 ms
// with `connections` open: spinning, it never sleeps (each handler falls inside the last one's
// spin); not spinning, it sleeps in epoll between handlers.
std::chrono::nanoseconds cpu_time_under_sparse_load(std::size_t connections) {
  boost::asio::io_context io{1};
  auto work = boost::asio::make_work_guard(io);
  IoLoop loop{io, 10ms};
  loop.set_connections(connections);
  std::thread runner([&] { loop.run(); });
  clockid_t runner_clock;
  const bool have_clock = pthread_getcpuclockid(runner.native_handle(), &runner_clock) == 0;
  const auto cpu_time = [&] {
    timespec ts{};
    clock_gettime(runner_clock, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
  const auto before = cpu_time();
  const auto start = std::chrono::steady_clock::now();
  for (auto next = start; next < start + 300ms; next += 2ms) {
    std::this_thread::sleep_until(next);
    boost::asio::post(io, [] {});
  }
  const auto used = cpu_time() - before;
  work.reset();
  io.stop();
  runner.join();
  REQUIRE(have_clock);  // checked after the join, so a failure never leaves the thread running
  return used;
}

}  // namespace

TEST_CASE("io loop: threads spin only while few connections are open", "[io_loop]") {
  const auto ms = [](std::chrono::nanoseconds d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  const auto few = cpu_time_under_sparse_load(IoLoop::kMaxSpinningConnections);
  const auto many = cpu_time_under_sparse_load(IoLoop::kMaxSpinningConnections + 1);
  INFO("CPU time over 300 ms: " << ms(few) << " ms with " << IoLoop::kMaxSpinningConnections
                                << " connections, " << ms(many) << " ms with one more");
  CHECK(few > 75ms);   // spinning: most of the window, even on a shared machine
  CHECK(many < 40ms);  // sleeping: the handlers' cost and the wake-ups
}

TEST_CASE("io loop: past the spinning connections no thread stays parked", "[io_loop]") {
  TwoThreadLoop t;
  REQUIRE(eventually([&] { return t.loop.parked() == 1; }));
  t.loop.set_connections(IoLoop::kMaxSpinningConnections + 1);
  CHECK(eventually([&] { return t.loop.parked() == 0; }));
  // Few connections again: one parks at its next idle moment.
  t.loop.set_connections(1);
  boost::asio::post(t.io, [] {});
  CHECK(eventually([&] { return t.loop.parked() == 1; }));
}
