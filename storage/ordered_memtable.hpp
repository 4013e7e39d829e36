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
// ~20. Those misses still came one after another: so before a batch is written, a prefetch
// pass (ActiveTableRegistry::prefetch_inserts, run by storage/batch_prefetch.hpp from Store::write) walks
// every key's path — finger slot, newest node and the walk back, or the search from the head for a new key —
// for all the batch's keys of a table together, one dependent load per key per round, so their misses overlap
// and Insert then finds its lines cached (perf, non-durable APPLY_EVENT at 4 x 16: Insert 31.6% -> 8.3% of
// the writer's thread, the pass 11.5%). Memory is reported through ApproximateMemoryUsage (node bytes and the
// finger table), so write_buffer_size bounds each table; RocksDB's write-buffer manager does not see it.
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
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "storage/memtable_block_pool.hpp"

namespace rstmdb::storage {

// The active (newest) ordered table of each column family, for a batch's prefetch pass. A
// table is made active when RocksDB creates it (the column family's next memtable) and
// forgotten when it is destroyed; the pass runs under the registry's lock, so a table a
// flush frees meanwhile waits for the pass to end.
//
// Contract: prefetch_inserts only reads the table, but it reads writer-only state, so the
// caller must be the DB's only writer while it runs (Store::write holds its write lock over
// the pass and DB::Write). Thread-safe otherwise.
class ActiveTableRegistry {
 public:
  void make_active(std::uint32_t column_family, rocksdb::MemTableRep* table);
  void forget(std::uint32_t column_family, const rocksdb::MemTableRep* table);
  // Warms the cache lines that inserting new versions of `user_keys` into the column
  // family's active table will read (its finger slots and nodes); no effect on the table.
  void prefetch_inserts(std::uint32_t column_family, std::span<const std::string_view> user_keys) const;
  // The column family's active table, or null (tests, diagnostics).
  const rocksdb::MemTableRep* active(std::uint32_t column_family) const;

 private:
  mutable std::mutex mutex_;
  std::vector<rocksdb::MemTableRep*> active_;  // by column family id; null: none (yet)
};

class OrderedMemTableFactory final : public rocksdb::MemTableRepFactory {
 public:
  // The tables it makes share one block pool that keeps up to `pooled_block_limit` freed
  // node blocks for reuse (storage/memtable_block_pool.hpp); 0 frees every block with its
  // table.
  explicit OrderedMemTableFactory(std::size_t pooled_block_limit = 0)
      : pool_(std::make_shared<MemtableBlockPool>(pooled_block_limit)) {}

  static const char* kClassName() { return "RstmdbOrderedMemTable"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& cmp,
                                          rocksdb::Allocator* allocator, const rocksdb::SliceTransform*,
                                          rocksdb::Logger*) override;
  // What RocksDB's MemTable calls: the table is also made its column family's active one.
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& cmp,
                                          rocksdb::Allocator* allocator, const rocksdb::SliceTransform*,
                                          rocksdb::Logger*, std::uint32_t column_family_id) override;

  // Refuses a column family whose comparator is not the bytewise one. RocksDB calls this for
  // every column family descriptor at DB::Open, before any memtable exists.
  rocksdb::Status ValidateOptions(const rocksdb::DBOptions& db_options,
                                  const rocksdb::ColumnFamilyOptions& cf_options) const override;

  bool IsInsertConcurrentlySupported() const override { return false; }
  bool CanHandleDuplicatedKey() const override { return false; }

  MemtableBlockPool::Stats block_pool_stats() const { return pool_->stats(); }
  // The active tables of this factory's column families (see ActiveTableRegistry).
  const ActiveTableRegistry& active_tables() const { return *registry_; }

 private:
  std::shared_ptr<MemtableBlockPool> pool_;
  std::shared_ptr<ActiveTableRegistry> registry_ = std::make_shared<ActiveTableRegistry>();
};

}  // namespace rstmdb::storage
