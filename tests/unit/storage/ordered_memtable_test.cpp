// The ordered memtable under a real RocksDB: random writes checked against std::map through
// every iterator movement and point lookups, with concurrent readers, before and after flushes.
#include "storage/ordered_memtable.hpp"
#include "storage/db_model_check.hpp"
#include "support/temp_dir.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>

namespace {

using rstmdb::test::TempDir;
// Each test's directory: a TempDir named rstmdb-memtable-test-*.
constexpr const char* kTempPrefix = "rstmdb-memtable-test";

std::unique_ptr<rocksdb::DB> open_db(const TempDir& dir) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.allow_concurrent_memtable_write = false;
  o.memtable_factory = std::make_shared<rstmdb::storage::OrderedMemTableFactory>();
  o.write_buffer_size = 256 * 1024;  // small: flushes happen during the test
  rocksdb::DB* raw = nullptr;
  const auto s = rocksdb::DB::Open(o, (dir.path() / "db").string(), &raw);
  REQUIRE(s.ok());
  return std::unique_ptr<rocksdb::DB>(raw);
}

std::string key_of(std::uint32_t n) {
  // Variable length keys with shared prefixes, so ordering is by bytes, not length.
  std::string k = "k" + std::to_string(n % 7);
  k += std::string(n % 3, 'x');
  k += std::to_string(n);
  return k;
}

// Stages a put, or with no value a delete, in the batch and in the model alike.
void stage(rocksdb::WriteBatch& batch, std::map<std::string, std::string>& model, const std::string& k,
           const std::optional<std::string>& v) {
  if (v) {
    batch.Put(k, *v);
    model[k] = *v;
  } else {
    batch.Delete(k);
    model.erase(k);
  }
}

}  // namespace

TEST_CASE("ordered memtable: random puts and deletes read back like a sorted map") {
  TempDir dir(kTempPrefix);
  auto db = open_db(dir);
  std::map<std::string, std::string> model;
  std::mt19937 rng(12345);
  // Older versions stay readable at a snapshot: every version of a key sits in sequence
  // order, whichever path (search from the head, or from the key's newest node) placed it.
  const rocksdb::Snapshot* snapshot = nullptr;
  std::map<std::string, std::string> model_at_snapshot;
  for (int round = 0; round < 20; ++round) {
    if (round == 10) {
      snapshot = db->GetSnapshot();
      model_at_snapshot = model;
    }
    rocksdb::WriteBatch batch;
    for (int i = 0; i < 500; ++i) {
      const std::string k = key_of(rng() % 3000);
      if (rng() % 4 == 0) {
        stage(batch, model, k, std::nullopt);
      } else {
        stage(batch, model, k,
              "v" + std::to_string(round) + "-" + std::to_string(i) + std::string(rng() % 200, 'p'));
      }
    }
    // In-order appends too (the change log's pattern).
    for (int i = 0; i < 50; ++i) {
      char k[32];
      std::snprintf(k, sizeof k, "z%08d", round * 50 + i);
      stage(batch, model, k, "log");
    }
    REQUIRE(db->Write(rocksdb::WriteOptions(), &batch).ok());
    if (round % 5 == 4) check_db_against_model(*db, model);
  }
  check_db_against_model(*db, model);
  check_db_against_model(*db, model_at_snapshot, snapshot);
  db->ReleaseSnapshot(snapshot);

  // Point lookups, present and absent, and Seek / SeekForPrev between keys.
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (std::uint32_t n = 0; n < 3000; n += 7) {
    const std::string k = key_of(n);
    std::string v;
    const auto s = db->Get(rocksdb::ReadOptions(), k, &v);
    auto found = model.find(k);
    if (found == model.end()) {
      CHECK(s.IsNotFound());
    } else {
      REQUIRE(s.ok());
      CHECK(v == found->second);
    }
    const std::string probe = k + "!";
    it->Seek(probe);
    auto lb = model.lower_bound(probe);
    CHECK(it->Valid() == (lb != model.end()));
    if (it->Valid()) CHECK(it->key().ToString() == lb->first);
    it->SeekForPrev(probe);
    auto ub = model.upper_bound(probe);
    CHECK(it->Valid() == (ub != model.begin()));
    if (it->Valid()) CHECK(it->key().ToString() == std::prev(ub)->first);
  }
}

TEST_CASE("ordered memtable: readers see consistent data while one writer inserts") {
  TempDir dir(kTempPrefix);
  auto db = open_db(dir);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<long> scans{0};
  // Keys are written once each with a value equal to the key: a reader can check every entry
  // it sees and that keys only increase along an iteration.
  std::thread reader([&] {
    while (!stop.load()) {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
      std::string last;
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const std::string k = it->key().ToString();
        if (k <= last || it->value().ToString() != k) ++bad;
        last = k;
      }
      ++scans;
    }
  });
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    rocksdb::WriteBatch batch;
    for (int i = 0; i < 50; ++i) {
      const std::string k = key_of(rng());
      batch.Put(k, k);
    }
    REQUIRE(db->Write(rocksdb::WriteOptions(), &batch).ok());
  }
  stop = true;
  reader.join();
  CHECK(bad.load() == 0);
  CHECK(scans.load() > 0);
}

TEST_CASE("ordered memtable: sorted batches interleaved with random ones") {
  TempDir dir(kTempPrefix);
  auto db = open_db(dir);
  std::map<std::string, std::string> model;
  std::mt19937 rng(99);
  for (int round = 0; round < 40; ++round) {
    // Half the rounds write their keys in ascending order; the keys land all over the
    // existing list, so consecutive inserts are near each other but never adjacent.
    std::vector<std::string> keys;
    for (int i = 0; i < 300; ++i)
      keys.push_back(key_of(rng() % 20000));
    if (round % 2 == 0) std::sort(keys.begin(), keys.end());
    rocksdb::WriteBatch batch;
    for (const auto& k : keys) {
      if (rng() % 5 == 0) {
        stage(batch, model, k, std::nullopt);
      } else {
        stage(batch, model, k, k + "@" + std::to_string(round));
      }
    }
    REQUIRE(db->Write(rocksdb::WriteOptions(), &batch).ok());
    if (round % 8 == 7) check_db_against_model(*db, model);
  }
  check_db_against_model(*db, model);
}
