#include "server/session.hpp"

#include "protocol/envelope.hpp"
#include "protocol/frame.hpp"
#include "protocol/frame_encoder.hpp"
#include "server/auth.hpp"
#include "server/batch_errors.hpp"
#include "server/logging.hpp"
#include "server/rate_limited_warning.hpp"
#include "server/tls_context.hpp"
#include "server/traffic_recorder.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <vector>

namespace rstmdb::server {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Bytes asked of the socket per read. Large enough that one read carries a deep pipeline.
constexpr std::size_t kReadChunkBytes = 64 * 1024;
// Responses coalesced into one socket write, at most.
constexpr std::size_t kMaxCoalescedWriteBytes = 1024 * 1024;

// The largest framed reply: a payload at the outgoing limit (protocol.md §4; larger ones are
// replaced by an error) in the framing with the largest header (RCPX).
constexpr std::size_t kMaxReplyFrameBytes = protocol::kMaxPayloadBytes + protocol::kRcpxHeaderSize;
// What a started write reserves of max_write_buffer_bytes until it is answered. Writes are the
// only requests that run concurrently on one connection, so this sets their pipelining depth,
// ceil(B / 4 MiB): 16 at the default B of 64 MiB, the benchmark's depth. Their replies are
// usually small, but an APPLY_EVENT or SNAPSHOT reply carries the instance's ctx (up to the
// 16 MiB frame), so the worst case is that many full frames: ~4B + F (session.hpp).
constexpr std::size_t kWriteReplyReservation = 4 * 1024 * 1024;

// Closing after the last reply: how long, and how much, the peer's remaining input is read and
// discarded so that close() does not answer unread input with a reset that would purge replies
// not yet delivered; and how often it looks whether everything sent has been acknowledged (then
// it closes at once: one round trip for a peer that reads).
constexpr auto kCloseDrainTimeout = std::chrono::seconds(2);
constexpr auto kCloseDrainPoll = std::chrono::milliseconds(5);
constexpr std::size_t kCloseDrainMaxBytes = 64 * 1024 * 1024;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// The first byte of every TLS connection: a handshake record (RFC 8446 §5.1, ContentType 22).
constexpr unsigned char kTlsHandshakeRecord = 0x16;

std::optional<protocol::ErrorCode> error_code_of(const Reply& r) {
  if (auto* e = std::get_if<protocol::Error>(&r.outcome)) return e->code;
  return std::nullopt;
}

// The result's wal_offset, for the log lines.
std::optional<std::uint64_t> wal_offset_of(const Reply& r) {
  if (const auto* text = std::get_if<std::string>(&r.outcome)) return top_level_uint(*text, "wal_offset");
  const auto* result = std::get_if<boost::json::object>(&r.outcome);
  const auto* v = result != nullptr ? result->if_contains("wal_offset") : nullptr;
  if (v != nullptr && v->is_uint64()) return v->get_uint64();
  if (v != nullptr && v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

std::string peer_of(const Session::Socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  auto addr = ep.address();
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

void log_spawn_failure(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    get_logger("server")->error("session task failed: {}", ex.what());
  }
}

std::string encode_payload(const std::string& request_id, Reply& reply) {
  return std::visit(
      [&](auto& outcome) -> std::string {
        using T = std::decay_t<decltype(outcome)>;
        if constexpr (std::is_same_v<T, boost::json::object>) {
          return protocol::encode_ok_response(request_id, outcome);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return protocol::encode_ok_response_raw(request_id, outcome);
        } else {
          return protocol::encode_error_response(request_id, outcome);
        }
      },
      reply.outcome);
}

}  // namespace

Session::Session(Socket socket, std::shared_ptr<TlsContext> tls, std::uint64_t id, SessionLimits limits,
                 const Dispatcher& dispatcher, ConnectionRegistry& registry, ClientWarnings& warnings,
                 SubscriptionHub* hub)
    : transport_(tls ? Transport(std::move(socket), std::move(tls)) : Transport(std::move(socket))),
      limits_(limits),
      dispatcher_(dispatcher),
      registry_(registry),
      warnings_(warnings),
      decoder_(limits.max_frame_bytes),
      hub_(hub),
      last_message_(Clock::now()),
      last_write_progress_(last_message_),
      writer_wakeup_(transport_.get_executor(), Clock::time_point::max()),
      reader_wakeup_(transport_.get_executor(), Clock::time_point::max()),
      watchdog_timer_(transport_.get_executor()),
      linger_timer_(transport_.get_executor()),
      handshake_timer_(transport_.get_executor()) {
  context_.connection_id = id;
  context_.peer = peer_of(transport_.socket());
}

Session::~Session() {
  // A session destroyed without close() (the process is ending) still balances its gauge.
  if (!closed_) {
    if (auto* traffic = dispatcher_.traffic()) {
      traffic->requests_abandoned(static_cast<std::size_t>(
          std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.ready; })));
    }
  }
}

void Session::start() {
  // Synchronous writes from write_now() and the discarding reads of graceful_close() must never
  // block the I/O thread.
  boost::system::error_code nb_ec;
  transport_.socket().non_blocking(true, nb_ec);
  if (transport_.is_tls()) {
    asio::co_spawn(
        transport_.get_executor(), [self = shared_from_this()] { return self->tls_handshake(); },
        log_spawn_failure);
    return;
  }
  get_logger("server")->debug("connection {} opened peer={}", context_.connection_id, context_.peer);
  start_serving();
}

void Session::start_serving() {
  auto self = shared_from_this();
  serving_ = true;
  if (hub_ != nullptr) {
    events_.attach(*hub_, context_.connection_id, std::weak_ptr<EventSink>(self), limits_.watch);
    context_.events = &events_;
  }
  last_message_ = last_write_progress_ = Clock::now();  // the idle clock starts after a handshake
  asio::co_spawn(
      transport_.get_executor(), [self] { return self->read_loop(); }, log_spawn_failure);
  asio::co_spawn(
      transport_.get_executor(), [self] { return self->write_loop(); }, log_spawn_failure);
  // Always running, so that a reload can turn the timeouts on for live sessions.
  asio::co_spawn(
      transport_.get_executor(), [self] { return self->watchdog_loop(); }, log_spawn_failure);
}

// The TLS server handshake under network.handshake_timeout_secs. The client's first byte is
// looked at first (not consumed), so a plaintext client is named as such in the warning.
asio::awaitable<void> Session::tls_handshake() {
  auto self = shared_from_this();
  const auto timeout = limits_.handshake_timeout;
  if (timeout.count() > 0) {
    handshake_timer_.expires_after(timeout);
    handshake_timer_.async_wait([self](boost::system::error_code ec) {
      if (ec || self->serving_ || self->closed_) return;
      self->handshake_timed_out_ = true;
      boost::system::error_code ignored;
      self->transport_.socket().cancel(ignored);  // ends the peek or the handshake
    });
  }
  const auto first_byte = co_await transport_.peek_first_byte();
  boost::system::error_code ec = asio::error::operation_aborted;
  if (first_byte && !handshake_timed_out_ && !closed_) ec = co_await transport_.handshake();
  handshake_timer_.cancel();
  if (closed_) co_return;  // shutdown meanwhile
  if (!ec) {
    context_.client_cert_cn = transport_.client_common_name();
    std::string cn_field;  // the CN is the certificate issuer's text: quoted and cut like client strings
    if (context_.client_cert_cn) {
      cn_field = " client_cn=";
      append_quoted(cn_field, *context_.client_cert_cn, LogLine::kMaxFieldBytes);
    }
    get_logger("server")->debug("connection {} opened peer={} tls={}{}", context_.connection_id,
                                context_.peer, transport_.session_description(), cn_field);
    start_serving();
    co_return;
  }
  if (handshake_timed_out_) {
    warnings_.tls_handshake.warn(
        "TLS handshake with {} not completed within {} s (network.handshake_timeout_secs); "
        "closed",
        context_.peer, timeout.count());
    close("handshake_timeout");
    co_return;
  }
  std::string why;
  if (!first_byte) {
    why = "the client closed the connection before the handshake";
  } else if (*first_byte != kTlsHandshakeRecord) {
    why = "plaintext client on TLS listener";
  } else {
    why = ec.message();  // OpenSSL's reason, e.g. "unsupported protocol", "peer did not return a certificate"
  }
  warnings_.tls_handshake.warn("TLS handshake with {} failed: {}; closed", context_.peer, why);
  close("tls_handshake");
}

void Session::drain() {
  asio::dispatch(transport_.get_executor(), [self = shared_from_this()] {
    if (self->closed_ || self->draining_) return;
    if (!self->serving_) {
      self->close("shutdown");  // still in the TLS handshake: nothing was received
      return;
    }
    self->draining_ = true;
    // Only the pending read is cancelled; a write in progress goes on.
    self->read_cancel_.emit(asio::cancellation_type::terminal);
    self->wake_reader();
    self->wake_writer();
  });
}

void Session::force_close() {
  asio::dispatch(transport_.get_executor(), [self = shared_from_this()] { self->close("shutdown"); });
}

void Session::reconfigure(const SessionLimits& limits, std::shared_ptr<const TokenVerifier> tokens) {
  asio::dispatch(transport_.get_executor(), [self = shared_from_this(), limits, tokens = std::move(tokens)] {
    self->apply_reconfigure(limits, *tokens);
  });
}

void Session::apply_reconfigure(const SessionLimits& limits, const TokenVerifier& tokens) {
  if (closed_) return;
  // Only the reloadable settings: the buffers and limits sized at accept time stay.
  limits_.idle_timeout = limits.idle_timeout;
  limits_.write_timeout = limits.write_timeout;
  limits_.auth_required = limits.auth_required;
  limits_.max_auth_failures = limits.max_auth_failures;
  limits_.handshake_timeout = limits.handshake_timeout;
  watchdog_timer_.cancel();  // the watchdog computes its next deadline with the new timeouts

  // With auth off no token is checked, so none can be revoked (the digest is kept for when it
  // is turned on again and the token is still configured).
  if (limits_.auth_required && context_.token_digest && !tokens.accepts_digest(*context_.token_digest)) {
    get_logger("server")->info(
        "connection {} peer={}: token of principal {} removed by a reload; closing after the replies due",
        context_.connection_id, context_.peer, context_.principal.value_or("?"));
    context_.authenticated = false;
    context_.principal.reset();
    context_.token_digest.reset();
    end_input("revoked");
    discard_unstarted_requests();
    read_cancel_.emit(asio::cancellation_type::terminal);
    wake_reader();
    wake_writer();
    return;
  }
  if (limits_.auth_required && context_.authenticated && !context_.token_digest) {
    // AUTH while auth was off accepted any token; with auth now on it must be a configured one.
    context_.authenticated = false;
    context_.principal.reset();
  }
}

void Session::discard_unstarted_requests() {
  // Received but not started (waiting behind reads or for reply room): never served, like the
  // input not yet read; from the back, so the slots that stay are still in order.
  std::size_t discarded = 0;
  while (slots_.size() > next_to_start_ && !slots_.back().started) {
    queued_bytes_ -= slots_.back().pending ? slots_.back().bytes_in : 0;
    slots_.pop_back();
    ++discarded;
  }
  if (auto* traffic = dispatcher_.traffic()) traffic->requests_abandoned(discarded);
}

void Session::deliver_events(EventBatch batch) {
  asio::post(transport_.get_executor(), [self = shared_from_this(), batch = std::move(batch)]() mutable {
    self->on_events(std::move(batch));
  });
}

void Session::close_for_subscriptions(std::string_view reason) {
  asio::post(transport_.get_executor(), [self = shared_from_this(), reason = std::string(reason)] {
    get_logger("server")->warn("connection {} peer={} closed: {}", self->context_.connection_id,
                               self->context_.peer, reason);
    self->close("watch_failed");
  });
}

void Session::on_events(EventBatch batch) {
  // After every slot that exists now: the request that caused an event, and the WATCH that
  // created its subscription, are answered first (protocol.md §7 rules 4 and 6).
  events_.accept(std::move(batch), front_slot_id_ + slots_.size());
  if (closed_ || events_.empty() || (input_done_ && slots_.empty() && !draining_)) return;
  flush_soon();
}

void Session::deliver(std::uint64_t slot, Reply reply) {
  asio::dispatch(transport_.get_executor(),
                 [self = shared_from_this(), slot, reply = std::move(reply)]() mutable {
                   self->complete(slot, std::move(reply));
                 });
}

bool Session::reading_paused() const noexcept {
  return slots_.size() >= limits_.max_in_flight || unsent_bytes_ >= limits_.max_write_buffer_bytes ||
         queued_bytes_ >= limits_.max_write_buffer_bytes;
}

bool Session::reply_budget_full() const noexcept {
  return unsent_bytes_ + reserved_bytes_ >= limits_.max_write_buffer_bytes;
}

void Session::end_input(std::string_view reason) {
  if (!input_done_) end_reason_ = reason;
  input_done_ = true;
}

void Session::dispatch_buffered_messages() {
  while (!input_done_ && !closed_ && !reading_paused()) {
    auto result = decoder_.next();
    if (std::holds_alternative<protocol::NeedMore>(result)) break;
    if (auto* failure = std::get_if<protocol::CloseConnection>(&result)) {
      warnings_.protocol_error.warn("connection {} peer={} closed: protocol error {}: {}",
                                    context_.connection_id, context_.peer,
                                    protocol::close_reason_name(failure->reason), failure->detail);
      if (auto* traffic = dispatcher_.traffic()) traffic->protocol_error(failure->reason);
      // Requests received before the bad bytes are still answered; then the connection
      // closes (protocol.md §5: nothing is written for the violation itself).
      end_input("protocol_error");
      break;
    }
    on_message(std::get<protocol::DecodedMessage>(result));
  }
}

asio::awaitable<void> Session::read_loop() {
  for (;;) {
    // Every message one read completed starts inside one request batch (dispatcher.hpp): the
    // writes of a pipelining client's read form one group, which the engine sees as such.
    dispatcher_.run_request_batch([&] { dispatch_buffered_messages(); });
    if (closed_ || input_done_) break;
    if (reading_paused()) {
      reader_parked_ = true;
      co_await reader_wakeup_.async_wait(kUseTuple);
      reader_parked_ = false;
      continue;
    }
    if (draining_) {
      // Everything fully received has been dispatched; a partial message is dropped.
      end_input("shutdown");
      break;
    }
    auto buffer = decoder_.prepare(kReadChunkBytes);
    auto [ec, n] =
        co_await transport_.async_read_some(asio::buffer(buffer.data(), buffer.size()),
                                            asio::bind_cancellation_slot(read_cancel_.slot(), kUseTuple));
    if (ec == asio::error::operation_aborted && !closed_ && !input_done_) continue;  // drain()
    if (ec) {
      if (closed_ || input_done_) break;
      if (decoder_.mid_message()) {
        get_logger("server")->debug("connection {} peer={}: EOF inside a message; partial message discarded",
                                    context_.connection_id, context_.peer);
      }
      // The client finished sending (or the socket failed): answer what was received, then close.
      peer_eof_ = true;
      end_input("client");
      break;
    }
    decoder_.commit(n);
  }
  input_done_ = true;
  reader_done_ = true;
  wake_writer();
}

Session::Slot& Session::new_slot(protocol::Framing framing, std::size_t bytes_in) {
  Slot& slot = slots_.emplace_back();
  slot.framing = framing;
  slot.bytes_in = bytes_in;
  slot.received = Clock::now();
  if (auto* traffic = dispatcher_.traffic()) traffic->request_received();
  return slot;
}

void Session::on_message(const protocol::DecodedMessage& message) {
  last_message_ = Clock::now();
  if (context_.kind == protocol::ConnectionKind::Undetermined) {
    context_.kind = decoder_.kind();
    context_.event_framing = context_.kind == protocol::ConnectionKind::Jsonl    ? protocol::Framing::Jsonl
                             : context_.kind == protocol::ConnectionKind::Legacy ? protocol::Framing::Rcp1
                                                                                 : protocol::Framing::Rcpx;
    event_framing_ = context_.event_framing;
  }
  const std::uint64_t slot_id = front_slot_id_ + slots_.size();
  Slot& slot = new_slot(message.framing, message.payload.size());
  auto parsed = protocol::parse_request(message.payload);
  if (auto* bad = std::get_if<protocol::EnvelopeError>(&parsed)) {
    slot.request_id = std::move(bad->id);
    slot.op_name = "UNKNOWN";
    slot.op_index = Dispatcher::kUnknownOperationIndex;
    slot.started = true;
    ++unfinished_reads_;
    complete(slot_id, Reply::error(std::move(bad->error)));
    return;
  }
  auto& request = std::get<protocol::Request>(parsed);
  slot.request_id = request.id;
  const OpEntry* op = dispatcher_.find(request.op);
  if (op == nullptr) {
    slot.op_name = "UNKNOWN";
    slot.op_index = Dispatcher::kUnknownOperationIndex;
    slot.started = true;
    ++unfinished_reads_;
    complete(slot_id, Reply::error(Dispatcher::unknown_operation(request.op)));
    return;
  }
  slot.op_name = op->name;
  slot.op_index = op->index;
  slot.is_write = op->flags.writes;
  if (op->name == "BYE") {
    // Requests pipelined behind BYE are discarded without responses (protocol.md §13).
    end_input("client");
  }
  slot.pending = std::make_unique<PendingRequest>(PendingRequest{std::move(request), op});
  queued_bytes_ += slot.bytes_in;
  start_ready_requests();
}

void Session::start_ready_requests() {
  // A handler that answers inline lands in complete(), which calls here again: return (noting
  // it) and let the loop below continue, so a long queue of inline requests runs iteratively.
  if (starting_) {
    restart_starting_ = true;
    return;
  }
  starting_ = true;
  bool started_any = false;
  do {
    restart_starting_ = false;
    // One batch: the writes it starts are led as one group on this thread when the batch
    // ends (replies to them arrive in complete() from inside this call).
    dispatcher_.run_request_batch([&] {
      while (next_to_start_ < slots_.size() && !closed_ && !close_requested_) {
        Slot& slot = slots_[next_to_start_];
        if (slot.started) {
          ++next_to_start_;
          continue;
        }
        const bool nothing_unfinished = unfinished_reads_ == 0 && unfinished_writes_ == 0;
        const bool write_behind_writes = slot.is_write && unfinished_reads_ == 0;
        if (!nothing_unfinished && !write_behind_writes) break;
        // Reply memory: wait for the writer to make room (it calls here after each write).
        if (reply_budget_full()) break;
        const std::uint64_t slot_id = front_slot_id_ + next_to_start_;
        ++next_to_start_;
        run_request(slot_id);
        started_any = true;
      }
    });
  } while (restart_starting_ && !closed_);
  starting_ = false;
  if (started_any) wake_reader();
}

void Session::run_request(std::uint64_t slot_id) {
  Slot* slot = find_slot(slot_id);
  slot->started = true;
  slot->reserved = slot->is_write ? kWriteReplyReservation : kMaxReplyFrameBytes;
  reserved_bytes_ += slot->reserved;
  queued_bytes_ -= slot->bytes_in;
  if (slot->is_write) {
    ++unfinished_writes_;
  } else {
    ++unfinished_reads_;
  }
  auto pending = std::move(slot->pending);
  if (auto* traffic = dispatcher_.traffic(); traffic && traffic->wants_details(slot->op_index)) {
    slot->details = std::make_unique<RequestDetails>(TrafficRecorder::details_of(pending->request));
  }
  if (auto error = Dispatcher::precheck(*pending->op, context_, limits_.auth_required)) {
    complete(slot_id, Reply::error(std::move(*error)));
    return;
  }
  try {
    pending->op->handler(pending->request, context_, Completion(shared_from_this(), slot_id));
  } catch (const std::exception& e) {
    // The Completion was consumed or destroyed by the throw; if it was destroyed unanswered it
    // already delivered INTERNAL_ERROR. Log the cause.
    get_logger("server")->error("handler {} threw: {}", pending->op->name, e.what());
  }
}

Session::Slot* Session::find_slot(std::uint64_t slot_id) {
  if (slot_id < front_slot_id_ || slot_id >= front_slot_id_ + slots_.size()) return nullptr;
  return &slots_[slot_id - front_slot_id_];
}

void Session::complete(std::uint64_t slot_id, Reply reply) {
  Slot* slot = find_slot(slot_id);
  if (slot == nullptr || slot->ready) return;  // connection already gone, or a double answer
  slot->ready = true;
  if (slot->is_write) {
    --unfinished_writes_;
  } else {
    --unfinished_reads_;
  }
  reserved_bytes_ -= slot->reserved;
  slot->reserved = 0;

  // AUTH failure accounting lives here because closing is a session matter.
  if (slot->op_name == "AUTH") {
    if (auto* e = std::get_if<protocol::Error>(&reply.outcome);
        e && e->code == protocol::ErrorCode::AuthFailed) {
      ++context_.auth_failures;
      if (limits_.max_auth_failures != 0 && context_.auth_failures >= limits_.max_auth_failures) {
        reply.close_connection = true;
        warnings_.auth_failures.warn("connection {} peer={} closed after {} failed AUTH attempt(s)",
                                     context_.connection_id, context_.peer, context_.auth_failures);
      }
    }
  }

  std::string payload = encode_payload(slot->request_id, reply);
  auto error_code = error_code_of(reply);
  const auto wal_offset = slot->details ? wal_offset_of(reply) : std::nullopt;
  reply.outcome = boost::json::object();  // the result may be a whole frame: free it before framing
  if (payload.size() > protocol::kMaxPayloadBytes) {
    payload = protocol::encode_error_response(
        slot->request_id,
        protocol::bad_request("response too large (" + std::to_string(payload.size()) + " bytes)"));
    error_code = protocol::ErrorCode::BadRequest;
  }
  protocol::append_frame(slot->bytes, slot->framing, payload);
  payload = std::string();
  slot->close_after = reply.close_connection;
  if (slot->op_name == "HELLO" && !error_code) slot->event_framing_after = context_.event_framing;
  unsent_bytes_ += slot->bytes.size();

  if (const auto* traffic = dispatcher_.traffic()) {
    traffic->request_finished(FinishedRequest{context_, slot->op_index, slot->request_id, error_code,
                                              Clock::now() - slot->received, slot->bytes_in,
                                              slot->bytes.size(), slot->details.get(), wal_offset});
  }

  if (reply.close_connection) {
    // Nothing after this reply runs or is answered; the writer closes once it is out.
    close_requested_ = true;
    end_input("client");
    read_cancel_.emit(asio::cancellation_type::terminal);
    wake_reader();
  }
  start_ready_requests();
  flush_soon();
}

void Session::flush_soon() {
  // Not at once: the replies of a group arrive as a run of handlers on this thread, and they
  // leave in one write (one syscall) after the last of them, instead of one write each.
  if (flush_posted_) return;
  flush_posted_ = true;
  // defer, not post: a continuation of this handler, queued on this thread (a post would wake
  // another I/O thread to run it: one more wake-up per request).
  asio::defer(transport_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    if (!self->write_now()) self->wake_writer();
  });
}

bool Session::write_now() {
  // Only while the writer coroutine is parked with nothing of its own: one writer at a time.
  // Plain connections only (transport.hpp): a TLS session's writer coroutine writes.
  if (!writer_idle_ || write_pending_ || closed_ || !write_buffer_.empty() || !transport_.can_write_now())
    return false;
  take_output(true);
  if (write_buffer_.empty()) return false;  // a closing reply: the coroutine handles it
  // The socket is non-blocking: this sends what the kernel takes now, on this thread, with no
  // wake-up of the writer coroutine (which another I/O thread might have run).
  boost::system::error_code ec;
  const std::size_t n = transport_.write_now(asio::buffer(write_buffer_), ec);
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    close("client");
    return true;
  }
  const std::size_t sent = ec ? 0 : n;
  unsent_bytes_ -= sent;
  last_write_progress_ = Clock::now();
  write_buffer_.erase(0, sent);
  if (sent > 0) {
    start_ready_requests();
    if (!reading_paused()) wake_reader();
  }
  // A rest the kernel did not take, more replies, or an end to handle: the coroutine's work.
  return write_buffer_.empty() && !output_ready() && !(slots_.empty() && input_done_);
}

bool Session::output_ready() const noexcept {
  return events_.ready(front_slot_id_) || (!slots_.empty() && slots_.front().ready);
}

bool Session::take_output(bool leave_closing) {
  while (write_buffer_.size() < kMaxCoalescedWriteBytes) {
    if (events_.ready(front_slot_id_)) {
      unsent_bytes_ += events_.pop_into(write_buffer_, event_framing_);
      continue;
    }
    if (slots_.empty() || !slots_.front().ready) break;
    Slot& front = slots_.front();
    if (front.close_after && leave_closing) break;
    if (write_buffer_.empty()) {
      write_buffer_.swap(front.bytes);
    } else {
      write_buffer_.append(front.bytes);
    }
    if (front.event_framing_after) event_framing_ = *front.event_framing_after;
    const bool close_after = front.close_after;
    slots_.pop_front();
    ++front_slot_id_;
    if (next_to_start_ > 0) --next_to_start_;
    if (close_after) return true;
  }
  return false;
}

asio::awaitable<void> Session::write_loop() {
  for (;;) {
    if (closed_) break;
    // Every response is out and no more will come.
    const bool finishing = input_done_ && slots_.empty();
    if (finishing && draining_ && !subscriptions_ended_) {
      // Server shutdown: every subscription gets `end` after the responses (protocol.md §9.3).
      subscriptions_ended_ = true;
      events_.end_all("shutdown", front_slot_id_);
    }
    // write_now() may have left a rest the socket did not take: it goes first. After the last
    // response only a shutdown drain writes events (those before its `end`s); other closes
    // drop them rather than let a stream of events hold the connection open.
    const bool close_after = finishing && !draining_ ? false : take_output(false);
    if (!write_buffer_.empty()) {
      if (!co_await write_all()) break;
      write_buffer_.clear();
      if (close_after) {
        co_await graceful_close("client");
        break;
      }
      continue;
    }
    if (finishing) {
      if (peer_eof_) {
        close("client");  // the peer closed first; nothing is left unread
      } else {
        co_await graceful_close(end_reason_);
      }
      break;
    }
    writer_parked_ = true;
    writer_idle_ = true;
    co_await writer_wakeup_.async_wait(kUseTuple);
    writer_idle_ = false;
    writer_parked_ = false;
  }
  writer_idle_ = false;
  std::string().swap(write_buffer_);
}

// Writes write_buffer_ in as many steps as the socket takes, recording each step as progress
// for the write timeout and giving the freed budget to waiting requests and the reader.
// Returns false if the connection is gone.
asio::awaitable<bool> Session::write_all() {
  write_pending_ = true;
  last_write_progress_ = Clock::now();  // the write-timeout clock starts when there is output
  std::size_t offset = 0;
  while (offset < write_buffer_.size()) {
    auto [ec, n] = co_await transport_.async_write_some(
        asio::buffer(write_buffer_.data() + offset, write_buffer_.size() - offset), kUseTuple);
    if (ec || closed_) {
      write_pending_ = false;
      close("client");
      co_return false;
    }
    offset += n;
    unsent_bytes_ -= n;
    last_write_progress_ = Clock::now();
    start_ready_requests();
    if (!reading_paused()) wake_reader();
  }
  write_pending_ = false;
  co_return true;
}

asio::awaitable<void> Session::graceful_close(std::string_view reason) {
  end_input(reason);
  read_cancel_.emit(asio::cancellation_type::terminal);
  wake_reader();
  while (!reader_done_ && !closed_) {
    writer_parked_ = true;
    co_await writer_wakeup_.async_wait(kUseTuple);
    writer_parked_ = false;
  }
  if (closed_) co_return;
  // The connection will serve nothing more: its slot is free before the peer sees the FIN, so
  // a client that reconnects as soon as it reads EOF is never refused for its own old slot.
  leave_registry(reason);
  // Discard the peer's input until it closes, or until everything we sent has been
  // acknowledged (a reset can then no longer cut a reply off), or the deadline; the deadline
  // also bounds sending close_notify to a peer that does not read.
  linger_deadline_ = Clock::now() + kCloseDrainTimeout;
  arm_linger_check();
  const auto ec = co_await transport_.shutdown_send();  // TLS: close_notify; then FIN
  if (!ec && !closed_) {
    auto& socket = transport_.socket();  // below TLS: what is left is discarded unread
    discarding_ = true;
    std::vector<char> sink(kReadChunkBytes);
    std::size_t discarded = 0;
    while (discarded < kCloseDrainMaxBytes && !closed_) {
      auto [read_ec, n] = co_await socket.async_read_some(asio::buffer(sink), kUseTuple);
      if (read_ec) break;  // EOF, the linger check, or a socket error
      discarded += n;
    }
    // What has arrived meanwhile is discarded too, so close() sends a FIN rather than a reset.
    boost::system::error_code read_ec;
    while (!closed_ && discarded < kCloseDrainMaxBytes && socket.available(read_ec) > 0 && !read_ec) {
      discarded += socket.read_some(asio::buffer(sink), read_ec);
    }
  }
  linger_timer_.cancel();
  close(reason);
}

void Session::arm_linger_check() {
  linger_timer_.expires_after(kCloseDrainPoll);
  linger_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_) return;
    int unacked = 0;
    auto& socket = self->transport_.socket();
    const bool all_acked = ::ioctl(socket.native_handle(), SIOCOUTQ, &unacked) == 0 && unacked == 0;
    // Everything acknowledged ends the discarding; the deadline also ends a close_notify that
    // a peer which does not read never takes.
    if ((all_acked && self->discarding_) || Clock::now() >= self->linger_deadline_) {
      boost::system::error_code ignored;
      socket.cancel(ignored);  // ends the discarding read (or close_notify's write) in graceful_close()
      return;
    }
    self->arm_linger_check();
  });
}

asio::awaitable<void> Session::watchdog_loop() {
  while (!closed_) {
    // Read each round: a reload may change them (reconfigure() wakes this loop).
    const auto idle = limits_.idle_timeout;
    const auto write = limits_.write_timeout;
    const auto now = Clock::now();
    if (write.count() > 0 && write_pending_ && now - last_write_progress_ >= write) {
      warnings_.write_timeout.warn(
          "connection {} peer={} closed: no write progress for {} s ({} reply bytes unsent; "
          "network.write_timeout_secs)",
          context_.connection_id, context_.peer, write.count(), unsent_bytes_);
      close("write_timeout");
      co_return;
    }
    // Busy means a request is running. Replies or requests that only wait for the peer to read
    // do not keep a connection alive; write progress does.
    // A connection with a subscription is never idle (protocol.md §9.2): watchers send nothing.
    const bool busy = unfinished_reads_ + unfinished_writes_ > 0 || events_.subscription_count() > 0;
    const auto last_activity = std::max(last_message_, last_write_progress_);
    if (idle.count() > 0 && !busy && now - last_activity >= idle) {
      get_logger("server")->debug("connection {} peer={} idle for {}s; closing", context_.connection_id,
                                  context_.peer, idle.count());
      close("idle");
      co_return;
    }
    // Next look: the exact deadline when one is known, otherwise one period later (a write that
    // starts meanwhile is then still caught exactly at its own deadline).
    auto next = Clock::time_point::max();
    if (idle.count() > 0) next = std::min(next, busy ? now + idle : last_activity + idle);
    if (write.count() > 0) next = std::min(next, write_pending_ ? last_write_progress_ + write : now + write);
    watchdog_timer_.expires_at(next);
    co_await watchdog_timer_.async_wait(kUseTuple);
  }
}

void Session::wake_writer() {
  if (writer_parked_) writer_wakeup_.cancel();
}
void Session::wake_reader() {
  if (reader_parked_) reader_wakeup_.cancel();
}

void Session::close(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  input_done_ = true;
  transport_.close();
  read_cancel_.emit(asio::cancellation_type::terminal);
  writer_wakeup_.cancel();
  reader_wakeup_.cancel();
  watchdog_timer_.cancel();
  linger_timer_.cancel();
  handshake_timer_.cancel();
  // Release the connection's memory now rather than when the last completion lets go of the
  // session: queued requests and unsent replies. Late answers find no slot and are dropped.
  if (auto* traffic = dispatcher_.traffic()) {
    traffic->requests_abandoned(static_cast<std::size_t>(
        std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.ready; })));
  }
  slots_.clear();
  slots_.shrink_to_fit();
  unsent_bytes_ = reserved_bytes_ = queued_bytes_ = 0;
  events_.close();  // the subscriptions end with the connection (protocol.md §9.1)
  get_logger("server")->debug("connection {} closed peer={} reason={}", context_.connection_id, context_.peer,
                              reason);
  leave_registry(reason);
}

void Session::leave_registry(std::string_view reason) {
  if (left_registry_) return;
  left_registry_ = true;
  registry_.on_session_closed(context_.connection_id, reason);
}

}  // namespace rstmdb::server
