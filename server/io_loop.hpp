// How the I/O threads run the server's io_context: plain run() on every thread, or — with
// network.io_spin_us > 0 — one active thread that busy-polls briefly before it sleeps, and the
// others parked until they are needed.
//
// Why: on a virtual machine a request for a thread asleep in epoll_wait pays the wake-up of its
// halted CPU — about 50 µs on the 2-vCPU machines we measure on (a loopback ping-pong between
// two blocking threads: 80 µs per round trip; with the server side polling: 24 µs), several
// times the work of a request. A thread that has just run handlers keeps polling (without
// blocking) for up to `spin` more, so a client that sends its next request within that window
// (one connection, one request in flight: the latency-bound case) finds it awake.
//
// A poll only sees the sockets when no other thread sits in epoll_wait on the context's
// reactor, so threads beyond the first park (on a condition variable of their own, outside the
// io_context) whenever they find no work while another thread is active. A parked thread is
// woken (one at a time) when
//   - the active thread starts a blocking step (a write group it leads, with its fsync:
//     set_blocking(true, others_to_serve)) while there are other connections to serve, so
//     that they keep being served during the sync (with none, a wake-up would only cost the
//     blocking request: ~25% of a lone durable write here; a connection that arrives during
//     the step waits for its end, one fsync at most), or
//   - the active threads have had no idle moment for kBusyBeforeHelp: the load needs them.
// It parks again at its first idle moment once it is not needed (active threads > 1 + the
// number in a blocking step). So an idle server burns at most one CPU, for at most `spin`
// after its last handler, and a loaded one runs every thread as run() would.
//
// Threads spin only while at most kMaxSpinningConnections connections are open; beyond that
// none parks either (nobody polls blind), and parked threads are woken: the loop is run(). The spin is
// for latency-bound clients, a few connections each waiting for its reply; with many, a
// handler is nearly always ready, and a spin in the gaps takes CPU from the sequencer and
// from clients on the same machine (measured on 2 vCPUs, non-durable APPLY_EVENT x 1, spin
// vs none: 4 connections 29 900 vs 23 400/s, 8: 38 000 vs 36 700, 16: 47 800 vs 46 900,
// 32: 51 800 vs 53 400, 128: 44 400 vs 62 600).
//
// With spin = 0 every thread runs io_context::run() and nothing here is used.
//
// Threads: run() is called by each I/O thread; set_blocking() by a handler on an I/O thread
// (the engine's lead-sync hook); all members are thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace rstmdb::server {

class IoLoop {
 public:
  // Continuous work after which an active thread wakes a parked one.
  static constexpr std::chrono::microseconds kBusyBeforeHelp{500};

  // Open connections above which no thread spins (see above).
  static constexpr std::size_t kMaxSpinningConnections = 8;

  IoLoop(boost::asio::io_context& io, std::chrono::microseconds spin) : io_(io), spin_(spin) {}

  // Runs the context on this thread until it is stopped or out of work (as run() does).
  void run();

  // A handler on an I/O thread is about to block (true) / is done blocking (false). A parked
  // thread is woken to serve meanwhile only if `others_to_serve` (ignored when unblocking).
  void set_blocking(bool blocking, bool others_to_serve = true);

  // The server's open connections, told on every accept and close (any thread).
  void set_connections(std::size_t open);
  bool spinning_allowed() const noexcept {
    return connections_.load(std::memory_order_relaxed) <= kMaxSpinningConnections;
  }

  // Threads parked now (tests, diagnostics).
  unsigned parked() const noexcept { return parked_.load(std::memory_order_relaxed); }

 private:
  void run_spinning();
  // Parks this thread if it is not needed; returns false once the loop must end.
  bool park_if_unneeded();
  void wake_one();
  void wake_all();
  // Without spinning nobody polls blind, so every thread serves, as run() would.
  bool needed() const noexcept {
    return !spinning_allowed() ||
           active_.load(std::memory_order_relaxed) <= 1 + blocking_.load(std::memory_order_relaxed);
  }

  boost::asio::io_context& io_;
  const std::chrono::microseconds spin_;
  std::atomic<unsigned> active_{0};    // threads in the loop, not parked
  std::atomic<unsigned> blocking_{0};  // of them, in a blocking step
  std::atomic<unsigned> parked_{0};
  std::atomic<std::size_t> connections_{0};
  std::mutex mutex_;
  std::condition_variable wakeup_;
  unsigned wake_tokens_ = 0;  // guarded by mutex_
  bool ended_ = false;        // guarded by mutex_: a thread saw the context stop
};

}  // namespace rstmdb::server
