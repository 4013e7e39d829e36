// One watch-workload subscriber connection (docs/bench.md "Watch"): HELLO (+ AUTH), WATCH_ALL
// of the bench machine (live), then either reads every event or (stalled) never reads again.
//
// A reading subscriber checks its stream as it goes: offsets strictly increase (a repeat is a
// duplicate, a smaller one out of order), each event's instance is the one the writer applied
// to (AckTable), and when the writers have stopped it reads on until it holds the last
// acknowledged offset, then compares the set it received with the writers' AckSet: a smaller
// count is gaps, a different fingerprint unexpected events. Events that arrive in the measured
// window are counted for the rate and their delay from the writer's response is recorded.
//
// Threads: everything runs on the subscriber's io_context (one thread). The runner reads
// done() and received() from its own thread while the run goes on, and the results only after
// that io_context's thread has been joined.
#pragma once

#include "tools/bench/ack_table.hpp"
#include "tools/bench/connection.hpp"
#include "tools/bench/histogram.hpp"
#include "tools/bench/report.hpp"
#include "tools/bench/stream_verifier.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>

namespace rstmdb::bench {

// Per subscriber I/O thread: the delays of its subscribers, merged after the run.
struct WatchStats {
  LatencyHistogram latency;            // response -> event, us, events that arrived in the window
  LatencyHistogram latency_from_send;  // request sent -> event, us, the same events
  std::vector<std::string> failures;
};

class Subscriber {
 public:
  Subscriber(boost::asio::io_context& io, RunPlan& plan, WorkerStats& setup_stats, WatchStats& stats,
             std::uint32_t index, bool stalled);
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // open() and WATCH_ALL; throws BenchError on failure.
  boost::asio::awaitable<void> subscribe();
  // Reads and checks events until finished (or failed); returns at once for a stalled one.
  boost::asio::awaitable<void> run();

  // The writers have stopped: read until `final` is in, then compare with it. Call on io().
  void finish_after(const AckSet& final);
  // Ends the connection now; a reading subscriber that has not finished records `reason` as
  // a failure (empty: no failure, e.g. teardown). Call on io(); idempotent.
  void stop(const std::string& reason);
  void shutdown() noexcept { stop({}); }

  // Any thread.
  bool done() const noexcept { return done_flag_.load(std::memory_order_acquire); }
  std::uint64_t received() const noexcept { return progress_.load(std::memory_order_relaxed); }

  // After the run (io thread joined).
  bool stalled() const noexcept { return stalled_; }
  const StreamCheck& check() const noexcept { return verifier_.check(); }
  // Stalled ones: whether the server still had the connection open when asked (TCP_INFO).
  bool still_connected() noexcept;

  boost::asio::io_context& io() noexcept { return conn_.io(); }

 private:
  // An in-window event that came before its writer read the response: its delays are taken
  // once the writer has recorded the ack.
  struct Early {
    std::uint64_t offset;
    std::uint64_t instance;  // kNoInstance when the id is not a working-set id
    Clock::time_point arrived;
  };

  bool on_message(std::string_view payload, Clock::time_point now);
  void record(const AckTable::Ack& ack, std::uint64_t instance, Clock::time_point arrived);
  // Resolves the early events whose acks are in; with `all`, every one (the writers have stopped).
  void resolve_early(bool all);
  void maybe_finish();
  void fail(const std::string& reason);

  Connection conn_;
  RunPlan& plan_;
  WatchStats& stats_;
  const std::uint32_t index_;
  const bool stalled_;
  StreamVerifier verifier_;
  AckSet final_;
  std::deque<Early> early_;
  bool finishing_ = false;
  bool done_ = false;
  std::atomic<bool> done_flag_{false};
  std::atomic<std::uint64_t> progress_{0};
};

}  // namespace rstmdb::bench
