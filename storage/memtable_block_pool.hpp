// Recycles the ordered memtable's node blocks across memtables.
//
// Why: a memtable's 2 MiB blocks are freed when the table is flushed, and the allocator
// hands them back to the kernel; every block of the next table is then fresh memory whose
// first touch makes the kernel zero a huge page on the writer's thread (perf, non-durable
// APPLY_EVENT 4 x 16: clear_page_erms was 16% of the sequencer). Blocks kept here are
// reused as they are: a memtable writes every byte of a node before publishing it, so a
// block need not be zeroed.
//
// Bound: at most `max_pooled_blocks` blocks are kept (the Store passes its write-buffer
// budget, storage.wal_segment_size_mb, in blocks); a release beyond that frees the block.
// So the memory held is at most the memtables' own peak plus that budget.
//
// Threads: every member is thread-safe (a memtable is created on the writer's thread and
// destroyed on whichever thread drops its last reference, a flush thread included). The
// pool must outlive every block it handed out; memtables hold it by shared_ptr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace rstmdb::storage {

class MemtableBlockPool {
 public:
  static constexpr std::size_t kBlockBytes = std::size_t{2} << 20;

  explicit MemtableBlockPool(std::size_t max_pooled_blocks);
  ~MemtableBlockPool();
  MemtableBlockPool(const MemtableBlockPool&) = delete;
  MemtableBlockPool& operator=(const MemtableBlockPool&) = delete;

  // A block of kBlockBytes aligned to kBlockBytes: a pooled one if any (its old contents
  // left in place), else a fresh one advised for transparent huge pages. Throws
  // std::bad_alloc when the allocation fails.
  char* acquire();

  // Takes back a block from acquire(); keeps it for reuse if fewer than the limit are pooled,
  // otherwise frees it.
  void release(char* block) noexcept;

  struct Stats {
    std::size_t pooled = 0;    // blocks held now
    std::uint64_t fresh = 0;   // blocks allocated from the system so far
    std::uint64_t reused = 0;  // acquisitions served from the pool
  };
  Stats stats() const;

 private:
  const std::size_t max_pooled_blocks_;
  mutable std::mutex mutex_;
  std::vector<char*> pooled_;
  std::uint64_t fresh_ = 0;
  std::uint64_t reused_ = 0;
};

}  // namespace rstmdb::storage
