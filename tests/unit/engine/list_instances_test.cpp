// LIST_INSTANCES reads what its page needs (issue: bounded work). The cost is measured as the
// iterator seeks and steps RocksDB counts for the call (DB statistics: NUMBER_DB_SEEK +
// NUMBER_DB_NEXT), so the tests check the work done, not the time taken. (Deletion markers
// that RocksDB skips inside one step are not counted: they cost until compaction drops them,
// like in any LSM tree.)
#include "engine/engine.hpp"
#include "storage/memtable_kinds.hpp"
#include "storage/store.hpp"
#include "support/temp_dir.hpp"

#include <rocksdb/statistics.h>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <future>
#include <random>
#include <set>

namespace json = boost::json;
using namespace rstmdb;

namespace {

using rstmdb::test::TempDir;
// Each test's directory: a TempDir named rstmdb-list-test-*.
constexpr const char* kTempPrefix = "rstmdb-list-test";

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

// Machines m0..m2, each with states a/b; `live` instances spread over them, plus `dead`
// created and deleted again, all through atomic batches of 100.
void populate(engine::Engine& eng, int live, int dead) {
  for (int m = 0; m < 3; ++m) {
    auto def = json::parse(
        R"({"states":["a","b"],"initial":"a","transitions":[{"from":"a","event":"GO","to":"b"}]})");
    ok(wait([&](auto cb) { eng.put_machine({"m" + std::to_string(m), 1, def, std::nullopt}, cb); }));
  }
  auto run_batch = [&](std::vector<engine::BatchElement> elements) {
    engine::Batch b;
    b.atomic = true;
    b.elements = std::move(elements);
    ok(wait([&](auto cb) { eng.batch(std::move(b), cb); }));
  };
  std::vector<engine::BatchElement> elements;
  auto flush = [&] {
    if (!elements.empty()) run_batch(std::move(elements));
    elements.clear();
  };
  for (int i = 0; i < live + dead; ++i) {
    engine::CreateInstance c;
    // Deleted ones are named to sort first: a listing that walked tombstones would meet them all.
    char id[32];
    std::snprintf(id, sizeof id, i < live ? "inst-%06d" : "del-%06d", i);
    c.instance_id = id;
    c.machine = "m" + std::to_string(i % 3);
    c.version = 1;
    elements.push_back({"CREATE_INSTANCE", std::move(c)});
    if (i >= live) elements.push_back({"DELETE_INSTANCE", engine::DeleteInstance{id, std::nullopt}});
    if (elements.size() >= 99) flush();
  }
  flush();
}

struct Page {
  json::object result;
  std::uint64_t steps = 0;  // iterator seeks + nexts
};

// Made on first use: RocksDB's own static tables must exist first.
const std::shared_ptr<rocksdb::Statistics>& statistics() {
  static const auto s = rocksdb::CreateDBStatistics();
  return s;
}

std::uint64_t iterator_work() {
  return statistics()->getTickerCount(rocksdb::NUMBER_DB_SEEK) +
         statistics()->getTickerCount(rocksdb::NUMBER_DB_NEXT);
}

Page list(engine::Engine& eng, engine::ListInstances q) {
  const auto before = iterator_work();
  Page p;
  p.result = ok(eng.list_instances(q));
  p.steps = iterator_work() - before;
  return p;
}

std::vector<std::string> ids_of(const json::object& r) {
  std::vector<std::string> out;
  for (const auto& i : r.at("instances").as_array())
    out.emplace_back(i.at("id").as_string());
  return out;
}

std::unique_ptr<storage::Store> open_store(const TempDir& dir, storage::MemtableKind memtable) {
  storage::StoreOptions options;
  options.data_dir = (dir.path() / "data").string();
  options.memtable = memtable;
  options.block_cache_mb = 8;
  options.statistics = statistics();
  auto opened = storage::Store::open(options);
  REQUIRE(opened.store);
  return std::move(opened.store);
}

}  // namespace

TEST_CASE("LIST_INSTANCES: tombstones cost nothing and a page costs O(limit)", "[engine][list]") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, engine::EngineOptions{});
  // 2 000 tombstones: a listing that walked them would take ten times the bound below.
  populate(eng, 300, 2000);

  engine::ListInstances all;
  all.limit = 10;
  const Page first = list(eng, all);
  CHECK(first.result.at("total").to_number<std::uint64_t>() == 300);
  CHECK(ids_of(first.result).size() == 10);
  CHECK(ids_of(first.result).front() == "inst-000000");
  // A few index entries per machine range, not 2 000 tombstone records (the unfiltered
  // listing used to walk the instances column family, deleted instances included).
  CHECK(first.steps < 200);

  engine::ListInstances by_state;
  by_state.state = "a";
  by_state.limit = 10;
  CHECK(list(eng, by_state).steps < 200);
}

TEST_CASE("LIST_INSTANCES: cursors page through every match once, in id order, each page O(limit)",
          "[engine][list]") {
  const storage::MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir dir(kTempPrefix);
  auto store = open_store(dir, memtable);
  engine::Engine eng(*store, engine::EngineOptions{});
  populate(eng, 3000, 0);

  for (auto filter : {0, 1, 2}) {
    engine::ListInstances q;
    q.limit = 25;
    if (filter == 1) q.machine = "m1";
    if (filter == 2) q.state = "a";
    const std::uint64_t total = list(eng, q).result.at("total").to_number<std::uint64_t>();
    std::vector<std::string> seen;
    std::uint64_t worst_page_steps = 0;
    for (int page = 0; page < 1000; ++page) {
      const Page p = list(eng, q);
      const auto ids = ids_of(p.result);
      seen.insert(seen.end(), ids.begin(), ids.end());
      worst_page_steps = std::max(worst_page_steps, p.steps);
      if (!p.result.at("has_more").as_bool()) {
        CHECK_FALSE(p.result.contains("next_cursor"));
        break;
      }
      q.cursor = std::string(p.result.at("next_cursor").as_string());
    }
    CHECK(seen.size() == total);
    CHECK(std::is_sorted(seen.begin(), seen.end()));
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == seen.size());
    // The last page costs what the first does: a cursor resumes by seeking, never by skipping.
    CHECK(worst_page_steps < 300);
  }

  // An offset is still honoured (legacy), at the cost of what it skips.
  engine::ListInstances q;
  q.limit = 5;
  q.offset = 2000;
  const Page deep = list(eng, q);
  CHECK(ids_of(deep.result).front() == "inst-002000");
  CHECK(deep.steps > 2000);

  q.offset = 0;
  q.cursor = "not-a-cursor";
  auto r = eng.list_instances(q);
  REQUIRE(std::holds_alternative<protocol::Error>(r));
  CHECK(std::get<protocol::Error>(r).code == protocol::ErrorCode::BadRequest);
}
