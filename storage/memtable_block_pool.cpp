#include "storage/memtable_block_pool.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace rstmdb::storage {

MemtableBlockPool::MemtableBlockPool(std::size_t max_pooled_blocks) : max_pooled_blocks_(max_pooled_blocks) {
  pooled_.reserve(max_pooled_blocks);  // release() never allocates
}

MemtableBlockPool::~MemtableBlockPool() {
  for (char* block : pooled_)
    std::free(block);
}

char* MemtableBlockPool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!pooled_.empty()) {
      char* block = pooled_.back();
      pooled_.pop_back();
      ++reused_;
      return block;
    }
    ++fresh_;
  }
  void* block = std::aligned_alloc(kBlockBytes, kBlockBytes);
  if (block == nullptr) throw std::bad_alloc();
  ::madvise(block, kBlockBytes, MADV_HUGEPAGE);  // advisory: fine if THP is off
  return static_cast<char*>(block);
}

void MemtableBlockPool::release(char* block) noexcept {
  {
    std::lock_guard lock(mutex_);
    if (pooled_.size() < max_pooled_blocks_) {
      pooled_.push_back(block);
      return;
    }
  }
  std::free(block);
}

MemtableBlockPool::Stats MemtableBlockPool::stats() const {
  std::lock_guard lock(mutex_);
  return {pooled_.size(), fresh_, reused_};
}

}  // namespace rstmdb::storage
