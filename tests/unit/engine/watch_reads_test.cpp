// The engine's reads for the subscription hub: instance_position (WATCH_INSTANCE) and
// read_log (catch-up from the change log), against a real Store.
#include "engine/engine.hpp"
#include "storage/store.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <future>
#include <random>

namespace json = boost::json;
using namespace rstmdb;

namespace {

using rstmdb::test::TempDir;
// Each test's directory: a TempDir named rstmdb-watch-reads-test-*.
constexpr const char* kTempPrefix = "rstmdb-watch-reads-test";

std::unique_ptr<storage::Store> open_store(const TempDir& dir) {
  storage::StoreOptions options;
  options.data_dir = (dir.path() / "data").string();
  options.block_cache_mb = 8;
  auto opened = storage::Store::open(options);
  REQUIRE(opened.store);
  return std::move(opened.store);
}

engine::Result wait(const std::function<void(engine::ResultCallback)>& submit) {
  std::promise<engine::Result> p;
  auto f = p.get_future();
  submit([&p](engine::Result r) { p.set_value(std::move(r)); });
  return f.get();
}

void ok(const engine::Result& r) {
  if (auto* e = std::get_if<protocol::Error>(&r)) FAIL("unexpected error: " << e->message);
}

struct Fixture {
  TempDir dir{kTempPrefix};
  std::unique_ptr<storage::Store> store = open_store(dir);
  std::unique_ptr<engine::Engine> eng;

  explicit Fixture(engine::EngineOptions options = {}) {
    eng = std::make_unique<engine::Engine>(*store, options);
    ok(wait([&](auto cb) {
      eng->put_machine({"m", 1, json::parse(R"({"states":["a","b"],"initial":"a","transitions":[
                            {"from":"a","event":"GO","to":"b"},{"from":"b","event":"GO","to":"a"}]})"),
                        std::nullopt},
                       cb);
    }));
  }
  void create(const std::string& id) {
    engine::CreateInstance c;
    c.instance_id = id;
    c.machine = "m";
    c.version = 1;
    ok(wait([&](auto cb) { eng->create_instance(c, cb); }));
  }
  void go(const std::string& id) {
    engine::ApplyEvent a;
    a.instance_id = id;
    a.event = "GO";
    ok(wait([&](auto cb) { eng->apply_event(a, cb); }));
  }
  std::vector<std::uint64_t> offsets(std::uint64_t from, std::uint64_t through,
                                     std::size_t stop_after = 1000) {
    std::vector<std::uint64_t> out;
    auto error = eng->read_log(from, through, [&](std::uint64_t offset, std::string_view entry) {
      CHECK(entry.substr(0, 9) == R"({"type":")");
      out.push_back(offset);
      return out.size() < stop_after;
    });
    CHECK_FALSE(error);
    return out;
  }
};

}  // namespace

TEST_CASE("instance_position reports state and last offset, and not-found for deleted ids", "[watch]") {
  Fixture f;
  f.create("i");  // offset 2
  f.go("i");      // 3
  auto pos = f.eng->instance_position({"i"});
  REQUIRE(std::holds_alternative<engine::InstancePosition>(pos));
  CHECK(std::get<engine::InstancePosition>(pos).state == "b");
  CHECK(std::get<engine::InstancePosition>(pos).last_wal_offset == 3);

  auto missing = f.eng->instance_position({"nope"});
  REQUIRE(std::holds_alternative<protocol::Error>(missing));
  CHECK(std::get<protocol::Error>(missing).code == protocol::ErrorCode::InstanceNotFound);

  ok(wait([&](auto cb) { f.eng->delete_instance({"i", std::nullopt}, cb); }));
  auto deleted = f.eng->instance_position({"i"});
  REQUIRE(std::holds_alternative<protocol::Error>(deleted));
  CHECK(std::get<protocol::Error>(deleted).code == protocol::ErrorCode::InstanceNotFound);
}

TEST_CASE("read_log visits [from, through] in order, stops when asked, never past the latest", "[watch]") {
  Fixture f;
  f.create("i");
  for (int k = 0; k < 8; ++k)
    f.go("i");  // offsets 3..10
  REQUIRE(f.eng->latest_offset() == 10);
  CHECK(f.offsets(1, 10) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(f.offsets(4, 6) == std::vector<std::uint64_t>{4, 5, 6});
  CHECK(f.offsets(4, 100) == std::vector<std::uint64_t>{4, 5, 6, 7, 8, 9, 10});
  CHECK(f.offsets(4, 10, 2) == std::vector<std::uint64_t>{4, 5});
  CHECK(f.offsets(11, 20).empty());
  CHECK(f.offsets(7, 6).empty());
  const auto before = f.eng->io_stats();
  f.offsets(1, 10);
  CHECK(f.eng->io_stats().reads - before.reads == 10);
}

TEST_CASE("read_log shows a trimmed prefix as absent: the first offset seen is the oldest", "[watch]") {
  engine::EngineOptions options;
  options.compaction.enabled = false;
  options.compaction.retain_entries = 3;
  options.compaction.retain_secs = 0;
  Fixture f(options);
  f.create("i");
  for (int k = 0; k < 8; ++k)
    f.go("i");
  ok(wait([&](auto cb) { f.eng->compact({false}, cb); }));
  const std::uint64_t oldest = f.eng->oldest_offset();
  REQUIRE(oldest > 1);
  const auto seen = f.offsets(1, 10);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.front() == oldest);
  CHECK(seen.back() == 10);
}
