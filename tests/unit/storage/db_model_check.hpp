// Checks a RocksDB database against a std::map model of what it should hold: a forward and a
// backward walk of the whole key space, then every model key by Seek and by Get (these walk
// the upper levels of a skip list). Catch2 REQUIREs; any thread that may REQUIRE.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>

// The whole column family (the default one unless given; as of `snapshot`, if given) must
// equal `model`.
inline void check_db_against_model(rocksdb::DB& db, const std::map<std::string, std::string>& model,
                                   const rocksdb::Snapshot* snapshot = nullptr,
                                   rocksdb::ColumnFamilyHandle* cf = nullptr) {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  if (cf == nullptr) cf = db.DefaultColumnFamily();
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(ro, cf));
  auto m = model.begin();
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++m) {
    REQUIRE(m != model.end());
    REQUIRE(it->key().ToString() == m->first);
    REQUIRE(it->value().ToString() == m->second);
  }
  REQUIRE(it->status().ok());
  REQUIRE(m == model.end());
  auto r = model.rbegin();
  for (it->SeekToLast(); it->Valid(); it->Prev(), ++r) {
    REQUIRE(r != model.rend());
    REQUIRE(it->key().ToString() == r->first);
  }
  REQUIRE(it->status().ok());
  REQUIRE(r == model.rend());
  for (const auto& [k, v] : model) {
    it->Seek(k);
    REQUIRE(it->Valid());
    REQUIRE(it->key().ToString() == k);
    std::string got;
    REQUIRE(db.Get(ro, cf, k, &got).ok());
    REQUIRE(got == v);
  }
}
