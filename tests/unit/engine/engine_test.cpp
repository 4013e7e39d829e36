// Engine tests against a real Store in a temporary directory.
#include "engine/engine.hpp"
#include "engine/maintenance.hpp"
#include "protocol/json_text.hpp"
#include "storage/memtable_kinds.hpp"
#include "storage/store.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace json = boost::json;
using namespace rstmdb;

namespace {

using rstmdb::test::TempDir;
// Each test's directory: a TempDir named rstmdb-engine-test-*.
constexpr const char* kTempPrefix = "rstmdb-engine-test";

std::unique_ptr<storage::Store> open_store(const TempDir& dir, storage::MemtableKind memtable) {
  storage::StoreOptions options;
  options.data_dir = (dir.path() / "data").string();
  options.memtable = memtable;
  options.block_cache_mb = 8;
  auto opened = storage::Store::open(options);
  REQUIRE(opened.store);
  return std::move(opened.store);
}

// Waits for one result.
engine::Result wait(const std::function<void(engine::ResultCallback)>& submit) {
  std::promise<engine::Result> p;
  auto f = p.get_future();
  submit([&p](engine::Result r) { p.set_value(std::move(r)); });
  return f.get();
}

json::object ok(const engine::Result& r) {
  if (auto* e = std::get_if<protocol::Error>(&r)) FAIL("unexpected error: " << e->message);
  if (auto* o = std::get_if<json::object>(&r)) return *o;
  return json::parse(std::get<engine::RawJson>(r).text).as_object();
}

protocol::Error error(const engine::Result& r) {
  REQUIRE(std::holds_alternative<protocol::Error>(r));
  return std::get<protocol::Error>(r);
}

json::value cycle_definition() {
  return json::parse(R"({"states":["a","b"],"initial":"a","transitions":[
      {"from":"a","event":"GO","to":"b"},{"from":"b","event":"GO","to":"a"},
      {"from":"a","event":"GUARDED","to":"b","guard":"ctx.ok == true"}]})");
}

void put_cycle(engine::Engine& eng) {
  ok(wait([&](auto cb) { eng.put_machine({"m", 1, cycle_definition(), std::nullopt}, cb); }));
}

// CREATE_INSTANCE of `id` on machine m v1.
engine::CreateInstance new_instance(const std::string& id) {
  engine::CreateInstance c;
  c.instance_id = id;
  c.machine = "m";
  c.version = 1;
  return c;
}

void create(engine::Engine& eng, const std::string& id) {
  ok(wait([&](auto cb) { eng.create_instance(new_instance(id), cb); }));
}

engine::ApplyEvent go(const std::string& id) {
  engine::ApplyEvent a;
  a.instance_id = id;
  a.event = "GO";
  return a;
}

// Calls submit(i, done) for i in [0, count) without waiting between them (submit hands `done`
// to the engine), then waits for every reply. Each successful result is passed to `seen`
// (under a lock, in reply order).
void submit_many(int count, const std::function<void(int, engine::ResultCallback)>& submit,
                 const std::function<void(const json::object&)>& seen = {}) {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  for (int i = 0; i < count; ++i) {
    submit(i, [&](engine::Result r) {
      auto o = ok(r);
      std::lock_guard lock(mu);
      if (seen) seen(o);
      ++done;
      cv.notify_one();
    });
  }
  std::unique_lock lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == count; }));
}

// Submits `count` GO events to instance `id` at once, then waits for all (see submit_many).
void apply_many(engine::Engine& eng, const std::string& id, int count,
                const std::function<void(const json::object&)>& seen = {}) {
  submit_many(
      count, [&](int, engine::ResultCallback done) { eng.apply_event(go(id), std::move(done)); }, seen);
}

}  // namespace

TEST_CASE("group commit shares syncs between concurrent writes and keeps offsets gap-free") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, engine::EngineOptions{});
  put_cycle(eng);
  create(eng, "i");
  const auto before = eng.io_stats();

  constexpr int kWrites = 500;
  std::vector<std::uint64_t> offsets;
  apply_many(eng, "i", kWrites, [&](const json::object& o) {
    offsets.push_back(o.at("wal_offset").to_number<std::uint64_t>());
  });
  // Replies come back in submission order with consecutive offsets.
  for (int i = 0; i < kWrites; ++i)
    CHECK(offsets[i] == 3 + static_cast<std::uint64_t>(i));
  const auto after = eng.io_stats();
  CHECK(after.writes - before.writes == kWrites);
  // Writes queued while a sync runs join the next group: far fewer syncs than writes.
  CHECK(after.fsyncs - before.fsyncs < kWrites / 2);
  // 500 GO events from state a: even count → back in a.
  auto got = ok(eng.get_instance({"i"}));
  CHECK(got.at("state").as_string() == "a");
  CHECK(got.at("last_wal_offset").to_number<std::uint64_t>() == 2 + kWrites);
}

TEST_CASE("a write that joins a group while a sync runs is timestamped no earlier than its submission") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, engine::EngineOptions{});
  put_cycle(eng);
  create(eng, "busy");
  // Keeps the committer syncing, so the creates below join groups that stay open.
  std::thread load([&] { apply_many(eng, "busy", 400); });
  constexpr int kCreates = 100;
  const auto wall_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  std::vector<std::int64_t> submitted_at(kCreates);
  submit_many(kCreates, [&](int i, engine::ResultCallback done) {
    submitted_at[i] = wall_ms();
    eng.create_instance(new_instance("late-" + std::to_string(i)), std::move(done));
  });
  load.join();
  for (int i = 0; i < kCreates; ++i) {
    const auto got = ok(eng.get_instance({"late-" + std::to_string(i)}));
    CHECK(got.at("created_at").to_number<std::int64_t>() >= submitted_at[i]);
  }
}

TEST_CASE("atomic batch commits all or nothing") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, engine::EngineOptions{});
  put_cycle(eng);
  const auto latest = eng.latest_offset();

  engine::Batch b;
  b.atomic = true;
  const engine::CreateInstance c = new_instance("x");
  b.elements.push_back({"CREATE_INSTANCE", c});
  b.elements.push_back({"APPLY_EVENT", go("missing")});
  auto e = error(wait([&](auto cb) { eng.batch(b, cb); }));
  CHECK(e.code == protocol::ErrorCode::InstanceNotFound);
  CHECK(e.message == "batch operation 1 (APPLY_EVENT) failed: instance not found: missing");
  CHECK(e.details.at("failed_index").to_number<std::int64_t>() == 1);
  CHECK(eng.latest_offset() == latest);
  CHECK(std::holds_alternative<protocol::Error>(eng.get_instance({"x"})));

  b.elements[1] = {"APPLY_EVENT", go("x")};
  auto r = ok(wait([&](auto cb) { eng.batch(b, cb); }));
  CHECK(r.at("results").as_array().size() == 2);
  CHECK(eng.latest_offset() == latest + 2);
  CHECK(ok(eng.get_instance({"x"})).at("state").as_string() == "b");
}

TEST_CASE("state, offsets and idempotency records survive a reopen without replay") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  std::string first_result;
  {
    auto store = open_store(dir, memtable);
    engine::Engine eng(*store, engine::EngineOptions{});
    put_cycle(eng);
    create(eng, "p");
    auto a = go("p");
    a.idempotency_key = "k1";
    first_result = protocol::to_json(ok(wait([&](auto cb) { eng.apply_event(a, cb); })));
    CHECK(eng.latest_offset() == 3);
  }
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, engine::EngineOptions{});
  CHECK(eng.latest_offset() == 3);
  CHECK(eng.instance_count() == 1);
  CHECK(eng.machine_count() == 1);
  auto a = go("p");
  a.idempotency_key = "k1";
  auto replay = ok(wait([&](auto cb) { eng.apply_event(a, cb); }));
  CHECK(replay.at("applied").as_bool() == false);
  CHECK(replay.at("wal_offset").to_number<std::uint64_t>() == 3);
  CHECK(eng.latest_offset() == 3);
  // The next write continues the sequence.
  CHECK(
      ok(wait([&](auto cb) { eng.apply_event(go("p"), cb); })).at("wal_offset").to_number<std::uint64_t>() ==
      4);
}

TEST_CASE("guards see the pre-merge ctx, and failures change nothing") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, engine::EngineOptions{});
  put_cycle(eng);
  create(eng, "g");
  const auto latest = eng.latest_offset();
  engine::ApplyEvent a;
  a.instance_id = "g";
  a.event = "GUARDED";
  a.payload = json::parse(R"({"ok":true})").as_object();
  auto e = error(wait([&](auto cb) { eng.apply_event(a, cb); }));
  CHECK(e.code == protocol::ErrorCode::GuardFailed);
  CHECK(eng.latest_offset() == latest);
}

namespace {

engine::EngineOptions with_policy(config::FsyncPolicy::Kind kind, std::uint64_t n = 0) {
  engine::EngineOptions o;
  o.fsync_policy.kind = kind;
  o.fsync_policy.n = n;
  return o;
}

// Polls until `pred` holds or 10 s pass; returns whether it held.
bool eventually(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace

TEST_CASE("every_n syncs in the background once N entries are unsynced") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, with_policy(config::FsyncPolicy::Kind::EveryN, 10));
  put_cycle(eng);
  create(eng, "n");
  const auto before = eng.io_stats();
  apply_many(eng, "n", 200);
  // 202 entries in all: at least one sync, and never more than one per 10 entries.
  CHECK(eventually([&] { return eng.io_stats().fsyncs > before.fsyncs; }));
  CHECK(eng.io_stats().fsyncs - before.fsyncs <= 202 / 10);
}

TEST_CASE("every_ms syncs on a timer after a write, and not while idle") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, with_policy(config::FsyncPolicy::Kind::EveryMs, 20));
  put_cycle(eng);
  create(eng, "t");
  CHECK(eventually([&] { return eng.io_stats().fsyncs >= 1; }));
  const auto synced = eng.io_stats().fsyncs;
  apply_many(eng, "t", 5);
  CHECK(eventually([&] { return eng.io_stats().fsyncs > synced; }));
  // The five writes may span two timer periods; wait until the count has been still for five
  // periods (bounded), so nothing is left unsynced.
  auto settled = eng.io_stats().fsyncs;
  auto still_since = std::chrono::steady_clock::now();
  const auto deadline = still_since + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() - still_since < std::chrono::milliseconds(100) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (const auto now = eng.io_stats().fsyncs; now != settled) {
      settled = now;
      still_since = std::chrono::steady_clock::now();
    }
  }
  // Nothing unsynced: the timer does not keep syncing.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(eng.io_stats().fsyncs == settled);
}

TEST_CASE("never leaves syncing to shutdown") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, with_policy(config::FsyncPolicy::Kind::Never));
  put_cycle(eng);
  create(eng, "v");
  apply_many(eng, "v", 50);
  CHECK(eng.io_stats().fsyncs == 0);
  CHECK(eng.io_stats().writes == 52);
}

TEST_CASE(
    "the commit hook sees every commit and every applied event once, in offset order, one call at a time") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  for (auto kind : {config::FsyncPolicy::Kind::EveryWrite, config::FsyncPolicy::Kind::Never}) {
    TempDir dir(kTempPrefix);
    auto store = open_store(dir, memtable);
    engine::Engine eng(*store, with_policy(kind));
    std::mutex mu;
    std::vector<std::uint64_t> offsets;
    std::vector<std::string> transitions;
    std::atomic<int> inside{0};
    std::atomic<bool> overlapped{false};
    std::uint64_t last_notified = 0;
    bool notices_in_order = true;
    eng.set_commit_hook([&](engine::CommitNotice notice) {
      if (inside.fetch_add(1) != 0) overlapped = true;
      {
        std::lock_guard lock(mu);
        if (notice.last_offset <= last_notified) notices_in_order = false;
        last_notified = notice.last_offset;
        for (const auto& e : notice.events) {
          if (e.offset > notice.last_offset) notices_in_order = false;
          offsets.push_back(e.offset);
          transitions.push_back(e.instance_id + ":" + e.from_state + ">" + e.to_state + " " +
                                std::string(e.payload()));
          // The ranges point into the entry text.
          CHECK(json::parse(e.ctx()).is_object());
          CHECK(json::parse(e.entry_json).as_object().at("ctx") == json::parse(e.ctx()));
        }
      }
      inside.fetch_sub(1);
    });
    put_cycle(eng);
    create(eng, "a");
    create(eng, "b");
    // Four submitting threads, 100 events each, alternating between the two instances.
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] { apply_many(eng, t % 2 == 0 ? "a" : "b", 100); });
    }
    for (auto& w : writers)
      w.join();
    // A failed event is not published.
    engine::ApplyEvent bad = go("a");
    bad.event = "NOPE";
    error(wait([&](auto cb) { eng.apply_event(bad, cb); }));
    auto last = ok(wait([&](auto cb) {
      auto a = go("a");
      a.payload = json::parse(R"({"n":1})").as_object();
      eng.apply_event(a, cb);
    }));

    std::lock_guard lock(mu);
    CHECK_FALSE(overlapped.load());
    CHECK(notices_in_order);
    // Every commit is announced, the ones without events too (the machine and the creates).
    CHECK(last_notified == eng.latest_offset());
    REQUIRE(offsets.size() == 401);
    // Offsets 1..3 are the machine and the two creations; events follow without gaps.
    for (std::size_t i = 0; i < offsets.size(); ++i)
      CHECK(offsets[i] == 4 + i);
    CHECK(offsets.back() == last.at("wal_offset").to_number<std::uint64_t>());
    CHECK(transitions.back() == "a:a>b {\"n\":1}");
  }
}

TEST_CASE("COMPACT force_snapshot snapshots in small sequenced jobs, each changed instance once") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, with_policy(config::FsyncPolicy::Kind::Never));
  put_cycle(eng);
  constexpr int kInstances = 3000;
  submit_many(kInstances, [&](int i, engine::ResultCallback done) {
    eng.create_instance(new_instance("snap-" + std::to_string(i)), std::move(done));
  });
  ok(wait([&](auto cb) { eng.delete_instance({"snap-7", std::nullopt}, cb); }));
  const auto commits_before = eng.io_stats().commits;
  auto r = ok(wait([&](auto cb) { eng.compact({true}, cb); }));
  CHECK(r.at("snapshots_created").to_number<int>() == kInstances - 1);
  CHECK(r.at("total_snapshots").to_number<int>() == kInstances - 1);
  // One job per chunk, not one group holding every snapshot.
  const auto chunks = (kInstances + engine::Maintenance::kSnapshotChunkInstances - 1) /
                      engine::Maintenance::kSnapshotChunkInstances;
  CHECK(eng.io_stats().commits - commits_before >= chunks);
  // Nothing changed since: nothing to do. One change: one snapshot.
  CHECK(ok(wait([&](auto cb) { eng.compact({true}, cb); })).at("snapshots_created").to_number<int>() == 0);
  ok(wait([&](auto cb) { eng.apply_event(go("snap-42"), cb); }));
  CHECK(ok(wait([&](auto cb) { eng.compact({true}, cb); })).at("snapshots_created").to_number<int>() == 1);
}
