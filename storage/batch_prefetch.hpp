// Before a WriteBatch is applied: lists its keys per column family and has the ordered
// memtable warm the lines their inserts will read (ActiveTableRegistry::prefetch_inserts,
// storage/ordered_memtable.hpp), so a batch's cache misses overlap instead of coming one insert
// at a time. Only a hint: what the batch writes is unchanged.
//
// Thread: the Store's writer, under its write lock (the pass reads the tables' writer-only
// state, so no insert may run meanwhile). Not thread-safe.
#pragma once

#include "storage/ordered_memtable.hpp"

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace rocksdb {
class WriteBatch;
}  // namespace rocksdb

namespace rstmdb::storage {

class BatchPrefetch {
 public:
  // `appended_cf`: a column family whose keys arrive in order (the change log): its inserts
  // append after the last node and need no warming, so its keys are skipped.
  BatchPrefetch(std::shared_ptr<const OrderedMemTableFactory> tables, std::uint32_t appended_cf)
      : tables_(std::move(tables)), appended_cf_(appended_cf) {}

  void run(const rocksdb::WriteBatch& batch);

 private:
  std::shared_ptr<const OrderedMemTableFactory> tables_;
  std::uint32_t appended_cf_;
  std::vector<std::vector<std::string_view>> keys_;  // by column family id; reused
};

}  // namespace rstmdb::storage
