#include "server/session.hpp"

#include "protocol/envelope.hpp"
#include "protocol/frame_encoder.hpp"
#include "server/logging.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>

namespace rstmdb::server {

namespace asio = boost::asio;

namespace {

// Bytes asked of the socket per read. Large enough that one read carries a deep pipeline.
constexpr std::size_t kReadChunkBytes = 64 * 1024;
// Responses coalesced into one socket write, at most.
constexpr std::size_t kMaxCoalescedWriteBytes = 1024 * 1024;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

std::string_view error_code_or_empty(const Reply& r) {
  if (auto* e = std::get_if<protocol::Error>(&r.outcome)) return protocol::error_code_name(e->code);
  return {};
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

}  // namespace

Session::Session(Socket socket, std::uint64_t id, SessionLimits limits, const Dispatcher& dispatcher,
                 ConnectionRegistry& registry)
    : socket_(std::move(socket)),
      limits_(limits),
      dispatcher_(dispatcher),
      registry_(registry),
      decoder_(limits.max_frame_bytes),
      last_message_(std::chrono::steady_clock::now()),
      writer_wakeup_(socket_.get_executor(), std::chrono::steady_clock::time_point::max()),
      reader_wakeup_(socket_.get_executor(), std::chrono::steady_clock::time_point::max()),
      idle_timer_(socket_.get_executor()) {
  context_.connection_id = id;
  context_.peer = peer_of(socket_);
}

Session::~Session() = default;

void Session::start() {
  auto self = shared_from_this();
  get_logger("server")->debug("connection {} opened peer={}", context_.connection_id, context_.peer);
  asio::co_spawn(
      socket_.get_executor(), [self] { return self->read_loop(); }, log_spawn_failure);
  asio::co_spawn(
      socket_.get_executor(), [self] { return self->write_loop(); }, log_spawn_failure);
  if (limits_.idle_timeout.count() > 0) {
    asio::co_spawn(
        socket_.get_executor(), [self] { return self->idle_loop(); }, log_spawn_failure);
  }
}

void Session::drain() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    if (self->closed_ || self->draining_) return;
    self->draining_ = true;
    // Only the pending read is cancelled; a write in progress goes on.
    self->read_cancel_.emit(asio::cancellation_type::terminal);
    self->wake_reader();
    self->wake_writer();
  });
}

void Session::force_close() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->close("shutdown"); });
}

void Session::deliver(std::uint64_t slot, Reply reply) {
  asio::dispatch(socket_.get_executor(),
                 [self = shared_from_this(), slot, reply = std::move(reply)]() mutable {
                   self->complete(slot, std::move(reply));
                 });
}

bool Session::reading_paused() const noexcept {
  return slots_.size() >= limits_.max_in_flight || unsent_bytes_ >= limits_.max_write_buffer_bytes;
}

asio::awaitable<void> Session::read_loop() {
  for (;;) {
    while (!input_done_ && !closed_ && !reading_paused()) {
      auto result = decoder_.next();
      if (std::holds_alternative<protocol::NeedMore>(result)) break;
      if (auto* failure = std::get_if<protocol::CloseConnection>(&result)) {
        get_logger("server")->warn("connection {} peer={} closed: protocol error {}: {}",
                                   context_.connection_id, context_.peer,
                                   protocol::close_reason_name(failure->reason), failure->detail);
        close("protocol_error");
        co_return;
      }
      on_message(std::get<protocol::DecodedMessage>(result));
    }
    if (closed_ || input_done_) break;
    if (reading_paused()) {
      co_await reader_wakeup_.async_wait(kUseTuple);
      continue;
    }
    if (draining_) {
      // Everything fully received has been dispatched; a partial message is dropped.
      input_done_ = true;
      break;
    }
    auto buffer = decoder_.prepare(kReadChunkBytes);
    auto [ec, n] =
        co_await socket_.async_read_some(asio::buffer(buffer.data(), buffer.size()),
                                         asio::bind_cancellation_slot(read_cancel_.slot(), kUseTuple));
    if (ec == asio::error::operation_aborted && draining_ && !closed_) continue;
    if (ec) {
      if (closed_) co_return;
      if (decoder_.mid_message()) {
        get_logger("server")->debug("connection {} peer={}: EOF inside a message; partial message discarded",
                                    context_.connection_id, context_.peer);
      }
      // The client finished sending (or the socket failed): answer what was received, then close.
      input_done_ = true;
      break;
    }
    decoder_.commit(n);
  }
  input_done_ = true;
  wake_writer();
}

Session::Slot& Session::new_slot(protocol::Framing framing, std::size_t bytes_in) {
  Slot& slot = slots_.emplace_back();
  slot.framing = framing;
  slot.bytes_in = bytes_in;
  slot.received = std::chrono::steady_clock::now();
  return slot;
}

void Session::on_message(const protocol::DecodedMessage& message) {
  last_message_ = std::chrono::steady_clock::now();
  if (context_.kind == protocol::ConnectionKind::Undetermined) {
    context_.kind = decoder_.kind();
    context_.event_framing = context_.kind == protocol::ConnectionKind::Jsonl    ? protocol::Framing::Jsonl
                             : context_.kind == protocol::ConnectionKind::Legacy ? protocol::Framing::Rcp1
                                                                                 : protocol::Framing::Rcpx;
  }
  const std::uint64_t slot_id = front_slot_id_ + slots_.size();
  Slot& slot = new_slot(message.framing, message.payload.size());
  auto parsed = protocol::parse_request(message.payload);
  if (auto* bad = std::get_if<protocol::EnvelopeError>(&parsed)) {
    slot.request_id = std::move(bad->id);
    slot.op_name = "UNKNOWN";
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
    slot.started = true;
    ++unfinished_reads_;
    complete(slot_id, Reply::error(Dispatcher::unknown_operation(request.op)));
    return;
  }
  slot.op_name = op->name;
  slot.is_write = op->flags.writes;
  if (op->name == "BYE") {
    // Requests pipelined behind BYE are discarded without responses (protocol.md §13).
    input_done_ = true;
  }
  slot.pending = std::make_unique<PendingRequest>(PendingRequest{std::move(request), op});
  start_ready_requests();
}

void Session::start_ready_requests() {
  while (next_to_start_ < slots_.size() && !closed_) {
    Slot& slot = slots_[next_to_start_];
    if (slot.started) {
      ++next_to_start_;
      continue;
    }
    const bool nothing_unfinished = unfinished_reads_ == 0 && unfinished_writes_ == 0;
    const bool write_behind_writes = slot.is_write && unfinished_reads_ == 0;
    if (!nothing_unfinished && !write_behind_writes) return;
    const std::uint64_t slot_id = front_slot_id_ + next_to_start_;
    ++next_to_start_;
    run_request(slot_id);
  }
}

void Session::run_request(std::uint64_t slot_id) {
  Slot* slot = find_slot(slot_id);
  slot->started = true;
  if (slot->is_write) {
    ++unfinished_writes_;
  } else {
    ++unfinished_reads_;
  }
  auto pending = std::move(slot->pending);
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

  // AUTH failure accounting lives here because closing is a session matter.
  if (slot->op_name == "AUTH") {
    if (auto* e = std::get_if<protocol::Error>(&reply.outcome);
        e && e->code == protocol::ErrorCode::AuthFailed) {
      ++context_.auth_failures;
      if (limits_.max_auth_failures != 0 && context_.auth_failures >= limits_.max_auth_failures) {
        reply.close_connection = true;
      }
    }
  }

  std::string payload;
  std::visit(
      [&](auto& outcome) {
        using T = std::decay_t<decltype(outcome)>;
        if constexpr (std::is_same_v<T, boost::json::object>) {
          payload = protocol::encode_ok_response(slot->request_id, outcome);
        } else if constexpr (std::is_same_v<T, std::string>) {
          payload = protocol::encode_ok_response_raw(slot->request_id, outcome);
        } else {
          payload = protocol::encode_error_response(slot->request_id, outcome);
        }
      },
      reply.outcome);
  if (payload.size() > protocol::kMaxPayloadBytes) {
    payload = protocol::encode_error_response(
        slot->request_id,
        protocol::bad_request("response too large (" + std::to_string(payload.size()) + " bytes)"));
  }
  protocol::append_frame(slot->bytes, slot->framing, payload);
  slot->close_after = reply.close_connection;
  unsent_bytes_ += slot->bytes.size();

  auto log = get_logger("request");
  if (log->should_log(spdlog::level::debug)) {
    const auto dur = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                           slot->received);
    const auto code = error_code_or_empty(reply);
    log->debug("conn={} peer={} op={} id_bytes={} status={} code={} dur_us={} bytes_in={} bytes_out={}",
               context_.connection_id, context_.peer, slot->op_name, slot->request_id.size(),
               code.empty() ? "ok" : "error", code.empty() ? "-" : code, dur.count(), slot->bytes_in,
               slot->bytes.size());
  }

  start_ready_requests();
  wake_writer();
}

asio::awaitable<void> Session::write_loop() {
  for (;;) {
    if (closed_) co_return;
    write_buffer_.clear();
    bool close_after = false;
    while (!slots_.empty() && slots_.front().ready && write_buffer_.size() < kMaxCoalescedWriteBytes) {
      Slot& front = slots_.front();
      if (write_buffer_.empty()) {
        write_buffer_.swap(front.bytes);
      } else {
        write_buffer_.append(front.bytes);
      }
      close_after = front.close_after;
      slots_.pop_front();
      ++front_slot_id_;
      if (next_to_start_ > 0) --next_to_start_;
      if (close_after) break;
    }
    if (!write_buffer_.empty()) {
      const std::size_t size = write_buffer_.size();
      auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(write_buffer_), kUseTuple);
      unsent_bytes_ -= size;
      if (ec) {
        close("client");
        co_return;
      }
      if (close_after) {
        close("client");
        co_return;
      }
      wake_reader();
      continue;
    }
    if (input_done_ && slots_.empty()) {
      close(draining_ ? "shutdown" : "client");
      co_return;
    }
    co_await writer_wakeup_.async_wait(kUseTuple);
  }
}

asio::awaitable<void> Session::idle_loop() {
  while (!closed_) {
    const auto deadline = last_message_ + limits_.idle_timeout;
    if (std::chrono::steady_clock::now() >= deadline && slots_.empty()) {
      get_logger("server")->debug("connection {} peer={} idle for {}s; closing", context_.connection_id,
                                  context_.peer, limits_.idle_timeout.count());
      close("idle");
      co_return;
    }
    // Past the deadline with requests still unanswered, the connection is busy, not idle:
    // look again a full timeout later rather than polling.
    const auto now = std::chrono::steady_clock::now();
    idle_timer_.expires_at(deadline > now ? deadline : now + limits_.idle_timeout);
    co_await idle_timer_.async_wait(kUseTuple);
  }
}

void Session::wake_writer() {
  writer_wakeup_.cancel();
}
void Session::wake_reader() {
  reader_wakeup_.cancel();
}

void Session::close(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  input_done_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
  read_cancel_.emit(asio::cancellation_type::terminal);
  writer_wakeup_.cancel();
  reader_wakeup_.cancel();
  idle_timer_.cancel();
  get_logger("server")->debug("connection {} closed peer={} reason={}", context_.connection_id, context_.peer,
                              reason);
  registry_.on_session_closed(context_.connection_id, reason);
}

}  // namespace rstmdb::server
