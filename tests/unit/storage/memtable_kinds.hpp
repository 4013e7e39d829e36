// Test cases that run once per memtable representation (storage.memtable):
//
//   const MemtableKind memtable = GENERATE(each_memtable());
//   CAPTURE(memtable);  // failures name the memtable
#pragma once

#include "storage/store.hpp"

#include <catch2/catch.hpp>

#include <string>

inline Catch::Generators::GeneratorWrapper<rstmdb::storage::MemtableKind> each_memtable() {
  return Catch::Generators::values(
      {rstmdb::storage::MemtableKind::Ordered, rstmdb::storage::MemtableKind::SkipList});
}

namespace Catch {
template <>
struct StringMaker<rstmdb::storage::MemtableKind> {
  static std::string convert(rstmdb::storage::MemtableKind kind) {
    return kind == rstmdb::storage::MemtableKind::Ordered ? "ordered" : "skiplist";
  }
};
}  // namespace Catch
