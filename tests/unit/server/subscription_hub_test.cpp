// The subscription hub with its real inbox, channels and per-connection EventQueue, fed by a
// commit hook and an in-memory change log (the e2e suite runs it against the engine): live
// delivery, replay under concurrent commits, a full queue falling back to catch-up, lagged,
// the hub's own inbox overflowing while it is held up in a log read, UNWATCH and the gauge.
#include "server/subscription_hub.hpp"
#include "server/event_queue.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

using namespace rstmdb::server;
namespace json = boost::json;
namespace engine = rstmdb::engine;

namespace {

constexpr auto kPatience = std::chrono::seconds(20);

class MemoryLog final : public ChangeLog {
 public:
  void append(std::uint64_t offset, std::string entry) {
    std::lock_guard lock(mutex_);
    entries_[offset] = std::move(entry);
  }
  void trim_below(std::uint64_t offset) {
    std::lock_guard lock(mutex_);
    entries_.erase(entries_.begin(), entries_.lower_bound(offset));
  }
  // The next read blocks until release(): holds the hub thread up.
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    cv_.notify_all();
  }
  bool reader_waiting() const {
    std::lock_guard lock(mutex_);
    return reader_waiting_;
  }
  std::optional<rstmdb::protocol::Error> read(
      std::uint64_t from, std::uint64_t through,
      const std::function<bool(std::uint64_t, std::string_view)>& visit) const override {
    std::unique_lock lock(mutex_);
    reader_waiting_ = held_;
    cv_.wait(lock, [&] { return !held_; });
    reader_waiting_ = false;
    for (auto it = entries_.lower_bound(from); it != entries_.end() && it->first <= through; ++it) {
      if (!visit(it->first, it->second)) break;
    }
    return std::nullopt;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  mutable bool reader_waiting_ = false;
  bool held_ = false;
  std::map<std::uint64_t, std::string> entries_;
};

// The engine's side: appends to the log, then announces the commit, like the pipeline.
class Writer {
 public:
  Writer(MemoryLog& log, std::function<void(engine::CommitNotice)> hook)
      : log_(log), hook_(std::move(hook)) {}

  std::uint64_t apply(const std::string& instance, const std::string& machine = "m", std::size_t pad = 0) {
    const std::uint64_t offset = ++last_;
    engine::CommittedEvent e;
    e.offset = offset;
    e.instance_id = instance;
    e.machine = machine;
    e.version = 1;
    e.event = "GO";
    e.from_state = "a";
    e.to_state = "b";
    const std::string payload =
        R"({"n":)" + std::to_string(offset) + R"(,"pad":")" + std::string(pad, 'p') + "\"}";
    const std::string ctx = R"({"last":)" + std::to_string(offset) + "}";
    e.entry_json = R"({"type":"apply_event","instance_id":")" + instance + R"(","machine":")" + machine +
                   R"(","version":1,"event":"GO","from_state":"a","to_state":"b","payload":)";
    e.payload_pos = e.entry_json.size();
    e.payload_len = payload.size();
    e.entry_json += payload + R"(,"ctx":)";
    e.ctx_pos = e.entry_json.size();
    e.ctx_len = ctx.size();
    e.entry_json += ctx + R"(,"timestamp":1})";
    log_.append(offset, e.entry_json);
    std::vector<engine::CommittedEvent> events;
    events.push_back(std::move(e));
    hook_(engine::CommitNotice{offset, std::move(events)});
    return offset;
  }
  // A commit without events (a create, a machine write).
  std::uint64_t other() {
    const std::uint64_t offset = ++last_;
    log_.append(offset, R"({"type":"create_instance","instance_id":"z"})");
    hook_(engine::CommitNotice{offset, {}});
    return offset;
  }
  std::uint64_t latest() const { return last_; }

 private:
  MemoryLog& log_;
  std::function<void(engine::CommitNotice)> hook_;
  std::uint64_t last_ = 0;
};

struct Received {
  std::string type;
  std::string subscription_id;
  std::uint64_t offset = 0;
  std::string reason;
};

// A connection: batches from the hub arrive on the hub thread and are taken by the test
// thread, which plays the session's strand (EventQueue is single-threaded).
class Connection final : public EventSink, public std::enable_shared_from_this<Connection> {
 public:
  void deliver_events(EventBatch batch) override {
    {
      std::lock_guard lock(mutex_);
      batches_.push_back(std::move(batch));
    }
    cv_.notify_all();
  }
  void close_for_subscriptions(std::string_view reason) override {
    std::lock_guard lock(mutex_);
    closed_reason_ = std::string(reason);
  }

  void attach(SubscriptionHub& hub, std::uint64_t id, EventQueue::Limits limits) {
    queue_.attach(hub, id, weak_from_this(), limits);
    hub_ = &hub;
  }

  std::string subscribe(SubscriptionFilter filter, std::uint64_t first_offset, bool replay,
                        bool include_ctx = true) {
    const std::string id = "sub-" + std::to_string(++next_id_);
    SubscribeRequest r;
    r.handle = queue_.add(id, filter.instance_id() ? SubscriptionType::Instance : SubscriptionType::All);
    r.id = id;
    r.type = filter.instance_id() ? SubscriptionType::Instance : SubscriptionType::All;
    r.filter = std::move(filter);
    r.include_ctx = include_ctx;
    r.channel = queue_.channel();
    r.first_offset = first_offset;
    r.replay = replay;
    auto registered = std::make_shared<std::promise<void>>();
    auto done = registered->get_future();
    r.on_registered = [registered] { registered->set_value(); };
    hub_->subscribe(std::move(r));
    REQUIRE(done.wait_for(kPatience) == std::future_status::ready);
    return id;
  }

  // Takes what the hub handed over and "writes" it, until `n` messages were received.
  std::vector<Received> receive(std::size_t n) {
    std::vector<Received> out;
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (out.size() < n) {
      drain(out, n);
      if (out.size() >= n) break;
      std::unique_lock lock(mutex_);
      if (!cv_.wait_until(lock, deadline, [&] { return !batches_.empty(); })) break;
    }
    return out;
  }
  // Takes whatever is handed over within `wait`.
  std::vector<Received> receive_for(std::chrono::milliseconds wait) {
    std::vector<Received> out;
    const auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
      drain(out, SIZE_MAX);
      std::unique_lock lock(mutex_);
      cv_.wait_until(lock, until, [&] { return !batches_.empty(); });
    }
    drain(out, SIZE_MAX);
    return out;
  }

  EventQueue& queue() { return queue_; }
  // Reserved on the channel but not written yet: what the bound covers.
  std::size_t queued_events() const { return queue_.channel()->queued_events(); }

 private:
  void drain(std::vector<Received>& out, std::size_t n) {
    std::deque<EventBatch> batches;
    {
      std::lock_guard lock(mutex_);
      batches.swap(batches_);
    }
    for (auto& b : batches)
      queue_.accept(std::move(b), 0);
    while (out.size() < n && queue_.ready(0)) {
      std::string frame;
      queue_.pop_into(frame, rstmdb::protocol::Framing::Jsonl);
      const json::object o = json::parse(frame).as_object();
      Received r;
      r.type = o.at("type").as_string().c_str();
      r.subscription_id = o.at("subscription_id").as_string().c_str();
      if (r.type == "event") {
        r.offset = o.at("wal_offset").to_number<std::uint64_t>();
      } else {
        r.reason = o.at("reason").as_string().c_str();
      }
      out.push_back(std::move(r));
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<EventBatch> batches_;
  std::string closed_reason_;
  EventQueue queue_;
  SubscriptionHub* hub_ = nullptr;
  int next_id_ = 0;
};

std::vector<std::uint64_t> offsets_of(const std::vector<Received>& rs, const std::string& sub) {
  std::vector<std::uint64_t> out;
  for (const auto& r : rs) {
    if (r.subscription_id == sub && r.type == "event") out.push_back(r.offset);
  }
  return out;
}

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t through) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t o = from; o <= through; ++o)
    out.push_back(o);
  return out;
}

struct Fixture {
  explicit Fixture(HubLimits limits = {}) : hub(log, limits), writer(log, hub.commit_hook()) { hub.start(); }
  ~Fixture() { hub.stop(); }
  std::shared_ptr<Connection> connect(EventQueue::Limits limits = {}) {
    auto c = std::make_shared<Connection>();
    c->attach(hub, ++connections, limits);
    return c;
  }
  MemoryLog log;
  SubscriptionHub hub;
  Writer writer;
  std::uint64_t connections = 0;
};

}  // namespace

TEST_CASE("live: matching events after the start, in order, quiet commits skipped", "[watch][hub]") {
  Fixture f;
  f.writer.apply("a");  // before the subscription: not delivered
  auto c = f.connect();
  const auto all = c->subscribe(SubscriptionFilter::all({}, {}, {}, {}), f.writer.latest() + 1, false);
  const auto only_b = c->subscribe(SubscriptionFilter::instance("b"), f.writer.latest() + 1, false);
  std::vector<std::uint64_t> expected_all, expected_b;
  for (int i = 0; i < 100; ++i) {
    const bool b = i % 3 == 0;
    const auto o = f.writer.apply(b ? "b" : "a");
    expected_all.push_back(o);
    if (b) expected_b.push_back(o);
    if (i % 10 == 0) f.writer.other();
  }
  const auto got = c->receive(expected_all.size() + expected_b.size());
  CHECK(offsets_of(got, all) == expected_all);
  CHECK(offsets_of(got, only_b) == expected_b);
  CHECK(f.hub.metrics().snapshot().active == std::array<std::uint64_t, 2>{1, 1});
}

TEST_CASE("replay from 1 while commits keep arriving: one stream, no gap, no duplicate", "[watch][hub]") {
  Fixture f(HubLimits{.catchup_batch = 7});
  for (int i = 0; i < 500; ++i)
    f.writer.apply(i % 2 ? "a" : "b");
  auto c = f.connect();
  std::thread writes([&] {
    for (int i = 0; i < 2000; ++i) {
      if (i % 50 == 0) f.writer.other();
      f.writer.apply(i % 2 ? "a" : "b");
    }
  });
  const auto from_1 = c->subscribe(SubscriptionFilter::all({}, {}, {}, {}), 1, true);
  const auto from_300 = c->subscribe(SubscriptionFilter::all({"m"}, {}, {}, {}), 300, true);
  writes.join();
  // Every offset is an apply except the 40 quiet commits.
  std::vector<std::uint64_t> applies;
  for (std::uint64_t o = 1; o <= f.writer.latest(); ++o) {
    if (o <= 500 || (o - 501) % 51 != 0) applies.push_back(o);
  }
  REQUIRE(applies.size() == 2500);
  std::vector<std::uint64_t> from_300_expected(std::lower_bound(applies.begin(), applies.end(), 300),
                                               applies.end());
  const auto got = c->receive(applies.size() + from_300_expected.size());
  CHECK(offsets_of(got, from_1) == applies);
  CHECK(offsets_of(got, from_300) == from_300_expected);
}

TEST_CASE("a full queue falls back to catch-up and rejoins live: bounded, nothing lost", "[watch][hub]") {
  Fixture f;
  auto c = f.connect({.max_subscriptions = 8, .queue_events = 4, .queue_bytes = 1 << 20});
  const auto sub = c->subscribe(SubscriptionFilter::all({}, {}, {}, {}), 1, false);
  for (int i = 0; i < 500; ++i) {
    f.writer.apply("a", "m", 100);
    CHECK(c->queued_events() <= 4);  // the hub reserves before it hands over
  }
  const auto got = c->receive(500);
  CHECK(offsets_of(got, sub) == range(1, 500));
  // Live again.
  f.writer.apply("a");
  CHECK(offsets_of(c->receive(1), sub) == std::vector<std::uint64_t>{501});
}

TEST_CASE("lagged: `end` once entries the subscription still needs were trimmed", "[watch][hub]") {
  Fixture f;
  auto c = f.connect({.max_subscriptions = 8, .queue_events = 2, .queue_bytes = 1 << 20});
  auto healthy = f.connect();
  const auto sub = c->subscribe(SubscriptionFilter::all({}, {}, {}, {}), 1, false);
  const auto ok = healthy->subscribe(SubscriptionFilter::all({}, {}, {}, {}), 1, false);
  for (int i = 0; i < 100; ++i)
    f.writer.apply("a");
  CHECK(offsets_of(healthy->receive(100), ok) == range(1, 100));
  f.log.trim_below(90);
  const auto got = c->receive_for(std::chrono::milliseconds(500));
  REQUIRE_FALSE(got.empty());
  const Received& end = got.back();
  CHECK(end.type == "end");
  CHECK(end.reason == "lagged");
  CHECK(end.subscription_id == sub);
  const auto events = offsets_of(got, sub);
  CHECK(events == range(1, events.size()));  // a gap-free prefix, ended before the gap
  CHECK(events.size() < 89);
  const auto m = f.hub.metrics().snapshot();
  CHECK(m.lagged[static_cast<int>(SubscriptionType::All)] == 1);
  CHECK(m.active[static_cast<int>(SubscriptionType::All)] == 1);  // the healthy one
  CHECK(c->queue().subscription_count() == 0);
}

TEST_CASE("a replay starting below the oldest retained entry starts there, not lagged", "[watch][hub]") {
  Fixture f;
  for (int i = 0; i < 50; ++i)
    f.writer.apply("a");
  f.log.trim_below(20);
  auto c = f.connect();
  const auto sub = c->subscribe(SubscriptionFilter::all({}, {}, {}, {}), 1, true);
  CHECK(offsets_of(c->receive(31), sub) == range(20, 50));
  CHECK(c->receive_for(std::chrono::milliseconds(100)).empty());
}

TEST_CASE("the hub's inbox overflows while it is held up: the gap is read back from the log",
          "[watch][hub]") {
  Fixture f(HubLimits{.max_queued_notices = 4, .max_queued_notice_bytes = 1 << 20, .catchup_batch = 16});
  auto c = f.connect();
  const auto live = c->subscribe(SubscriptionFilter::all({}, {}, {}, {}), 1, false);
  f.writer.apply("a");
  REQUIRE(offsets_of(c->receive(1), live) == std::vector<std::uint64_t>{1});
  // A replay makes the hub read the log; the read is held, and 300 commits pile up.
  f.log.hold();
  auto replayer = f.connect();
  SubscribeRequest r;
  const auto replay_id = std::string("sub-replay");
  r.handle = replayer->queue().add(replay_id, SubscriptionType::All);
  r.id = replay_id;
  r.filter = SubscriptionFilter::all({}, {}, {}, {});
  r.channel = replayer->queue().channel();
  r.first_offset = 1;
  r.replay = true;
  f.hub.subscribe(std::move(r));
  const auto until = std::chrono::steady_clock::now() + kPatience;
  while (!f.log.reader_waiting() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(f.log.reader_waiting());
  for (int i = 0; i < 300; ++i)
    f.writer.apply("a");
  CHECK(f.hub.dropped_notices() > 0);
  f.log.release();
  CHECK(offsets_of(c->receive(300), live) == range(2, 301));
  CHECK(offsets_of(replayer->receive(301), replay_id) == range(1, 301));
}

TEST_CASE("UNWATCH: nothing of the subscription is written afterwards, the gauge returns to 0",
          "[watch][hub]") {
  Fixture f;
  auto c = f.connect();
  const auto gone = c->subscribe(SubscriptionFilter::all({}, {}, {}, {}), 1, false);
  const auto kept = c->subscribe(SubscriptionFilter::instance("a"), 1, false);
  for (int i = 0; i < 50; ++i)
    f.writer.apply("a");
  auto first = c->receive(10);  // some of each, the rest still queued or in flight
  CHECK(c->queue().remove(gone));
  CHECK_FALSE(c->queue().remove(gone));
  for (int i = 0; i < 50; ++i)
    f.writer.apply("a");
  // Batches still on their way are dropped when they arrive: only `kept` is left.
  auto rest = c->receive(100 - offsets_of(first, kept).size());
  auto late = c->receive_for(std::chrono::milliseconds(100));
  rest.insert(rest.end(), late.begin(), late.end());
  std::vector<Received> all = first;
  all.insert(all.end(), rest.begin(), rest.end());
  CHECK(offsets_of(all, kept) == range(1, 100));
  CHECK(offsets_of(rest, gone).empty());
  auto m = f.hub.metrics().snapshot();
  CHECK(m.active == std::array<std::uint64_t, 2>{1, 0});
  c->queue().close();
  m = f.hub.metrics().snapshot();
  CHECK(m.active == std::array<std::uint64_t, 2>{0, 0});
  CHECK(c->queued_events() == 0);  // everything queued was released at close
}
