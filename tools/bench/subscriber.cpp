#include "tools/bench/subscriber.hpp"

#include "tools/bench/response_scan.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace rstmdb::bench {

namespace asio = boost::asio;

namespace {

// Bytes asked of the socket per read: events are a few hundred bytes, and a thousand
// subscribers each hold one buffer.
constexpr std::size_t kSubscriberReadChunk = 16 * 1024;
// Early events waiting for their writer's ack, per subscriber; beyond it they count as
// unmatched (the writers would be seconds behind their own responses).
constexpr std::size_t kMaxEarly = 65'536;
constexpr std::uint64_t kNoInstance = ~std::uint64_t{0};

// Negative delays (the event before the response) are recorded as 0.
std::uint64_t micros_between(std::int64_t from_ns, Clock::time_point to) noexcept {
  const std::int64_t to_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(to.time_since_epoch()).count();
  return to_ns <= from_ns ? 0 : static_cast<std::uint64_t>((to_ns - from_ns + 500) / 1000);
}

}  // namespace

Subscriber::Subscriber(asio::io_context& io, RunPlan& plan, WorkerStats& setup_stats, WatchStats& stats,
                       std::uint32_t index, bool stalled)
    : conn_(io, plan, setup_stats, index), plan_(plan), stats_(stats), index_(index), stalled_(stalled) {}

asio::awaitable<void> Subscriber::subscribe() {
  co_await conn_.open();
  verifier_ = StreamVerifier(co_await conn_.watch_all());
}

asio::awaitable<void> Subscriber::run() {
  if (stalled_) co_return;
  auto& socket = conn_.socket();
  auto& decoder = conn_.decoder();
  while (!done_) {
    const auto space = decoder.prepare(kSubscriberReadChunk);
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(space.data(), space.size()),
                                                   asio::as_tuple(asio::use_awaitable));
    if (done_) co_return;
    if (ec) {
      fail(ec == asio::error::eof ? "server closed the connection" : "read failed: " + ec.message());
      co_return;
    }
    decoder.commit(n);
    const Clock::time_point now = Clock::now();
    while (!done_) {
      auto decoded = decoder.next();
      if (std::holds_alternative<protocol::NeedMore>(decoded)) break;
      if (auto* c = std::get_if<protocol::CloseConnection>(&decoded)) {
        fail("malformed data from the server: " + c->detail);
        co_return;
      }
      if (!on_message(std::get<protocol::DecodedMessage>(decoded).payload, now)) co_return;
    }
    resolve_early(false);
    progress_.store(verifier_.check().received, std::memory_order_relaxed);
    maybe_finish();
  }
}

bool Subscriber::on_message(std::string_view payload, Clock::time_point now) {
  EventSummary ev;
  if (!scan_event(payload, ev)) {
    fail("malformed message from the server");
    return false;
  }
  if (ev.type == "end") {
    fail("the server ended the subscription (reason " + std::string(ev.reason) + ")");
    return false;
  }
  if (ev.type != "event" || !ev.has_wal_offset) {
    fail("unexpected message of type '" + std::string(ev.type) + "'");
    return false;
  }
  const std::uint64_t offset = ev.wal_offset;
  if (!verifier_.accept(offset)) return true;
  StreamCheck& check = verifier_.check();

  const std::uint64_t instance = plan_.requests->working_index(ev.instance_id).value_or(kNoInstance);
  AckTable::Ack ack;
  const AckTable::Lookup found = plan_.acks->lookup(offset, ack);
  const bool in_window = now >= plan_.measure_begin && now < plan_.measure_end;
  if (in_window) ++check.in_window;
  switch (found) {
    case AckTable::Lookup::Found:
      if (in_window) {
        record(ack, instance, now);
      } else if (ack.instance != instance) {
        ++check.wrong_instance;
      }
      break;
    case AckTable::Lookup::NotYet:
      if (!in_window) break;  // no delay wanted; its instance goes unchecked
      ++check.before_response;
      if (early_.size() < kMaxEarly) {
        early_.push_back({offset, instance, now});
      } else {
        ++check.unmatched;
      }
      break;
    case AckTable::Lookup::Overwritten:
      if (in_window) ++check.unmatched;
      break;
  }
  return true;
}

void Subscriber::record(const AckTable::Ack& ack, std::uint64_t instance, Clock::time_point arrived) {
  if (ack.instance != instance) ++verifier_.check().wrong_instance;
  stats_.latency.record(micros_between(ack.response_ns, arrived));
  stats_.latency_from_send.record(micros_between(ack.sent_ns, arrived));
}

void Subscriber::resolve_early(bool all) {
  while (!early_.empty()) {
    const Early& e = early_.front();
    AckTable::Ack ack;
    const AckTable::Lookup found = plan_.acks->lookup(e.offset, ack);
    if (found == AckTable::Lookup::NotYet && !all) return;
    if (found == AckTable::Lookup::Found) {
      record(ack, e.instance, e.arrived);
    } else {
      ++verifier_.check().unmatched;
    }
    early_.pop_front();
  }
}

void Subscriber::finish_after(const AckSet& final) {
  final_ = final;
  finishing_ = true;
  maybe_finish();
}

void Subscriber::maybe_finish() {
  if (!finishing_ || done_ || stalled_ || !verifier_.caught_up(final_)) return;
  verifier_.finish(final_);  // everything up to the last acknowledged offset is in
  resolve_early(true);       // and every ack is recorded
  done_ = true;
  done_flag_.store(true, std::memory_order_release);
  conn_.shutdown();
}

void Subscriber::fail(const std::string& reason) {
  if (done_) return;
  stats_.failures.push_back("subscriber " + std::to_string(index_) + ": " + reason);
  done_ = true;
  done_flag_.store(true, std::memory_order_release);
  conn_.shutdown();
}

void Subscriber::stop(const std::string& reason) {
  if (!reason.empty() && !stalled_) {
    fail(reason);
    return;
  }
  done_ = true;
  done_flag_.store(true, std::memory_order_release);
  conn_.shutdown();
}

bool Subscriber::still_connected() noexcept {
  auto& socket = conn_.socket();
  if (!socket.is_open()) return false;
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  return info.tcpi_state == TCP_ESTABLISHED;
}

}  // namespace rstmdb::bench
