// One client connection: a reader coroutine that decodes messages and dispatches them, and a
// single writer coroutine that drains the ordered response slots. Everything runs on the
// connection's strand; other threads reach a session only through deliver(), drain() and
// force_close(), which post to that strand.
//
// Ordering (protocol.md §7): every decoded message gets a response slot in arrival order and
// the writer only ever writes the front slot, so responses leave in request order whatever
// order handlers finish in. A request starts only when every earlier request has finished,
// except that a write may start while only earlier writes are still unfinished (they queue
// FIFO to the storage sequencer, which preserves arrival order) — so each request sees the
// effects of all earlier ones.
//
// Backpressure (protocol.md §4): reading pauses while max_in_flight requests are unanswered
// or unsent response bytes exceed max_write_buffer_bytes; nothing is dropped.
#pragma once

#include "protocol/frame_decoder.hpp"
#include "server/dispatcher.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace rstmdb::server {

class ConnectionRegistry;

// Settings a session needs, copied from the configuration at accept time.
struct SessionLimits {
  std::size_t max_frame_bytes;
  std::size_t max_in_flight;
  std::size_t max_write_buffer_bytes;
  std::chrono::seconds idle_timeout;  // 0 = off
  bool auth_required;
  std::uint32_t max_auth_failures;  // 0 = unlimited
};

class Session final : public ReplySink, public std::enable_shared_from_this<Session> {
 public:
  using Socket = boost::asio::ip::tcp::socket;

  Session(Socket socket, std::uint64_t id, SessionLimits limits, const Dispatcher& dispatcher,
          ConnectionRegistry& registry);
  ~Session() override;

  // Spawns the reader, writer and idle-timeout coroutines. Call once.
  void start();

  // Thread-safe. Stop reading, answer the requests already fully received, then close.
  void drain();
  // Thread-safe. Close now; unanswered requests still complete atomically but are not sent.
  void force_close();

  void deliver(std::uint64_t slot, Reply reply) override;

  std::uint64_t id() const noexcept { return context_.connection_id; }

 private:
  struct PendingRequest {
    protocol::Request request;
    const OpEntry* op;
  };

  struct Slot {
    protocol::Framing framing;
    bool started = false;
    bool ready = false;
    bool is_write = false;
    bool close_after = false;
    std::string request_id;
    std::string op_name;
    std::size_t bytes_in = 0;
    std::chrono::steady_clock::time_point received;
    std::string bytes;                        // the framed response, once ready
    std::unique_ptr<PendingRequest> pending;  // set until the request is started
  };

  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> idle_loop();

  void on_message(const protocol::DecodedMessage& message);
  Slot& new_slot(protocol::Framing framing, std::size_t bytes_in);
  void start_ready_requests();
  void run_request(std::uint64_t slot_id);
  void complete(std::uint64_t slot_id, Reply reply);
  bool reading_paused() const noexcept;
  void close(std::string_view reason);
  void wake_writer();
  void wake_reader();
  Slot* find_slot(std::uint64_t slot_id);

  Socket socket_;
  SessionLimits limits_;
  const Dispatcher& dispatcher_;
  ConnectionRegistry& registry_;
  SessionContext context_;
  protocol::FrameDecoder decoder_;

  std::deque<Slot> slots_;             // unanswered or unwritten requests, in arrival order
  std::uint64_t front_slot_id_ = 0;    // id of slots_.front()
  std::size_t next_to_start_ = 0;      // index into slots_ of the first request not yet started
  std::size_t unfinished_reads_ = 0;   // started, not ready, not writes
  std::size_t unfinished_writes_ = 0;  // started, not ready, writes
  std::size_t unsent_bytes_ = 0;

  bool input_done_ = false;  // no more messages will be decoded
  bool draining_ = false;
  bool closed_ = false;
  std::chrono::steady_clock::time_point last_message_;

  boost::asio::steady_timer writer_wakeup_;
  boost::asio::steady_timer reader_wakeup_;
  boost::asio::steady_timer idle_timer_;
  boost::asio::cancellation_signal read_cancel_;
  std::string write_buffer_;
};

// Tracks live sessions for the connection limit and shutdown. Thread-safe.
class ConnectionRegistry {
 public:
  virtual ~ConnectionRegistry() = default;
  virtual void on_session_closed(std::uint64_t id, std::string_view reason) = 0;
};

}  // namespace rstmdb::server
