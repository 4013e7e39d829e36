// One client connection: a reader coroutine that decodes messages and dispatches them, a
// single writer coroutine that drains the ordered response slots, and a watchdog for the idle
// and write timeouts. Everything runs on the connection's strand; other threads reach a
// session only through deliver(), drain() and force_close(), which dispatch to that strand.
//
// Ordering (protocol.md §7): every decoded message gets a response slot in arrival order and
// the writer only ever writes the front slot, so responses leave in request order whatever
// order handlers finish in. A request starts only when every earlier request has finished,
// except that a write may start while only earlier writes are still unfinished (they queue
// FIFO to the storage sequencer, which preserves arrival order) — so each request sees the
// effects of all earlier ones. Handlers that answer inline never recurse into the next
// request: start_ready_requests() is one loop, and an answer given inside it only marks the
// slot ready.
//
// Memory of one connection (design.md invariant 7), with B = max_write_buffer_bytes and
// F = kMaxReplyFrameBytes (the largest framed reply, 16 MiB + header; larger replies are
// replaced by an error, and list/read pages are cut to fit):
//   - Reading pauses while max_in_flight requests are unanswered, while B bytes of replies are
//     unsent, or while B bytes of decoded requests wait to start (protocol.md §4: backpressure,
//     never an error).
//   - A request starts only while unsent + reserved reply bytes < B. A started request reserves
//     what its reply may need until it is answered: a read or scan F (they run one at a time,
//     so this costs no concurrency), a write kWriteReplyReservation (4 MiB), so the default B
//     of 64 MiB keeps 16 writes pipelined per connection.
//   - Worst case of reply bytes held: reads and scans B + F (the 96 x 16 MB WAL_READ case stays
//     under 80 MiB); writes ceil(B / 4 MiB) x F, i.e. about 4B + F (a write's reply can carry a
//     16 MiB ctx; with B = 64 MiB: 16 replies, 256 MiB). Each running write's request (at most
//     max_frame_bytes) is held by the storage queue meanwhile. See docs/decisions.md.
//   - A peer that stops reading is closed after write_timeout of no write progress and its
//     memory released; the idle timeout counts a connection that is merely stuck (replies or
//     requests waiting, nothing running) as idle.
//
// Events (server/event_queue.hpp): the subscription hub posts events and `end` messages to the
// strand (deliver_events); each is placed after the response slots that exist when it arrives,
// and the single writer takes slots and events in that merged order, framing events in the
// connection's output mode as of the responses written before them (a HELLO's mode applies from
// its response on: protocol.md §3.5). Queued events are bounded by watch.queue_events /
// watch.queue_bytes (the hub reserves room before it hands one over; a subscription whose next
// event does not fit catches up from the log), not by the reply budget; events being written
// count as unsent bytes like replies, so a watcher that stops reading pauses its own reading and
// is closed after write_timeout like any stuck peer. A connection with a subscription is exempt
// from the idle timeout. On a shutdown drain each subscription gets `end` (reason shutdown)
// after the responses due; on every close the connection's subscriptions are removed.
//
// Closing: after BYE, the AUTH failure limit, a protocol error, a shutdown drain or a revoked
// token, every reply due is written, then the sending side is closed (TLS: close_notify; then
// shutdown(SHUT_WR)) and the peer's remaining input read and discarded until the peer closes or
// has acknowledged everything sent, for at most kCloseDrainTimeout (2 s), so a close never
// resets a reply away before it arrived. Idle and write-timeout closes are immediate.
//
// Transport (transport.hpp): plain TCP or TLS, one code path. A TLS session first peeks at the
// client's first byte and runs the handshake under network.handshake_timeout_secs; only then
// do the reader, writer and watchdog start, so framing detection runs on decrypted bytes. A
// failed or timed-out handshake closes the connection (OpenSSL's alert sent, no RCP bytes) with
// the reason "tls_handshake" or "handshake_timeout", which releases its connection slot like
// any other close. Replies are written straight from complete() (write_now) on plain
// connections only; a TLS session always writes from its writer coroutine.
#pragma once

#include "protocol/frame_decoder.hpp"
#include "server/dispatcher.hpp"
#include "server/event_queue.hpp"
#include "server/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace rstmdb::server {

class ConnectionRegistry;
class TlsContext;
class TokenVerifier;
struct ClientWarnings;
struct RequestDetails;

// Settings a session needs, copied from the configuration at accept time; a reload changes the
// reloadable ones of live sessions through reconfigure().
struct SessionLimits {
  std::size_t max_frame_bytes;
  std::size_t max_in_flight;
  std::size_t max_write_buffer_bytes;
  std::chrono::seconds idle_timeout;          // 0 = off; reloadable
  std::chrono::seconds write_timeout;         // 0 = off; reloadable
  bool auth_required;                         // reloadable
  std::uint32_t max_auth_failures;            // 0 = unlimited; reloadable
  EventQueue::Limits watch;                   // watch.*
  std::chrono::seconds handshake_timeout{0};  // TLS only; 0 = none
};

class Session final : public ReplySink, public EventSink, public std::enable_shared_from_this<Session> {
 public:
  using Socket = boost::asio::ip::tcp::socket;

  // `tls`: the TLS context to serve this connection with; null = plain TCP. `warnings` are the
  // server's rate-limited client warnings and `hub` the subscription hub (null: the connection
  // cannot subscribe); both outlive every session.
  Session(Socket socket, std::shared_ptr<TlsContext> tls, std::uint64_t id, SessionLimits limits,
          const Dispatcher& dispatcher, ConnectionRegistry& registry, ClientWarnings& warnings,
          SubscriptionHub* hub = nullptr);
  ~Session() override;

  // TLS: runs the handshake first. Then spawns the reader, writer and watchdog coroutines.
  // Call once.
  void start();

  // Thread-safe. Stop reading, answer the requests already fully received, then close.
  void drain();
  // Thread-safe. Close now; unanswered requests still complete atomically but are not sent.
  void force_close();
  // Thread-safe. A reload: the reloadable limits apply from now on (the watchdog looks again);
  // a session whose AUTH matched a digest `tokens` no longer has stops reading and closes
  // ("revoked") once the replies due are written, and one that authenticated without a
  // verified token (auth was off) must AUTH again when auth.required is now on.
  void reconfigure(const SessionLimits& limits, std::shared_ptr<const TokenVerifier> tokens);

  void deliver(std::uint64_t slot, Reply reply) override;
  // EventSink: thread-safe, posted to the strand.
  void deliver_events(EventBatch batch) override;
  void close_for_subscriptions(std::string_view reason) override;

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
    std::size_t op_index = 0;                 // Dispatcher::operation_index(op_name)
    std::unique_ptr<RequestDetails> details;  // for the log lines, when they are written
    std::size_t bytes_in = 0;
    std::size_t reserved = 0;  // reply bytes reserved while started and unanswered
    std::chrono::steady_clock::time_point received;
    std::string bytes;  // the framed response, once ready
    // A successful HELLO: the output mode of the events written after this response.
    std::optional<protocol::Framing> event_framing_after;
    std::unique_ptr<PendingRequest> pending;  // set until the request is started
  };

  void start_serving();
  boost::asio::awaitable<void> tls_handshake();
  void apply_reconfigure(const SessionLimits& limits, const TokenVerifier& tokens);
  // Drops the requests received but not yet started, without replies (a revoked token).
  void discard_unstarted_requests();
  boost::asio::awaitable<void> read_loop();
  // Decodes and starts every complete message in the input buffer (until paused or closed).
  void dispatch_buffered_messages();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<bool> write_all();
  boost::asio::awaitable<void> graceful_close(std::string_view reason);
  void arm_linger_check();
  boost::asio::awaitable<void> watchdog_loop();

  void on_message(const protocol::DecodedMessage& message);
  Slot& new_slot(protocol::Framing framing, std::size_t bytes_in);
  void start_ready_requests();
  void run_request(std::uint64_t slot_id);
  void complete(std::uint64_t slot_id, Reply reply);
  bool reading_paused() const noexcept;
  bool reply_budget_full() const noexcept;
  void end_input(std::string_view reason);
  void close(std::string_view reason);
  void wake_writer();
  // Writes ready replies on this thread if the writer is idle; true when nothing is left for
  // the writer coroutine to do (no wake-up needed).
  bool write_now();
  // Moves what may be written next, in order, into write_buffer_: events due before the front
  // slot, the front slot if it is ready, and so on, up to the coalescing limit. A slot that closes
  // the connection is taken last (or, with `leave_closing`, left for the writer coroutine).
  // Returns true when such a slot was taken.
  bool take_output(bool leave_closing);
  // Something is ready to be written (the front slot, or an event due before it).
  bool output_ready() const noexcept;
  void on_events(EventBatch batch);
  void wake_reader();
  Slot* find_slot(std::uint64_t slot_id);
  // Tells the registry the connection is gone (frees its slot); once, from close() or from
  // graceful_close() before the FIN.
  void leave_registry(std::string_view reason);
  // Writes what is ready once the handlers already queued on this thread have run (one
  // write for a run of completions); falls back to waking the writer coroutine.
  void flush_soon();

  Transport transport_;
  SessionLimits limits_;
  const Dispatcher& dispatcher_;
  ConnectionRegistry& registry_;
  ClientWarnings& warnings_;
  SessionContext context_;
  protocol::FrameDecoder decoder_;
  SubscriptionHub* hub_;
  EventQueue events_;
  protocol::Framing event_framing_ = protocol::Framing::Rcpx;  // of the next event written
  bool subscriptions_ended_ = false;                           // `end` queued for the shutdown drain

  std::deque<Slot> slots_;           // unanswered or unwritten requests, in arrival order
  std::uint64_t front_slot_id_ = 0;  // id of slots_.front()
  bool left_registry_ = false;
  bool flush_posted_ = false;          // a flush_soon() is queued
  std::size_t next_to_start_ = 0;      // index into slots_ of the first request not yet started
  std::size_t unfinished_reads_ = 0;   // started, not ready, not writes
  std::size_t unfinished_writes_ = 0;  // started, not ready, writes
  std::size_t unsent_bytes_ = 0;       // framed replies not yet written (ready slots + write_buffer_)
  std::size_t reserved_bytes_ = 0;     // reservations of started, unanswered requests
  std::size_t queued_bytes_ = 0;       // payloads of decoded requests not yet started
  bool starting_ = false;              // inside start_ready_requests()
  bool restart_starting_ = false;      // a call arrived while starting: run the loop again

  bool input_done_ = false;       // no more messages will be decoded
  bool peer_eof_ = false;         // input ended because the peer closed (or reset) its side
  bool close_requested_ = false;  // a reply with close_after is due: start nothing more
  bool reader_done_ = false;
  bool reader_parked_ = false;
  bool writer_parked_ = false;
  bool writer_idle_ = false;    // parked in the main loop with nothing to write: write_now() may write
  bool write_pending_ = false;  // the writer has bytes in flight to the socket
  bool draining_ = false;
  bool closed_ = false;
  bool discarding_ = false;  // graceful_close() is reading the peer's last input away
  bool serving_ = false;     // past the TLS handshake (plain: from start()); reader and writer run
  std::string_view end_reason_ = "client";  // close reason once input ended and replies are out
  std::chrono::steady_clock::time_point last_message_;
  std::chrono::steady_clock::time_point last_write_progress_;
  std::chrono::steady_clock::time_point linger_deadline_;

  boost::asio::steady_timer writer_wakeup_;
  boost::asio::steady_timer reader_wakeup_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer linger_timer_;
  boost::asio::steady_timer handshake_timer_;
  bool handshake_timed_out_ = false;
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
