#include "tools/bench/connection.hpp"

#include "protocol/frame_encoder.hpp"
#include "protocol/json_text.hpp"
#include "tools/bench/response_scan.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

namespace rstmdb::bench {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// Bytes asked of the socket per read; responses are small, so one read usually carries many.
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr auto kConnectTimeout = std::chrono::seconds(10);
// How often the watchdog looks at the oldest request in flight.
constexpr auto kWatchdogTick = std::chrono::milliseconds(200);
// Working-set CREATE_INSTANCE requests kept in flight per connection during setup.
constexpr std::size_t kSetupPipeline = 32;

std::uint64_t to_micros(Clock::duration d) noexcept {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return ns <= 0 ? 0 : static_cast<std::uint64_t>((ns + 500) / 1000);
}

unsigned step_count(Op op) noexcept {
  return op == Op::Lifecycle ? kLifecycleApplies + 3 : 1;
}

RequestKind step_kind(Op op, unsigned step) noexcept {
  switch (op) {
    case Op::ApplyEvent:
      return RequestKind::ApplyEvent;
    case Op::GetInstance:
      return RequestKind::GetInstance;
    case Op::CreateInstance:
      return RequestKind::CreateInstance;
    case Op::ListInstances:
      return RequestKind::ListInstances;
    case Op::SnapshotInstance:
      return RequestKind::SnapshotInstance;
    case Op::GetMachine:
      return RequestKind::GetMachine;
    case Op::ListMachines:
      return RequestKind::ListMachines;
    case Op::Ping:
      return RequestKind::Ping;
    case Op::Info:
      return RequestKind::Info;
    case Op::WalRead:
      return RequestKind::WalRead;
    case Op::WalStats:
      return RequestKind::WalStats;
    case Op::Lifecycle:
      if (step == 0) return RequestKind::CreateInstance;
      if (step <= kLifecycleApplies) return RequestKind::ApplyEvent;
      if (step == kLifecycleApplies + 1) return RequestKind::GetInstance;
      return RequestKind::DeleteInstance;
  }
  return RequestKind::Ping;
}

bool is_instance_request(RequestKind k) noexcept {
  return k == RequestKind::CreateInstance || k == RequestKind::GetInstance || k == RequestKind::ApplyEvent ||
         k == RequestKind::SnapshotInstance || k == RequestKind::DeleteInstance;
}

// "CODE - message" of an error response, for setup failures (DOM parse; not the hot path).
std::string describe_error(std::string_view payload) {
  boost::json::value v;
  protocol::JsonParseError err;
  if (!protocol::is_valid_utf8(payload) || !protocol::parse_json(payload, v, err) || !v.is_object()) {
    return "malformed error response";
  }
  const auto* e = v.as_object().if_contains("error");
  if (e == nullptr || !e->is_object()) return "error response without an error object";
  std::string out;
  if (const auto* c = e->as_object().if_contains("code"); c && c->is_string()) out = c->as_string().c_str();
  if (const auto* m = e->as_object().if_contains("message"); m && m->is_string()) {
    out += " - ";
    out += m->as_string().c_str();
  }
  return out;
}

std::optional<std::string> string_field(const boost::json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->as_string().c_str());
  return std::nullopt;
}

}  // namespace

void WorkerStats::add_error(std::string_view code) {
  auto it = errors_by_code.find(code);
  if (it == errors_by_code.end()) it = errors_by_code.emplace(std::string(code), 0).first;
  ++it->second;
}

Connection::Connection(asio::io_context& io, RunPlan& plan, WorkerStats& stats, std::uint32_t index)
    : io_(io),
      plan_(plan),
      stats_(stats),
      index_(index),
      socket_(io),
      timer_(io),
      wake_(io),
      watchdog_(io),
      pacer_(io),
      timeout_(std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(plan.options->timeout_s))),
      rng_state_(std::random_device{}() ^ (std::uint64_t{index} << 32)) {}

std::string Connection::take_id() {
  return std::to_string(next_id_++);
}

std::uint64_t Connection::next_random() noexcept {
  // splitmix64: tiny state, good enough for picking ops and instances.
  std::uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------------------------
// Setup: sequential request/response with timeouts.

awaitable<void> Connection::write_all(const std::string& bytes) {
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), kUseTuple);
  (void)n;
  if (ec) throw BenchError("write to " + plan_.options->server_text + " failed: " + ec.message());
}

awaitable<std::string_view> Connection::read_message() {
  while (true) {
    auto decoded = decoder_.next();
    if (auto* m = std::get_if<protocol::DecodedMessage>(&decoded)) co_return m->payload;
    if (auto* c = std::get_if<protocol::CloseConnection>(&decoded)) {
      throw BenchError("malformed data from " + plan_.options->server_text + ": " + c->detail);
    }
    if (shut_) throw BenchError("connection closed");
    const auto space = decoder_.prepare(kReadChunk);
    timer_.expires_after(timeout_);
    auto result = co_await (socket_.async_read_some(asio::buffer(space.data(), space.size()), kUseTuple) ||
                            timer_.async_wait(kUseTuple));
    if (shut_) throw BenchError("connection closed");
    if (result.index() == 1)
      throw BenchError("no response from " + plan_.options->server_text + " (timeout)");
    auto [ec, n] = std::get<0>(result);
    if (ec == asio::error::eof) throw BenchError(plan_.options->server_text + " closed the connection");
    if (ec) throw BenchError("read from " + plan_.options->server_text + " failed: " + ec.message());
    decoder_.commit(n);
  }
}

awaitable<boost::json::object> Connection::call_payload(std::string_view what, std::string payload,
                                                        const std::string& id) {
  std::string frame;
  protocol::append_frame(frame, protocol::Framing::Rcpx, payload);
  co_await write_all(frame);
  while (true) {
    const std::string_view msg = co_await read_message();
    ResponseSummary sum;
    if (!scan_response(msg, sum)) throw BenchError(std::string(what) + ": malformed response");
    if (!sum.is_response()) continue;
    if (!sum.has_id || sum.id != id) {
      throw BenchError(std::string(what) + ": response id '" + std::string(sum.id) + "', expected '" + id +
                       "'");
    }
    if (!sum.ok()) {
      throw RequestFailed(std::string(sum.error_code), std::string(what) + " failed: " + describe_error(msg));
    }
    boost::json::value v;
    protocol::JsonParseError err;
    if (!protocol::is_valid_utf8(msg) || !protocol::parse_json(msg, v, err) || !v.is_object()) {
      throw BenchError(std::string(what) + ": malformed response");
    }
    if (auto* r = v.as_object().if_contains("result"); r != nullptr && r->is_object()) {
      co_return std::move(r->as_object());
    }
    co_return boost::json::object{};
  }
}

awaitable<boost::json::object> Connection::call(std::string_view what,
                                                std::string (*build)(std::string_view id)) {
  const std::string id = take_id();
  co_return co_await call_payload(what, build(id), id);
}

awaitable<ServerIdentity> Connection::open() {
  const BenchOptions& o = *plan_.options;
  tcp::resolver resolver(io_);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(o.server.host, std::to_string(o.server.port), kUseTuple);
  if (rec) throw BenchError("cannot resolve " + o.server.host + ": " + rec.message());

  timer_.expires_after(kConnectTimeout);
  auto connected =
      co_await (asio::async_connect(socket_, endpoints, kUseTuple) || timer_.async_wait(kUseTuple));
  if (shut_) throw BenchError("connection closed");
  if (connected.index() == 1) throw BenchError("connect to " + o.server_text + " timed out");
  if (auto [cec, ep] = std::get<0>(connected); cec) {
    throw BenchError("cannot connect to " + o.server_text + ": " + cec.message());
  }
  socket_.set_option(tcp::no_delay(true));

  const boost::json::object hello = co_await call("HELLO", &RequestBuilder::hello);
  const auto* pv = hello.if_contains("protocol_version");
  const bool v1 =
      pv != nullptr && ((pv->is_int64() && pv->as_int64() == 1) || (pv->is_uint64() && pv->as_uint64() == 1));
  if (!v1) {
    throw BenchError("HELLO: server did not accept protocol version 1");
  }
  if (auto mode = string_field(hello, "wire_mode"); mode && *mode != "binary_json") {
    throw BenchError("HELLO: server chose wire mode '" + *mode + "', expected binary_json");
  }
  ServerIdentity id;
  id.server_name = string_field(hello, "server_name");
  id.server_version = string_field(hello, "server_version");

  if (o.token) {
    const std::string auth_id = take_id();
    co_await call_payload("AUTH", RequestBuilder::auth(auth_id, *o.token), auth_id);
  }
  co_return id;
}

awaitable<ServerIdentity> Connection::control_setup(bool put_machine) {
  ServerIdentity id = co_await open();
  try {
    const boost::json::object info =
        co_await call("INFO", [](std::string_view rid) { return RequestBuilder::simple(rid, "INFO"); });
    if (auto v = string_field(info, "server_name")) id.server_name = v;
    if (auto v = string_field(info, "server_version")) id.server_version = v;
    id.implementation = string_field(info, "implementation");
  } catch (const RequestFailed& e) {
    std::fprintf(stderr, "rstmdb-bench: warning: %s; server fields from HELLO\n", e.what());
  }
  if (put_machine) {
    const std::string pid = take_id();
    co_await call_payload("PUT_MACHINE", plan_.requests->put_machine(pid), pid);
  }
  co_return id;
}

awaitable<std::uint64_t> Connection::latest_offset() {
  const boost::json::object stats = co_await call(
      "WAL_STATS", [](std::string_view rid) { return RequestBuilder::simple(rid, "WAL_STATS"); });
  if (const auto* v = stats.if_contains("latest_offset"); v != nullptr) {
    if (v->is_uint64()) co_return v->as_uint64();
    if (v->is_int64() && v->as_int64() > 0) co_return static_cast<std::uint64_t>(v->as_int64());
  }
  co_return 0;
}

awaitable<std::uint64_t> Connection::watch_all() {
  const std::string id = take_id();
  const boost::json::object r = co_await call_payload("WATCH_ALL", plan_.requests->watch_all(id), id);
  if (const auto* v = r.if_contains("wal_offset"); v != nullptr) {
    if (v->is_uint64()) co_return v->as_uint64();
    if (v->is_int64() && v->as_int64() >= 0) co_return static_cast<std::uint64_t>(v->as_int64());
  }
  throw BenchError("WATCH_ALL: response without wal_offset");
}

awaitable<void> Connection::setup(std::uint64_t first, std::uint64_t stride, std::uint64_t end) {
  co_await open();
  const RequestBuilder& req = *plan_.requests;
  std::array<char, 160> instance_buf{};
  char id_buf[24];
  std::string out;
  std::uint64_t next = first;
  std::uint64_t expected_id = next_id_;  // ids are consecutive and answered in order
  std::size_t in_flight = 0;
  while (next < end || in_flight > 0) {
    out.clear();
    while (in_flight < kSetupPipeline && next < end) {
      scratch_.clear();
      req.append(scratch_, RequestKind::CreateInstance, format_u64(id_buf, next_id_++),
                 req.working_instance_id(instance_buf, next));
      protocol::append_frame(out, protocol::Framing::Rcpx, scratch_);
      ++in_flight;
      next += stride;
    }
    if (!out.empty()) co_await write_all(out);

    const std::string_view msg = co_await read_message();
    ResponseSummary sum;
    if (!scan_response(msg, sum)) throw BenchError("CREATE_INSTANCE: malformed response");
    if (!sum.is_response()) continue;
    if (!sum.has_id || sum.id != format_u64(id_buf, expected_id)) {
      throw BenchError("CREATE_INSTANCE: response id '" + std::string(sum.id) + "' out of order");
    }
    if (!sum.ok()) {
      throw RequestFailed(std::string(sum.error_code),
                          "creating the working set failed: " + describe_error(msg));
    }
    ++expected_id;
    --in_flight;
  }
}

// ---------------------------------------------------------------------------------------------
// The load loop.

awaitable<void> Connection::run_load() {
  const BenchOptions& o = *plan_.options;
  const std::uint32_t depth = o.pipeline;
  slots_.assign(depth, Slot{});
  ring_.assign(depth, InFlight{});
  ring_head_ = ring_size_ = 0;
  out_pending_.reserve(4096);
  out_writing_.reserve(4096);
  open_loop_ = o.rate.has_value();
  if (open_loop_) {
    interval_ns_ = 1e9 * o.connections / *o.rate;
    phase_ = static_cast<double>(index_) / o.connections;  // spreads connections over one interval
    for (std::uint32_t s = depth; s > 0; --s)
      free_slots_.push_back(s - 1);
  } else {
    const Clock::time_point now = Clock::now();
    for (std::uint32_t s = 0; s < depth; ++s) {
      bool measured = false;
      if (!admit(now, measured)) {
        stopping_ = true;
        break;
      }
      start_unit(s, now, measured, now);
    }
  }
  maybe_finish();
  if (open_loop_) {
    co_await (read_loop() && write_loop() && watchdog_loop() && pace_loop());
  } else {
    co_await (read_loop() && write_loop() && watchdog_loop());
  }
}

bool Connection::admit(Clock::time_point at, bool& measured) {
  if (plan_.stop.load(std::memory_order_relaxed) || at >= plan_.measure_end) return false;
  measured = at >= plan_.measure_begin;
  if (measured && plan_.counted && plan_.units_left.fetch_sub(1, std::memory_order_relaxed) <= 0)
    return false;
  return true;
}

void Connection::start_unit(std::uint32_t slot, Clock::time_point start, bool measured,
                            Clock::time_point now) {
  Slot& s = slots_[slot];
  s.op = plan_.options->workload.pick(next_random());
  s.start = start;
  s.step = 0;
  s.measured = measured;
  const auto uniform = [this](std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next_random()) * n) >> 64);
  };
  if (op_uses_working_set(s.op)) {
    s.argument = uniform(plan_.working_set);
  } else if (s.op == Op::CreateInstance || s.op == Op::Lifecycle) {
    s.argument = created_seq_++;
  } else if (s.op == Op::WalRead) {
    s.argument = plan_.wal_latest > 0 ? 1 + uniform(plan_.wal_latest) : 0;
  }
  if (open_loop_ && now - start > timeout_) {
    // Due so long ago that a client would have given up: count it, do not send it.
    complete_unit(slot, now, kErrTimeout);
    return;
  }
  send_step(slot, now);
}

void Connection::send_step(std::uint32_t slot, Clock::time_point now) {
  const Slot& s = slots_[slot];
  const RequestKind kind = step_kind(s.op, s.step);
  const RequestBuilder& req = *plan_.requests;
  std::array<char, 160> arg_buf;
  std::string_view arg;
  if (is_instance_request(kind)) {
    arg = (s.op == Op::CreateInstance || s.op == Op::Lifecycle)
              ? req.created_instance_id(arg_buf, index_, s.argument)
              : req.working_instance_id(arg_buf, s.argument);
  } else if (kind == RequestKind::WalRead) {
    arg = format_u64(arg_buf.data(), s.argument);
  }
  char id_buf[24];
  const std::uint64_t id = next_id_++;
  scratch_.clear();
  req.append(scratch_, kind, format_u64(id_buf, id), arg);
  protocol::append_frame(out_pending_, protocol::Framing::Rcpx, scratch_);
  ring_[(ring_head_ + ring_size_) % ring_.size()] = InFlight{id, now, slot};
  ++ring_size_;
}

void Connection::complete_unit(std::uint32_t slot, Clock::time_point now, std::string_view error_code) {
  const Slot& s = slots_[slot];
  if (s.measured) {
    OpResult& r = *stats_.ops[static_cast<std::size_t>(s.op)];
    ++r.count;
    if (error_code.empty()) {
      r.latency.record(to_micros(now - s.start));
    } else {
      ++r.errors;
      stats_.add_error(error_code);
    }
    if (now > stats_.last_completion) stats_.last_completion = now;
  }
  if (open_loop_) {
    free_slots_.push_back(slot);
    return;
  }
  bool measured = false;
  if (stopping_ || !admit(now, measured)) {
    stopping_ = true;
    return;
  }
  start_unit(slot, now, measured, now);
}

bool Connection::on_response(std::string_view payload, Clock::time_point now) {
  ResponseSummary sum;
  if (!scan_response(payload, sum)) {
    fail(kErrProtocol, "malformed response");
    return false;
  }
  if (!sum.is_response()) return true;  // an event; the bench never subscribes, so ignore it
  if (ring_size_ == 0 || !sum.has_status) {
    fail(kErrProtocol, ring_size_ == 0 ? "response to no request" : "response without status");
    return false;
  }
  const InFlight head = ring_[ring_head_];
  char id_buf[24];
  if (!sum.has_id || sum.id != format_u64(id_buf, head.id)) {
    fail(kErrProtocol, "response id '" + std::string(sum.id) + "' where '" +
                           std::string(format_u64(id_buf, head.id)) + "' was due");
    return false;
  }
  ring_head_ = (ring_head_ + 1) % ring_.size();
  --ring_size_;

  if (!sum.ok()) {
    complete_unit(head.slot, now,
                  sum.error_code.empty() ? std::string_view("UNKNOWN_ERROR") : sum.error_code);
    return true;
  }
  Slot& s = slots_[head.slot];
  if (plan_.acks != nullptr && s.op == Op::ApplyEvent) {
    std::uint64_t offset = 0;
    if (!scan_result_offset(payload, offset)) {
      fail(kErrProtocol, "APPLY_EVENT response without result.wal_offset");
      return false;
    }
    const auto ns = [](Clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    };
    plan_.acks->record(offset, {s.argument, ns(head.sent), ns(now)});
    stats_.acked.add(offset);
  }
  if (++s.step < step_count(s.op)) {
    send_step(head.slot, now);
    return true;
  }
  complete_unit(head.slot, now, {});
  return true;
}

Clock::time_point Connection::scheduled(std::uint64_t k) const {
  const double ns = (phase_ + static_cast<double>(k)) * interval_ns_;
  return plan_.load_start +
         std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(std::llround(ns)));
}

void Connection::issue_due(Clock::time_point now) {
  while (!stopping_) {
    const Clock::time_point at = scheduled(next_unit_);
    if (at >= plan_.measure_end || plan_.stop.load(std::memory_order_relaxed)) {
      stopping_ = true;
      break;
    }
    if (at > now || free_slots_.empty()) break;
    bool measured = false;
    if (!admit(at, measured)) {
      stopping_ = true;
      break;
    }
    ++next_unit_;
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    start_unit(slot, at, measured, now);
  }
}

void Connection::flush() noexcept {
  if (!out_pending_.empty()) wake_.cancel();
}

void Connection::maybe_finish() noexcept {
  if (stopping_ && ring_size_ == 0 && !done_) {
    stats_.last_end = std::max(stats_.last_end, Clock::now());
    shutdown();
  }
}

void Connection::fail(std::string_view code, const std::string& reason) {
  if (done_) return;
  // Every measured unit still in flight is lost with the connection.
  for (std::size_t i = 0; i < ring_size_; ++i) {
    const Slot& s = slots_[ring_[(ring_head_ + i) % ring_.size()].slot];
    if (!s.measured) continue;
    OpResult& r = *stats_.ops[static_cast<std::size_t>(s.op)];
    ++r.count;
    ++r.errors;
    stats_.add_error(code);
  }
  ring_size_ = 0;
  stats_.failures.push_back("connection " + std::to_string(index_) + ": " + reason);
  stats_.last_end = std::max(stats_.last_end, Clock::now());
  stopping_ = true;
  shutdown();
}

void Connection::shutdown() noexcept {
  if (shut_) return;
  shut_ = true;
  done_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  timer_.cancel();
  wake_.cancel();
  watchdog_.cancel();
  pacer_.cancel();
}

awaitable<void> Connection::read_loop() {
  while (!done_) {
    const auto space = decoder_.prepare(kReadChunk);
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), kUseTuple);
    if (done_) co_return;
    if (ec) {
      fail(kErrConnectionLost,
           ec == asio::error::eof ? "server closed the connection" : "read failed: " + ec.message());
      co_return;
    }
    decoder_.commit(n);
    const Clock::time_point now = Clock::now();
    while (true) {
      auto decoded = decoder_.next();
      if (std::holds_alternative<protocol::NeedMore>(decoded)) break;
      if (auto* c = std::get_if<protocol::CloseConnection>(&decoded)) {
        fail(kErrProtocol, "malformed data from the server: " + c->detail);
        co_return;
      }
      if (!on_response(std::get<protocol::DecodedMessage>(decoded).payload, now)) co_return;
    }
    if (open_loop_) {
      issue_due(now);
      if (pacer_waits_for_slot_ && !free_slots_.empty()) pacer_.cancel();
    }
    flush();
    maybe_finish();
  }
}

awaitable<void> Connection::write_loop() {
  while (true) {
    if (!out_pending_.empty() && !shut_) {
      out_writing_.swap(out_pending_);
      auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out_writing_), kUseTuple);
      (void)n;
      out_writing_.clear();
      if (ec) {
        if (!done_) fail(kErrConnectionLost, "write failed: " + ec.message());
        co_return;
      }
      continue;
    }
    if (done_) co_return;
    wake_.expires_at(Clock::time_point::max());
    co_await wake_.async_wait(kUseTuple);
  }
}

awaitable<void> Connection::watchdog_loop() {
  while (!done_) {
    watchdog_.expires_after(kWatchdogTick);
    co_await watchdog_.async_wait(kUseTuple);
    if (done_) co_return;
    if (ring_size_ > 0 && Clock::now() - ring_[ring_head_].sent > timeout_) {
      char reason[64];
      std::snprintf(reason, sizeof reason, "no response within %g s", plan_.options->timeout_s);
      fail(kErrTimeout, reason);
      co_return;
    }
    if (plan_.stop.load(std::memory_order_relaxed)) {
      stopping_ = true;
      maybe_finish();
    }
  }
}

awaitable<void> Connection::pace_loop() {
  while (!done_) {
    issue_due(Clock::now());
    flush();
    if (stopping_) {
      maybe_finish();
      co_return;
    }
    pacer_waits_for_slot_ = free_slots_.empty();
    pacer_.expires_at(pacer_waits_for_slot_ ? Clock::time_point::max() : scheduled(next_unit_));
    co_await pacer_.async_wait(kUseTuple);
  }
}

}  // namespace rstmdb::bench
