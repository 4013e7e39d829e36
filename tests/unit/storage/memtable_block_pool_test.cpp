// The memtable block pool alone, and under a real RocksDB: tables made after a flush reuse the
// blocks the flushed tables gave back (left unzeroed), and every key still reads back.
#include "storage/memtable_block_pool.hpp"
#include "storage/db_model_check.hpp"
#include "storage/ordered_memtable.hpp"
#include "support/temp_dir.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>

namespace {

using rstmdb::storage::MemtableBlockPool;
using rstmdb::storage::OrderedMemTableFactory;

bool aligned(const char* p) {
  return reinterpret_cast<std::uintptr_t>(p) % MemtableBlockPool::kBlockBytes == 0;
}

TEST_CASE("a released block is handed out again, up to the pool's limit") {
  MemtableBlockPool pool(1);
  char* a = pool.acquire();
  char* b = pool.acquire();
  REQUIRE(a != b);
  CHECK(aligned(a));
  CHECK(aligned(b));
  std::memset(a, 0x5a, MemtableBlockPool::kBlockBytes);  // the whole block is writable
  pool.release(a);
  pool.release(b);  // over the limit of 1: freed
  auto s = pool.stats();
  CHECK(s.pooled == 1);
  CHECK(s.fresh == 2);
  CHECK(s.reused == 0);

  char* again = pool.acquire();
  CHECK(again == a);
  CHECK(static_cast<unsigned char>(again[MemtableBlockPool::kBlockBytes - 1]) == 0x5a);  // not zeroed
  s = pool.stats();
  CHECK(s.pooled == 0);
  CHECK(s.reused == 1);
  pool.release(again);
}

TEST_CASE("a pool with limit 0 keeps nothing") {
  MemtableBlockPool pool(0);
  pool.release(pool.acquire());
  pool.release(pool.acquire());
  const auto s = pool.stats();
  CHECK(s.pooled == 0);
  CHECK(s.fresh == 2);
  CHECK(s.reused == 0);
}

TEST_CASE("memtables made after flushes reuse pooled blocks and every key reads back") {
  rstmdb::test::TempDir dir("rstmdb-block-pool-test");
  const auto factory = std::make_shared<OrderedMemTableFactory>(4);
  rocksdb::Options o;
  o.create_if_missing = true;
  o.allow_concurrent_memtable_write = false;
  o.memtable_factory = factory;
  o.write_buffer_size = 256 * 1024;  // each table fills part of one 2 MiB block
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(o, (dir.path() / "db").string(), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);

  std::map<std::string, std::string> model;
  std::mt19937 rng(7);
  constexpr int kRounds = 6;
  constexpr int kKeysPerRound = 2000;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kKeysPerRound; ++i) {
      const std::string key = "k" + std::to_string(rng() % 5000);
      const std::string value = std::to_string(round) + ":" + std::string(rng() % 64, 'v');
      REQUIRE(db->Put(rocksdb::WriteOptions(), key, value).ok());
      model[key] = value;
    }
    REQUIRE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  // Unflushed writes in a table built on a reused block.
  for (int i = 0; i < kKeysPerRound; ++i) {
    const std::string key = "k" + std::to_string(rng() % 5000);
    REQUIRE(db->Put(rocksdb::WriteOptions(), key, "last").ok());
    model[key] = "last";
  }
  const auto s = factory->block_pool_stats();
  CHECK(s.reused >= kRounds - 1);
  CHECK(s.fresh <= 3);  // the first table, and at most two alive at once while flushing

  check_db_against_model(*db, model);
}

}  // namespace
