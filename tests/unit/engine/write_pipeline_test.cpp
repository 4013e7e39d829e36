// The write pipeline through its store seam (engine/group_store.hpp), without RocksDB: order
// and offsets, durable-before-ack, the open group, the group caps, and fail-stop on a failed
// write or sync.
#include "engine/write_pipeline.hpp"
#include "engine/errors.hpp"
#include "storage/keys.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace rstmdb;
using namespace rstmdb::engine;
namespace json = boost::json;

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPatience = std::chrono::seconds(30);

// Committed state of the fake: nothing but absorbed instances.
class MemoryCommitted final : public CommittedReader {
 public:
  const Instance* instance(const std::string& id) override {
    auto it = instances_.find(id);
    return it == instances_.end() ? nullptr : &it->second;
  }
  std::optional<IdempotencyValue> idempotency(const std::string&) override { return std::nullopt; }
  bool snapshot_exists(const std::string&) override { return false; }
  MachinePtr machine(const std::string&, std::uint32_t) override { return nullptr; }
  std::vector<std::uint32_t> machine_versions(const std::string&) override { return {}; }
  bool expired(std::int64_t, std::int64_t) const override { return false; }
  void absorb(View& group) override {
    for (auto& [id, inst] : group.instances())
      instances_[id] = inst;
    ++absorbed;
  }
  int absorbed = 0;

 private:
  std::map<std::string, Instance> instances_;
};

// A group as the fake store saw it.
struct WrittenGroup {
  std::vector<std::uint64_t> offsets;  // of its log entries, in batch order
  std::uint64_t staged_bytes = 0;
  bool sync = false;
};

// An in-memory GroupStore that records every write and sync and can fail or stall them.
class MemoryStore final : public GroupStore {
 public:
  std::unique_ptr<PreparedGroup> prepare(const View&) override { return std::make_unique<PreparedGroup>(); }

  std::optional<storage::StorageError> write(PreparedGroup&, const View& group,
                                             const std::vector<CommittedState::CountUpdate>&, std::uint64_t,
                                             bool sync) override {
    std::unique_lock lock(mutex);
    CHECK_FALSE(marked_failed);  // fail-stop: nothing is written after a failure
    ++write_calls;
    if (stall_writes) {
      stalled = true;
      cv.notify_all();
      cv.wait(lock, [&] { return !stall_writes; });
      stalled = false;
    }
    if (fail_write_number != 0 && write_calls == fail_write_number) {
      return storage::StorageError("injected write failure", storage::StorageError::Kind::Io);
    }
    WrittenGroup g;
    for (const auto& m : group.mutations()) {
      if (m.cf == storage::Cf::Log) g.offsets.push_back(storage::decode_offset_key(m.key));
    }
    g.staged_bytes = group.staged_bytes();
    g.sync = sync;
    for (auto o : g.offsets)
      durable_or_written.insert(o);
    unsynced_entries = sync ? 0 : unsynced_entries + g.offsets.size();
    groups.push_back(std::move(g));
    cv.notify_all();
    return std::nullopt;
  }

  std::optional<storage::StorageError> sync() override {
    std::lock_guard lock(mutex);
    CHECK_FALSE(marked_failed);
    ++sync_calls;
    cv.notify_all();  // a failed sync is an event too: wait_store() waits on sync_calls
    if (fail_syncs)
      return storage::StorageError("injected sync failure", storage::StorageError::Kind::NoSpace);
    unsynced_entries = 0;
    return std::nullopt;
  }

  void mark_failed(const storage::StorageError&) override {
    std::lock_guard lock(mutex);
    marked_failed = true;
  }

  bool written(std::uint64_t offset) {
    std::lock_guard lock(mutex);
    return durable_or_written.contains(offset);
  }

  std::mutex mutex;
  std::condition_variable cv;
  std::vector<WrittenGroup> groups;
  std::set<std::uint64_t> durable_or_written;
  int write_calls = 0;
  int sync_calls = 0;
  std::size_t unsynced_entries = 0;  // written without a sync since the last sync
  int fail_write_number = 0;         // fail the Nth write (1-based); 0 = never
  bool fail_syncs = false;
  bool stall_writes = false;
  bool stalled = false;
  bool marked_failed = false;
};

config::FsyncPolicy policy(config::FsyncPolicy::Kind kind, std::uint64_t n = 0) {
  config::FsyncPolicy p;
  p.kind = kind;
  p.n = n;
  return p;
}

// Most tests drive the sequencer and committer threads (submit never blocks: LeadMode::Never);
// the leader tests at the end let the submitting thread lead.
struct Harness {
  explicit Harness(config::FsyncPolicy p, WritePipeline::LeadMode lead = WritePipeline::LeadMode::Never)
      : pipeline(store, committed, state, p, latch) {
    latch->set_handler([this](const storage::StorageError& e) {
      std::lock_guard lock(mutex);
      failures.push_back(e.what());
    });
    pipeline.set_lead_mode(lead);
    pipeline.start();
  }
  ~Harness() { pipeline.shutdown(); }

  MemoryStore store;
  MemoryCommitted committed;
  CommittedState state;
  std::shared_ptr<FailureLatch> latch = std::make_shared<FailureLatch>();
  WritePipeline pipeline;
  std::mutex mutex;
  std::vector<std::string> failures;
};

// A job that appends one entry of `bytes` bytes and answers {"offset":N}.
std::function<Result(View&)> append(std::size_t bytes = 16) {
  return [bytes](View& v) -> Result {
    const auto offset = v.append_entry(std::string(bytes, 'x'));
    json::object r;
    r["offset"] = offset;
    return r;
  };
}

std::uint64_t offset_of(const Result& r) {
  REQUIRE(std::holds_alternative<json::object>(r));
  return std::get<json::object>(r).at("offset").to_number<std::uint64_t>();
}

// Waits until `pred` holds (under the store's lock), failing after kPatience.
template <typename Pred>
void wait_store(MemoryStore& s, Pred pred) {
  std::unique_lock lock(s.mutex);
  REQUIRE(s.cv.wait_for(lock, kPatience, pred));
}

}  // namespace

TEST_CASE(
    "write pipeline: offsets are gap-free, in commit order, FIFO per submitter, acknowledged only once "
    "written",
    "[engine][pipeline]") {
  const auto lead = GENERATE(WritePipeline::LeadMode::Never, WritePipeline::LeadMode::Always);
  for (auto kind : {config::FsyncPolicy::Kind::EveryWrite, config::FsyncPolicy::Kind::Never}) {
    Harness h(policy(kind), lead);
    constexpr int kThreads = 8;
    constexpr int kPerThread = 300;
    std::mutex mu;
    std::map<int, std::vector<std::uint64_t>> by_thread;
    std::atomic<int> acked_before_written{0};
    std::vector<std::thread> threads;
    std::vector<std::promise<void>> finished(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto left = std::make_shared<std::atomic<int>>(kPerThread);
        // Leading threads submit in scopes of three writes (like a pipelined connection);
        // each scope's end leads what it holds, unless another thread is sequencing.
        std::unique_ptr<WritePipeline::LeadScope> scope;
        for (int i = 0; i < kPerThread; ++i) {
          if (lead == WritePipeline::LeadMode::Always && i % 3 == 0)
            scope = std::make_unique<WritePipeline::LeadScope>(h.pipeline);
          h.pipeline.submit(Job{append(), [&, t, left](Result r) {
                                  const auto off = offset_of(r);
                                  if (!h.store.written(off)) ++acked_before_written;
                                  {
                                    std::lock_guard lock(mu);
                                    by_thread[t].push_back(off);
                                  }
                                  if (--*left == 0) finished[t].set_value();
                                }});
          if (i % 3 == 2) scope.reset();
        }
        scope.reset();
      });
    }
    for (auto& th : threads)
      th.join();
    for (auto& f : finished)
      REQUIRE(f.get_future().wait_for(kPatience) == std::future_status::ready);

    CHECK(acked_before_written == 0);
    std::vector<std::uint64_t> written;
    {
      std::lock_guard lock(h.store.mutex);
      for (const auto& g : h.store.groups) {
        written.insert(written.end(), g.offsets.begin(), g.offsets.end());
        CHECK(g.sync == (kind == config::FsyncPolicy::Kind::EveryWrite));
      }
    }
    REQUIRE(written.size() == kThreads * kPerThread);
    for (std::size_t i = 0; i < written.size(); ++i)
      REQUIRE(written[i] == i + 1);  // gap-free from 1, in write (commit) order
    for (const auto& [t, offs] : by_thread) {
      REQUIRE(offs.size() == kPerThread);
      for (std::size_t i = 1; i < offs.size(); ++i)
        REQUIRE(offs[i] > offs[i - 1]);  // one submitter's writes commit in its order
    }
    CHECK(h.state.latest_offset() == kThreads * kPerThread);
    CHECK(h.failures.empty());
  }
}

TEST_CASE("write pipeline: while one group syncs the next stays open and takes everything that arrives",
          "[engine][pipeline]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryWrite));
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = true;
  }
  std::atomic<int> acked{0};
  h.pipeline.submit(Job{append(), [&](Result) { ++acked; }});
  wait_store(h.store, [&] { return h.store.stalled; });  // group 1 is being written
  constexpr int kLater = 50;
  for (int i = 0; i < kLater; ++i)
    h.pipeline.submit(Job{append(), [&](Result) { ++acked; }});
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = false;
  }
  h.store.cv.notify_all();
  wait_store(h.store, [&] { return h.store.groups.size() == 2; });
  std::lock_guard lock(h.store.mutex);
  CHECK(h.store.groups[0].offsets.size() == 1);
  CHECK(h.store.groups[1].offsets.size() == kLater);  // one sync for all of them
}

TEST_CASE("write pipeline: a group holds at most kMaxGroupJobs jobs and closes at kMaxGroupBytes",
          "[engine][pipeline]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryWrite));
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = true;
  }
  h.pipeline.submit(Job{append(), [](Result) {}});
  wait_store(h.store, [&] { return h.store.stalled; });
  // Queued while group 1 is stuck: 3000 small jobs, then 5 jobs of 12 MiB.
  constexpr std::size_t kSmall = 3000;
  constexpr std::size_t kBig = 5;
  constexpr std::size_t kBigBytes = 12u << 20;
  std::atomic<std::size_t> acked{0};
  for (std::size_t i = 0; i < kSmall; ++i)
    h.pipeline.submit(Job{append(), [&](Result) { ++acked; }});
  for (std::size_t i = 0; i < kBig; ++i)
    h.pipeline.submit(Job{append(kBigBytes), [&](Result) { ++acked; }});
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = false;
  }
  h.store.cv.notify_all();
  wait_store(h.store, [&] {
    std::size_t n = 0;
    for (const auto& g : h.store.groups)
      n += g.offsets.size();
    return n == 1 + kSmall + kBig;
  });
  std::lock_guard lock(h.store.mutex);
  for (const auto& g : h.store.groups) {
    CHECK(g.offsets.size() <= WritePipeline::kMaxGroupJobs);
    // The cap is checked before each job: a group passes it by at most one job.
    CHECK(g.staged_bytes < WritePipeline::kMaxGroupBytes + kBigBytes + 4096);
  }
  CHECK(h.store.groups.size() >=
        1 + (kSmall + WritePipeline::kMaxGroupJobs - 1) / WritePipeline::kMaxGroupJobs);
}

TEST_CASE("write pipeline: an exclusive job runs alone on fully committed state", "[engine][pipeline]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryWrite));
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = true;
  }
  h.pipeline.submit(Job{append(), [](Result) {}});
  wait_store(h.store, [&] { return h.store.stalled; });
  std::promise<int> absorbed_when_exclusive_ran;
  h.pipeline.submit(Job{append(), [](Result) {}});
  h.pipeline.submit(Job{[&](View& v) -> Result {
                          absorbed_when_exclusive_ran.set_value(h.committed.absorbed);
                          return append()(v);
                        },
                        [](Result) {}, true});
  h.pipeline.submit(Job{append(), [](Result) {}});
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = false;
  }
  h.store.cv.notify_all();
  auto f = absorbed_when_exclusive_ran.get_future();
  REQUIRE(f.wait_for(kPatience) == std::future_status::ready);
  CHECK(f.get() == 2);  // the two groups before it were committed and absorbed first
  wait_store(h.store, [&] { return h.store.groups.size() == 4; });
  std::lock_guard lock(h.store.mutex);
  CHECK(h.store.groups[2].offsets == std::vector<std::uint64_t>{3});  // alone
}

TEST_CASE("write pipeline: a failed write stops it for good (fail-stop)", "[engine][pipeline]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryWrite));
  {
    std::lock_guard lock(h.store.mutex);
    h.store.fail_write_number = 2;  // the second group fails
  }
  // Group 1 commits.
  std::promise<Result> first;
  h.pipeline.submit(Job{append(), [&](Result r) { first.set_value(std::move(r)); }});
  REQUIRE(offset_of(first.get_future().get()) == 1);

  // Group 2 fails while more writes queue behind it.
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = true;
  }
  std::promise<Result> failing;
  h.pipeline.submit(Job{append(), [&](Result r) { failing.set_value(std::move(r)); }});
  wait_store(h.store, [&] { return h.store.stalled; });
  constexpr int kBehind = 20;
  std::vector<std::promise<Result>> behind(kBehind);
  for (int i = 0; i < kBehind; ++i)
    h.pipeline.submit(Job{append(), [&, i](Result r) { behind[i].set_value(std::move(r)); }});
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = false;
  }
  h.store.cv.notify_all();

  auto r = failing.get_future().get();
  REQUIRE(std::holds_alternative<protocol::Error>(r));
  const auto& e = std::get<protocol::Error>(r);
  CHECK(e.code == protocol::ErrorCode::WalIoError);
  CHECK(e.message.find("outcome of this write is unknown") != std::string::npos);
  for (auto& p : behind) {
    auto b = p.get_future().get();
    REQUIRE(std::holds_alternative<protocol::Error>(b));
    CHECK(std::get<protocol::Error>(b).code == protocol::ErrorCode::WalIoError);
    CHECK(std::get<protocol::Error>(b).message.find("not applied") != std::string::npos);
  }
  // Later writes are refused without being attempted.
  std::promise<Result> later;
  h.pipeline.submit(Job{append(), [&](Result r2) { later.set_value(std::move(r2)); }});
  auto l = later.get_future().get();
  REQUIRE(std::holds_alternative<protocol::Error>(l));
  CHECK(std::get<protocol::Error>(l).message.find("not applied") != std::string::npos);

  std::lock_guard lock(h.store.mutex);
  CHECK(h.store.write_calls == 2);  // nothing was written after the failure
  CHECK(h.store.marked_failed);
  CHECK(h.state.latest_offset() == 1);  // the failed group's offset was never published
  std::lock_guard lock2(h.mutex);
  CHECK(h.failures == std::vector<std::string>{"injected write failure"});  // told once
}

TEST_CASE(
    "write pipeline: a failed background sync (every_n) stops it too, and shutdown skips the final sync",
    "[engine][pipeline]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryN, 3));
  {
    std::lock_guard lock(h.store.mutex);
    h.store.fail_syncs = true;
  }
  for (int i = 0; i < 3; ++i) {
    std::promise<Result> p;
    h.pipeline.submit(Job{append(), [&](Result r) { p.set_value(std::move(r)); }});
    CHECK(offset_of(p.get_future().get()) == static_cast<std::uint64_t>(i + 1));  // acked once written
  }
  // The third write made a background sync due; it fails.
  wait_store(h.store, [&] { return h.store.sync_calls == 1; });
  for (int i = 0; i < 200 && !h.pipeline.failed(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(h.pipeline.failed());
  std::promise<Result> after;
  h.pipeline.submit(Job{append(), [&](Result r) { after.set_value(std::move(r)); }});
  auto a = after.get_future().get();
  REQUIRE(std::holds_alternative<protocol::Error>(a));
  CHECK(std::get<protocol::Error>(a).message.find("not applied") != std::string::npos);
  h.pipeline.shutdown();
  std::lock_guard lock(h.store.mutex);
  CHECK(h.store.sync_calls == 1);  // no final sync on a failed store
  CHECK(h.store.write_calls == 3);
  std::lock_guard lock2(h.mutex);
  CHECK(h.failures.size() == 1);
}

TEST_CASE("write pipeline: a background failure reported by the store refuses the next write unattempted",
          "[engine][pipeline]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryWrite));
  h.latch->trip(storage::StorageError("background flush failed: No space left on device",
                                      storage::StorageError::Kind::NoSpace));
  std::promise<Result> p;
  h.pipeline.submit(Job{append(), [&](Result r) { p.set_value(std::move(r)); }});
  auto r = p.get_future().get();
  REQUIRE(std::holds_alternative<protocol::Error>(r));
  CHECK(std::get<protocol::Error>(r).message.find("not applied") != std::string::npos);
  std::lock_guard lock(h.store.mutex);
  CHECK(h.store.write_calls == 0);
}

TEST_CASE("write pipeline: under every_n syncs follow N writes, and shutdown syncs what is left",
          "[engine][pipeline]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryN, 4));
  for (int i = 0; i < 10; ++i) {
    std::promise<Result> p;
    h.pipeline.submit(Job{append(), [&](Result r) { p.set_value(std::move(r)); }});
    p.get_future().get();
  }
  // The fourth write made a sync due (how many writes one sync covers depends on when the
  // committer runs).
  wait_store(h.store, [&] { return h.store.sync_calls >= 1; });
  h.pipeline.shutdown();
  std::lock_guard lock(h.store.mutex);
  CHECK(h.store.unsynced_entries == 0);  // the rest was synced at shutdown
  CHECK(h.store.sync_calls <= 3);
}

TEST_CASE("write pipeline: a lone write is led by its submitting thread and answered before its scope ends",
          "[engine][pipeline][leader]") {
  for (auto kind : {config::FsyncPolicy::Kind::EveryWrite, config::FsyncPolicy::Kind::Never}) {
    Harness h(policy(kind), WritePipeline::LeadMode::Always);
    for (int i = 1; i <= 50; ++i) {
      std::thread::id answered_on;
      std::optional<std::uint64_t> offset;
      {
        WritePipeline::LeadScope scope(h.pipeline);
        h.pipeline.submit(Job{append(), [&](Result r) {
                                answered_on = std::this_thread::get_id();
                                offset = offset_of(r);
                              }});
        CHECK_FALSE(offset.has_value());  // held until the scope ends
      }
      REQUIRE(offset.has_value());  // answered when the scope ended, on this thread
      CHECK(*offset == static_cast<std::uint64_t>(i));
      CHECK(answered_on == std::this_thread::get_id());
      CHECK(h.store.written(*offset));
    }
    std::lock_guard lock(h.store.mutex);
    CHECK(h.store.groups.size() == 50);
    for (const auto& g : h.store.groups)
      CHECK(g.sync == (kind == config::FsyncPolicy::Kind::EveryWrite));
  }
}

TEST_CASE("write pipeline: WithoutSync leads only groups that need no fsync", "[engine][pipeline][leader]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryWrite), WritePipeline::LeadMode::WithoutSync);
  std::promise<std::thread::id> answered_on;
  {
    WritePipeline::LeadScope scope(h.pipeline);
    h.pipeline.submit(Job{append(), [&](Result) { answered_on.set_value(std::this_thread::get_id()); }});
  }
  CHECK(answered_on.get_future().get() != std::this_thread::get_id());  // the committer's
}

TEST_CASE("write pipeline: while a leader syncs, other writers do not block and gather for the sequencer",
          "[engine][pipeline][leader]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryWrite), WritePipeline::LeadMode::Always);
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = true;
  }
  std::promise<Result> led;
  std::thread leader([&] {
    WritePipeline::LeadScope scope(h.pipeline);
    h.pipeline.submit(Job{append(), [&](Result r) { led.set_value(std::move(r)); }});
  });
  wait_store(h.store, [&] { return h.store.stalled; });  // the leader is inside its write
  constexpr int kOthers = 40;
  std::vector<std::promise<Result>> others(kOthers);
  for (int i = 0; i < kOthers; ++i)
    h.pipeline.submit(Job{append(), [&, i](Result r) { others[i].set_value(std::move(r)); }});  // returns
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = false;
  }
  h.store.cv.notify_all();
  leader.join();
  CHECK(offset_of(led.get_future().get()) == 1);
  for (int i = 0; i < kOthers; ++i)
    CHECK(offset_of(others[i].get_future().get()) == static_cast<std::uint64_t>(i + 2));
  std::lock_guard lock(h.store.mutex);
  CHECK(h.store.groups.size() == 2);  // the leader's, then one group for all the others
}

TEST_CASE("write pipeline: once writers overlap, scopes stop leading until writes come one at a time again",
          "[engine][pipeline][leader]") {
  Harness h(policy(config::FsyncPolicy::Kind::Never), WritePipeline::LeadMode::Always);
  // A lone write that answers on the thread that submitted it was led there.
  const auto lone_write_led = [&] {
    std::promise<std::thread::id> answered_on;
    {
      WritePipeline::LeadScope scope(h.pipeline);
      h.pipeline.submit(Job{append(), [&](Result) { answered_on.set_value(std::this_thread::get_id()); }});
    }
    return answered_on.get_future().get() == std::this_thread::get_id();
  };
  REQUIRE(lone_write_led());
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = true;
  }
  std::thread leader([&] {
    WritePipeline::LeadScope scope(h.pipeline);
    h.pipeline.submit(Job{append(), [](Result) {}});
  });
  wait_store(h.store, [&] { return h.store.stalled; });  // a leader is inside its write
  std::promise<void> overlapped;
  h.pipeline.submit(Job{append(), [&](Result) { overlapped.set_value(); }});  // arrives meanwhile
  {
    std::lock_guard lock(h.store.mutex);
    h.store.stall_writes = false;
  }
  h.store.cv.notify_all();
  leader.join();
  overlapped.get_future().get();
  // Backed off: the overlapping write was one single-job sequencer group, so the next
  // kLeadBackoffGroups - 1 lone writes go through the sequencer thread too.
  for (int i = 0; i < WritePipeline::kLeadBackoffGroups - 1; ++i)
    CHECK_FALSE(lone_write_led());
  // Then, once the sequencer has given its role back, the next lone write is led again.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!h.pipeline.idle() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  REQUIRE(h.pipeline.idle());
  CHECK(lone_write_led());
}

TEST_CASE("write pipeline: a leader's failed write fail-stops like any other", "[engine][pipeline][leader]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryWrite), WritePipeline::LeadMode::Always);
  {
    std::lock_guard lock(h.store.mutex);
    h.store.fail_write_number = 1;
  }
  std::optional<Result> first;
  {
    WritePipeline::LeadScope scope(h.pipeline);
    h.pipeline.submit(Job{append(), [&](Result r) { first = std::move(r); }});
  }
  REQUIRE(first.has_value());
  REQUIRE(std::holds_alternative<protocol::Error>(*first));
  CHECK(std::get<protocol::Error>(*first).message.find("outcome of this write is unknown") !=
        std::string::npos);
  std::promise<Result> later;
  h.pipeline.submit(Job{append(), [&](Result r) { later.set_value(std::move(r)); }});
  auto l = later.get_future().get();
  REQUIRE(std::holds_alternative<protocol::Error>(l));
  CHECK(std::get<protocol::Error>(l).message.find("not applied") != std::string::npos);
  std::lock_guard lock(h.store.mutex);
  CHECK(h.store.write_calls == 1);
  std::lock_guard lock2(h.mutex);
  CHECK(h.failures.size() == 1);
}

TEST_CASE("write pipeline: writes submitted in one scope share one led group", "[engine][pipeline][leader]") {
  Harness h(policy(config::FsyncPolicy::Kind::EveryWrite), WritePipeline::LeadMode::Always);
  int answered = 0;
  {
    WritePipeline::LeadScope scope(h.pipeline);
    for (int i = 0; i < 16; ++i)
      h.pipeline.submit(Job{append(), [&](Result) { ++answered; }});
  }
  CHECK(answered == 16);
  std::lock_guard lock(h.store.mutex);
  REQUIRE(h.store.groups.size() == 1);  // a pipelined connection's writes share one sync
  CHECK(h.store.groups[0].offsets.size() == 16);
  CHECK(h.store.sync_calls == 0);
  CHECK(h.store.groups[0].sync);
}

TEST_CASE("write pipeline: after a led group of several writes, scopes stop leading",
          "[engine][pipeline][leader]") {
  // A pipelining connection's read starts several writes in one scope: the sequencer, staging
  // on its own thread while this one decodes and answers, serves that load better.
  Harness h(policy(config::FsyncPolicy::Kind::Never), WritePipeline::LeadMode::Always);
  const auto self = std::this_thread::get_id();
  std::vector<std::thread::id> first(4);
  {
    WritePipeline::LeadScope scope(h.pipeline);
    for (auto& on : first)
      h.pipeline.submit(Job{append(), [&on](Result) { on = std::this_thread::get_id(); }});
  }
  for (const auto& on : first)
    CHECK(on == self);  // led here, as one group
  // The next scope's lone write goes to the sequencer thread.
  std::promise<std::thread::id> next;
  {
    WritePipeline::LeadScope scope(h.pipeline);
    h.pipeline.submit(Job{append(), [&](Result) { next.set_value(std::this_thread::get_id()); }});
  }
  CHECK(next.get_future().get() != self);
}
