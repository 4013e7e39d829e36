// Engine tests against a real Store in a temporary directory.
#include "engine/engine.hpp"
#include "protocol/json_text.hpp"
#include "storage/store.hpp"

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

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("rstmdb-engine-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::unique_ptr<storage::Store> open_store(const TempDir& dir) {
  storage::StoreOptions options;
  options.data_dir = (dir.path / "data").string();
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

void create(engine::Engine& eng, const std::string& id) {
  engine::CreateInstance c;
  c.instance_id = id;
  c.machine = "m";
  c.version = 1;
  ok(wait([&](auto cb) { eng.create_instance(c, cb); }));
}

engine::ApplyEvent go(const std::string& id) {
  engine::ApplyEvent a;
  a.instance_id = id;
  a.event = "GO";
  return a;
}

}  // namespace

TEST_CASE("group commit shares syncs between concurrent writes and keeps offsets gap-free") {
  TempDir dir;
  auto store = open_store(dir);
  engine::Engine eng(*store, engine::EngineOptions{});
  put_cycle(eng);
  create(eng, "i");
  const auto before = eng.io_stats();

  constexpr int kWrites = 500;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  std::vector<std::uint64_t> offsets;
  for (int i = 0; i < kWrites; ++i) {
    eng.apply_event(go("i"), [&](engine::Result r) {
      auto o = ok(r);
      std::lock_guard lock(mu);
      offsets.push_back(o.at("wal_offset").to_number<std::uint64_t>());
      ++done;
      cv.notify_one();
    });
  }
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == kWrites; }));
  }
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

TEST_CASE("atomic batch commits all or nothing") {
  TempDir dir;
  auto store = open_store(dir);
  engine::Engine eng(*store, engine::EngineOptions{});
  put_cycle(eng);
  const auto latest = eng.latest_offset();

  engine::Batch b;
  b.atomic = true;
  engine::CreateInstance c;
  c.instance_id = "x";
  c.machine = "m";
  c.version = 1;
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
  TempDir dir;
  std::string first_result;
  {
    auto store = open_store(dir);
    engine::Engine eng(*store, engine::EngineOptions{});
    put_cycle(eng);
    create(eng, "p");
    auto a = go("p");
    a.idempotency_key = "k1";
    first_result = protocol::to_json(ok(wait([&](auto cb) { eng.apply_event(a, cb); })));
    CHECK(eng.latest_offset() == 3);
  }
  auto store = open_store(dir);
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

TEST_CASE("guards see the pre-merge ctx; failures change nothing") {
  TempDir dir;
  auto store = open_store(dir);
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
