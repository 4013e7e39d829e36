// One bench connection: TCP connect, HELLO (+ AUTH), its share of the working-set setup, and
// the measured load loop.
//
// The load loop keeps up to `pipeline` units outstanding. Responses come back in request order
// (protocol.md §7), so in-flight requests sit in a FIFO ring and each response is matched to
// the head of it (its id is checked too). Three or four coroutines share the connection, all
// on its worker's single-threaded io_context, so no locking: the reader decodes responses and
// starts the next units, the only writer drains the pending output buffer, a watchdog enforces
// the request timeout, and in open-loop mode a pacer releases units at their scheduled times.
//
// Hot path: no JSON DOM (response_scan.hpp), request text from RequestBuilder pieces, buffers
// reused; one clock read per socket read, shared by all responses it carried.
#pragma once

#include "protocol/frame_decoder.hpp"
#include "tools/bench/ack_table.hpp"
#include "tools/bench/options.hpp"
#include "tools/bench/report.hpp"
#include "tools/bench/request_builder.hpp"
#include "tools/bench/workload.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace rstmdb::bench {

using Clock = std::chrono::steady_clock;

// A failure that ends setup or the run; the message is printed as is.
class BenchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A request answered with status "error" during setup.
class RequestFailed : public BenchError {
 public:
  RequestFailed(std::string code, const std::string& message) : BenchError(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

// Error codes the bench itself assigns (the rest come from the server, protocol.md §6.4).
inline constexpr std::string_view kErrTimeout = "TIMEOUT";
inline constexpr std::string_view kErrConnectionLost = "CONNECTION_LOST";
inline constexpr std::string_view kErrProtocol = "PROTOCOL_ERROR";

// Everything the connections share. Written by the runner before the load starts; during the
// load only the atomics change.
struct RunPlan {
  const BenchOptions* options = nullptr;
  const RequestBuilder* requests = nullptr;
  std::uint64_t working_set = 0;  // pre-created instances (0 when the mix needs none)
  std::uint64_t wal_latest = 0;   // latest log offset after setup, for wal_read
  AckTable* acks = nullptr;       // watch workload: every APPLY_EVENT offset acknowledged

  Clock::time_point load_start;
  Clock::time_point measure_begin;  // end of warmup
  Clock::time_point measure_end;    // Clock::time_point::max() with -n
  bool counted = false;             // -n: stop after units_left measured units
  std::atomic<std::int64_t> units_left{0};
  std::atomic<bool> stop{false};  // interrupted: start nothing new, drain, finish
};

// Counters of one worker thread, touched only from that thread during the run.
struct WorkerStats {
  std::array<std::unique_ptr<OpResult>, kOpCount> ops;  // allocated for the ops in the mix
  std::map<std::string, std::uint64_t, std::less<>> errors_by_code;
  Clock::time_point last_completion{};  // of a measured unit
  Clock::time_point last_end{};         // when the last of this thread's connections stopped
  std::vector<std::string> failures;    // connections that died, with the reason
  AckSet acked;                         // watch workload: offsets of acknowledged applies

  void add_error(std::string_view code);
};

class Connection {
 public:
  // `index` makes the ids of instances this connection creates unique.
  Connection(boost::asio::io_context& io, RunPlan& plan, WorkerStats& stats, std::uint32_t index);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connect, HELLO (protocol_version 1, binary_json), AUTH when a token is set. Returns the
  // server name and version from HELLO.
  boost::asio::awaitable<ServerIdentity> open();

  // Control connection: open(), INFO (its server_name, server_version and implementation
  // replace HELLO's; an INFO error is tolerated), then PUT_MACHINE of the bench machine when
  // `put_machine`.
  boost::asio::awaitable<ServerIdentity> control_setup(bool put_machine);
  // WAL_STATS latest_offset (0 when absent).
  boost::asio::awaitable<std::uint64_t> latest_offset();
  // WATCH_ALL of the bench machine (RequestBuilder::watch_all); returns its wal_offset.
  boost::asio::awaitable<std::uint64_t> watch_all();

  // One request with a setup-time timeout; returns `result` or throws RequestFailed /
  // BenchError. `build(id)` returns the request payload for that id.
  boost::asio::awaitable<boost::json::object> call(std::string_view what,
                                                   std::string (*build)(std::string_view id));
  boost::asio::awaitable<boost::json::object> call_payload(std::string_view what, std::string payload,
                                                           const std::string& id);
  std::string take_id();

  // open(), then create working-set instances first, first+stride, ... below end, pipelined.
  boost::asio::awaitable<void> setup(std::uint64_t first, std::uint64_t stride, std::uint64_t end);

  // The measured loop; returns when this connection has nothing left to do.
  boost::asio::awaitable<void> run_load();

  // Ends everything at once (closes the socket, cancels timers). Call on this connection's
  // io_context; idempotent.
  void shutdown() noexcept;

  boost::asio::io_context& io() noexcept { return io_; }
  // For a subscriber that reads the connection itself once setup (open, watch_all) is done.
  boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }
  protocol::FrameDecoder& decoder() noexcept { return decoder_; }

 private:
  struct Slot {
    Clock::time_point start;     // unit start: send time, or scheduled time in open loop
    std::uint64_t argument = 0;  // working-set index, created-instance seq or from_offset
    Op op = Op::Ping;
    std::uint8_t step = 0;
    bool measured = false;
  };
  struct InFlight {
    std::uint64_t id;
    Clock::time_point sent;
    std::uint32_t slot;
  };

  boost::asio::awaitable<std::string_view> read_message();
  boost::asio::awaitable<void> write_all(const std::string& bytes);

  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> watchdog_loop();
  boost::asio::awaitable<void> pace_loop();

  bool admit(Clock::time_point at, bool& measured);
  void start_unit(std::uint32_t slot, Clock::time_point start, bool measured, Clock::time_point now);
  void send_step(std::uint32_t slot, Clock::time_point now);
  void complete_unit(std::uint32_t slot, Clock::time_point now, std::string_view error_code);
  bool on_response(std::string_view payload, Clock::time_point now);
  void issue_due(Clock::time_point now);
  Clock::time_point scheduled(std::uint64_t k) const;
  void flush() noexcept;
  void maybe_finish() noexcept;
  void fail(std::string_view code, const std::string& reason);
  std::uint64_t next_random() noexcept;

  boost::asio::io_context& io_;
  RunPlan& plan_;
  WorkerStats& stats_;
  const std::uint32_t index_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;     // setup timeouts
  boost::asio::steady_timer wake_;      // wakes the writer
  boost::asio::steady_timer watchdog_;  // request timeout checks
  boost::asio::steady_timer pacer_;     // open-loop schedule
  protocol::FrameDecoder decoder_;
  Clock::duration timeout_;

  std::string out_pending_;  // framed requests not yet handed to the socket
  std::string out_writing_;  // the buffer of the write in progress
  std::string scratch_;      // one request payload

  std::vector<Slot> slots_;
  std::vector<InFlight> ring_;  // FIFO of requests in flight; at most one per slot
  std::size_t ring_head_ = 0;
  std::size_t ring_size_ = 0;
  std::vector<std::uint32_t> free_slots_;  // open loop only

  std::uint64_t next_id_ = 1;
  std::uint64_t created_seq_ = 0;
  std::uint64_t rng_state_;
  bool open_loop_ = false;
  double interval_ns_ = 0;  // open loop: time between this connection's units
  double phase_ = 0;        // open loop: offset of unit 0, in intervals
  std::uint64_t next_unit_ = 0;
  bool pacer_waits_for_slot_ = false;

  bool stopping_ = false;  // start no new units
  bool done_ = false;      // nothing outstanding any more, or failed
  bool shut_ = false;
};

}  // namespace rstmdb::bench
