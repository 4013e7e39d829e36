// The ordered memtable's prefetch pass (ActiveTableRegistry): the factory tracks each column
// family's active table across flushes and close, and passes run before every write — over
// new keys, new versions of held keys and deletes, with flushes freeing tables meanwhile —
// leave every table reading back like the model.
#include "storage/db_model_check.hpp"
#include "storage/ordered_memtable.hpp"
#include "support/temp_dir.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using rstmdb::storage::OrderedMemTableFactory;
using rstmdb::test::TempDir;

struct Db {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // default, "second"
  ~Db() {
    for (auto* h : handles)
      db->DestroyColumnFamilyHandle(h);
  }
};

std::unique_ptr<Db> open_db(const TempDir& dir, const std::shared_ptr<OrderedMemTableFactory>& factory) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  o.allow_concurrent_memtable_write = false;
  o.memtable_factory = factory;
  o.write_buffer_size = 256 * 1024;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs{{rocksdb::kDefaultColumnFamilyName, o}, {"second", o}};
  auto out = std::make_unique<Db>();
  rocksdb::DB* raw = nullptr;
  REQUIRE(
      rocksdb::DB::Open(rocksdb::DBOptions(o), (dir.path() / "db").string(), cfs, &out->handles, &raw).ok());
  out->db.reset(raw);
  return out;
}

// A random batch over `keys` keys in both column families, mirrored in the models; the
// keys of each column family are collected in batch order, as Store::write does.
rocksdb::WriteBatch random_batch(Db& d, std::mt19937& rng, int keys,
                                 std::map<std::string, std::string> (&models)[2],
                                 std::vector<std::string> (&batch_keys)[2]) {
  rocksdb::WriteBatch batch;
  const int n = 1 + static_cast<int>(rng() % 80);
  for (int i = 0; i < n; ++i) {
    const int cf = static_cast<int>(rng() % 2);
    const std::string k = "key-" + std::to_string(rng() % static_cast<unsigned>(keys));
    if (rng() % 5 == 0) {
      REQUIRE(batch.Delete(d.handles[cf], k).ok());
      models[cf].erase(k);
    } else {
      const std::string v = std::to_string(rng()) + std::string(rng() % 40, 'v');
      REQUIRE(batch.Put(d.handles[cf], k, v).ok());
      models[cf][k] = v;
    }
    batch_keys[cf].push_back(k);
  }
  return batch;
}

void prefetch(const OrderedMemTableFactory& factory, Db& d, const std::vector<std::string> (&batch_keys)[2]) {
  for (int cf = 0; cf < 2; ++cf) {
    const std::vector<std::string_view> views(batch_keys[cf].begin(), batch_keys[cf].end());
    factory.active_tables().prefetch_inserts(d.handles[cf]->GetID(), views);
  }
}

void check_models(Db& d, const std::map<std::string, std::string> (&models)[2]) {
  for (int cf = 0; cf < 2; ++cf)
    check_db_against_model(*d.db, models[cf], nullptr, d.handles[cf]);
}

}  // namespace

TEST_CASE("memtable prefetch: each column family's active table is tracked across flushes and close") {
  TempDir dir("rstmdb-memtable-prefetch-test");
  const auto factory = std::make_shared<OrderedMemTableFactory>();
  const auto& tables = factory->active_tables();
  {
    auto d = open_db(dir, factory);
    const std::uint32_t first = d->handles[0]->GetID();
    const std::uint32_t second = d->handles[1]->GetID();
    const auto* a = tables.active(first);
    const auto* b = tables.active(second);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(a != b);
    CHECK(tables.active(second + 100) == nullptr);
    REQUIRE(d->db->Put(rocksdb::WriteOptions(), d->handles[1], "k", "v").ok());
    REQUIRE(d->db->Flush(rocksdb::FlushOptions(), d->handles[1]).ok());
    // The flushed table was replaced before it was freed, so the new one is another object.
    CHECK(tables.active(second) != nullptr);
    CHECK(tables.active(second) != b);
    CHECK(tables.active(first) == a);
  }
  // Closing the DB destroyed every table; none is left registered.
  CHECK(tables.active(0) == nullptr);
  CHECK(tables.active(1) == nullptr);
}

TEST_CASE("memtable prefetch: passes before every write leave the tables reading back like the model") {
  TempDir dir("rstmdb-memtable-prefetch-test");
  const auto factory = std::make_shared<OrderedMemTableFactory>();
  auto d = open_db(dir, factory);
  std::map<std::string, std::string> models[2];
  std::mt19937 rng(11);
  // Few keys: long version chains behind each finger; many: mostly searches from the head.
  const int keys = GENERATE(40, 5000);
  CAPTURE(keys);
  for (int round = 0; round < 600; ++round) {
    std::vector<std::string> batch_keys[2];
    rocksdb::WriteBatch batch = random_batch(*d, rng, keys, models, batch_keys);
    prefetch(*factory, *d, batch_keys);
    REQUIRE(d->db->Write(rocksdb::WriteOptions(), &batch).ok());
    if (round % 150 == 149) check_models(*d, models);
  }
  check_models(*d, models);
}

TEST_CASE("memtable prefetch: flushes that free tables while a writer prefetches") {
  TempDir dir("rstmdb-memtable-prefetch-test");
  const auto factory = std::make_shared<OrderedMemTableFactory>();
  auto d = open_db(dir, factory);
  std::map<std::string, std::string> models[2];
  std::atomic<bool> stop{false};
  std::atomic<int> flush_failures{0};
  std::thread flusher([&] {
    while (!stop.load()) {
      if (!d->db->Flush(rocksdb::FlushOptions(), d->handles).ok()) ++flush_failures;
    }
  });
  std::mt19937 rng(5);
  for (int round = 0; round < 1500; ++round) {
    std::vector<std::string> batch_keys[2];
    rocksdb::WriteBatch batch = random_batch(*d, rng, 2000, models, batch_keys);
    prefetch(*factory, *d, batch_keys);
    REQUIRE(d->db->Write(rocksdb::WriteOptions(), &batch).ok());
  }
  stop = true;
  flusher.join();
  CHECK(flush_failures.load() == 0);
  check_models(*d, models);
}
