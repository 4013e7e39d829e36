// A RocksDB memtable representation: a skip list with one writer and lock-free readers.
//
// Why our own: Debian's librocksdb is built with assertions enabled, and its skip list
// checks the ordering of every node it passes on insert, tripling the key comparisons on the
// write path (perf: more than half of a group commit's CPU). This one compares internal keys
// inline (bytewise user keys, then sequence/type descending), appends in O(1) when keys
// arrive in order (the change log's offsets), and keeps its nodes in 2 MiB blocks advised for
// transparent huge pages (a random insert is a chain of cache misses; this removes most of
// the TLB misses on top), recycled from table to table (storage/memtable_block_pool.hpp). A new version of a
// user key the table already holds is linked from that key's newest node (storage/finger_table.hpp, plus
// writer-only level-0 back links) instead of being searched for from the head: ~3 cache misses instead of
// ~20. Memory is reported through ApproximateMemoryUsage (node bytes and the finger table), so
// write_buffer_size bounds each table; RocksDB's write-buffer manager does not see it.
//
// Contract (MemTableRep): Insert is called by one thread at a time (the DB is opened with
// allow_concurrent_memtable_write = false); Get, Contains and iterators may run on any thread
// concurrently with an insert. A node is fully written before it is published with a release
// store, and readers follow links with acquire loads.
//
// The order is checked, not assumed (key_order_check.hpp): DB::Open refuses a column family
// whose comparator is not RocksDB's bytewise one (ValidateOptions, InvalidArgument), and the
// comparator RocksDB hands to CreateMemTableRep must order the probe internal keys as ours
// does, or the process aborts (there is no error path out of CreateMemTableRep; it is reached
// without ValidateOptions only through DB::CreateColumnFamily, which the Store never calls).
#pragma once

#include <rocksdb/memtablerep.h>
#include <rocksdb/status.h>

#include <cstddef>
#include <memory>

#include "storage/memtable_block_pool.hpp"

namespace rstmdb::storage {

class OrderedMemTableFactory final : public rocksdb::MemTableRepFactory {
 public:
  // The tables it makes share one block pool that keeps up to `pooled_block_limit` freed
  // node blocks for reuse (storage/memtable_block_pool.hpp); 0 frees every block with its
  // table.
  explicit OrderedMemTableFactory(std::size_t pooled_block_limit = 0)
      : pool_(std::make_shared<MemtableBlockPool>(pooled_block_limit)) {}

  static const char* kClassName() { return "RstmdbOrderedMemTable"; }
  const char* Name() const override { return kClassName(); }

  using rocksdb::MemTableRepFactory::CreateMemTableRep;
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& cmp,
                                          rocksdb::Allocator* allocator, const rocksdb::SliceTransform*,
                                          rocksdb::Logger*) override;

  // Refuses a column family whose comparator is not the bytewise one. RocksDB calls this for
  // every column family descriptor at DB::Open, before any memtable exists.
  rocksdb::Status ValidateOptions(const rocksdb::DBOptions& db_options,
                                  const rocksdb::ColumnFamilyOptions& cf_options) const override;

  bool IsInsertConcurrentlySupported() const override { return false; }
  bool CanHandleDuplicatedKey() const override { return false; }

  MemtableBlockPool::Stats block_pool_stats() const { return pool_->stats(); }

 private:
  std::shared_ptr<MemtableBlockPool> pool_;
};

}  // namespace rstmdb::storage
