#include "storage/ordered_memtable.hpp"

#include "storage/finger_table.hpp"
#include "storage/key_order_check.hpp"

#include <rocksdb/options.h>
#include <rocksdb/slice.h>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace rstmdb::storage {

namespace {

static_assert(std::endian::native == std::endian::little, "internal key tags are decoded as little-endian");

constexpr int kMaxHeight = 12;
constexpr unsigned kBranching = 4;
// Node blocks are 2 MiB, aligned and advised for transparent huge pages: a skip-list search
// is a chain of cache misses across the whole memtable, and 4 KiB pages add a TLB miss to
// most of them.
constexpr std::size_t kBlockBytes = MemtableBlockPool::kBlockBytes;
// A walk back from a finger longer than this falls back to a search from the head (a node of
// height h is expected about 4^(h-1) nodes back; 24 covers heights 1-2, 94% of nodes).
constexpr int kMaxFingerSteps = 24;
// Keys whose loads a prefetch pass puts in flight at once (a core tracks a few dozen misses).
constexpr std::size_t kPrefetchChunk = 32;
// Steps a prefetch pass takes per chunk at most (a search from the head of a full table takes
// about 3 per level).
constexpr int kMaxPrefetchRounds = 64;
constexpr std::size_t kCacheLineBytes = 64;

// A memtable entry is varint32(internal key length), the internal key (user key, then an
// 8-byte little-endian tag = sequence << 8 | type), then the value; RocksDB writes it.
struct EntryKey {
  const char* user;
  std::size_t user_len;
  std::uint64_t tag;

  std::string_view user_key() const { return {user, user_len}; }
};

EntryKey from_internal(const char* p, std::size_t len) {
  std::uint64_t tag = 0;
  std::memcpy(&tag, p + len - 8, 8);
  return {p, len - 8, tag};
}

// Reads a varint32 of at most 5 bytes; returns the byte after it.
const char* read_varint32(const char* p, std::uint32_t& out) {
  out = 0;
  for (int shift = 0; shift <= 28; shift += 7) {
    const unsigned byte = static_cast<unsigned char>(*p++);
    out |= (byte & 0x7Fu) << shift;
    if ((byte & 0x80u) == 0) break;
  }
  return p;
}

EntryKey decode_entry(const char* entry) {
  std::uint32_t len = 0;
  const char* key = read_varint32(entry, len);
  return from_internal(key, len);
}

[[noreturn]] void fatal(const std::string& message) {
  std::fprintf(stderr, "rstmdbd: fatal: %s\n", message.c_str());
  std::abort();
}

// rocksdb::LookupKey is not in the installed headers; since LevelDB it has been three
// pointers (start, key start, end) over a length-prefixed internal key. The fields are
// checked against each other on every use, so a different layout aborts instead of
// misreading.
struct LookupKeyLayout {
  const char* start;
  const char* kstart;
  const char* end;
};

EntryKey lookup_target(const rocksdb::LookupKey& k) {
  const auto& l = reinterpret_cast<const LookupKeyLayout&>(k);
  std::uint32_t len = 0;
  const char* p = l.start != nullptr ? read_varint32(l.start, len) : nullptr;
  if (p == nullptr || p != l.kstart || l.end < l.kstart ||
      static_cast<std::size_t>(l.end - l.kstart) != len || len < 8) {
    fatal("rocksdb::LookupKey layout is not the one this build expects");
  }
  return from_internal(l.kstart, len);
}

// Internal key order: user key ascending (bytewise), then tag descending (newest first).
int compare(const EntryKey& a, const EntryKey& b) {
  const std::size_t n = std::min(a.user_len, b.user_len);
  if (const int r = std::memcmp(a.user, b.user, n); r != 0) return r;
  if (a.user_len != b.user_len) return a.user_len < b.user_len ? -1 : 1;
  if (a.tag != b.tag) return a.tag > b.tag ? -1 : 1;
  return 0;
}

struct alignas(8) Node {
  // The node before this one on level 0; maintained and read by the writer only.
  Node* prev0;
  std::int64_t height;
  // next[height] follow, then the entry bytes.
  std::atomic<Node*>* links() { return reinterpret_cast<std::atomic<Node*>*>(this + 1); }
  Node* next(int level) { return links()[level].load(std::memory_order_acquire); }
  Node* next_relaxed(int level) { return links()[level].load(std::memory_order_relaxed); }
  void set_next(int level, Node* n) { links()[level].store(n, std::memory_order_release); }
  const char* entry() { return reinterpret_cast<const char*>(links() + height); }
};

// A node's header, links and entry key: the lines an insert next to it reads (a node of
// height 1 with a 50-byte key spans up to three lines).
void prefetch_node(const Node* n) {
  const char* p = reinterpret_cast<const char*>(n);
  __builtin_prefetch(p);
  __builtin_prefetch(p + kCacheLineBytes);
  __builtin_prefetch(p + 2 * kCacheLineBytes);
}

// The skip list's next node height: 1, then each further level with probability
// 1/kBranching (xorshift64 on the table's generator).
int draw_height(std::uint64_t& rng) {
  int h = 1;
  while (h < kMaxHeight) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    if (rng % kBranching != 0) break;
    ++h;
  }
  return h;
}

// One key of a prefetch pass (OrderedMemTable::prefetch_inserts), one dependent load per
// step. level < 0: walking back on level 0 from the key's newest node until a node as tall
// as the new one (or the head); level >= 0: searching from the head, `next` being the node
// after `at` on `level` that was prefetched the step before. Done once `at` is null.
struct Walker {
  std::string_view key;
  Node* at;
  Node* next;
  int height;  // of the node the insert will allocate
  int level;
  int steps = 0;

  // Advances one load; false once done.
  bool step(Node* head) {
    if (at == nullptr) return false;
    if (level < 0) {
      // `at` (prefetched) is the newest node on the first step, then a candidate predecessor.
      if (steps > 0 && (at == head || at->height >= height)) return finish();
      if (++steps > kMaxFingerSteps) return finish();
      at = at->prev0;
      if (at == nullptr) return finish();
      prefetch_node(at);
      return true;
    }
    if (next == nullptr) {
      next = at->next_relaxed(level);
      if (next != nullptr) {
        prefetch_node(next);
        return true;
      }
    } else if (decode_entry(next->entry()).user_key() < key) {
      at = next;
      next = nullptr;
      return true;
    }
    next = nullptr;
    if (--level < 0) return finish();
    return true;
  }

 private:
  bool finish() {
    at = nullptr;
    return false;
  }
};

class OrderedMemTable final : public rocksdb::MemTableRep {
 public:
  OrderedMemTable(rocksdb::Allocator* allocator, std::shared_ptr<MemtableBlockPool> pool,
                  std::shared_ptr<ActiveTableRegistry> registry = nullptr, std::uint32_t column_family = 0)
      : MemTableRep(allocator),
        pool_(std::move(pool)),
        registry_(std::move(registry)),
        column_family_(column_family) {
    // The head is not counted: an empty memtable must report (nearly) no memory.
    head_storage_ = std::make_unique<char[]>(node_bytes(kMaxHeight, 0));
    head_ = init_node(head_storage_.get(), kMaxHeight);
    for (int i = 0; i < kMaxHeight; ++i) {
      head_->set_next(i, nullptr);
      tail_[i] = head_;
    }
  }

  ~OrderedMemTable() override {
    // Waits for a prefetch pass reading this table to end (ActiveTableRegistry).
    if (registry_) registry_->forget(column_family_, this);
    for (void* slot : iterator_slots_)
      ::operator delete(slot);
    for (char* block : pooled_blocks_)
      pool_->release(block);
  }

  rocksdb::KeyHandle Allocate(const std::size_t len, char** buf) override {
    Node* node = new_node(random_height(), len);
    *buf = const_cast<char*>(node->entry());
    return node;
  }

  void Insert(rocksdb::KeyHandle handle) override {
    Node* x = static_cast<Node*>(handle);
    const EntryKey key = decode_entry(x->entry());
    Node* prev[kMaxHeight];
    const int top = height_.load(std::memory_order_relaxed);
    Node* last = tail_[0];
    if (last != head_ && compare(decode_entry(last->entry()), key) < 0) {
      // In-order arrival (the change log): after the last node on every level. Such a key
      // has no older version here, so it needs no finger.
      std::copy(tail_, tail_ + kMaxHeight, prev);
    } else {
      const std::string_view user_key = key.user_key();
      Node** finger = fingers_.slot(user_key, std::hash<std::string_view>{}(user_key),
                                    [](Node* n) { return decode_entry(n->entry()).user_key(); });
      if (finger == nullptr || *finger == nullptr ||
          !predecessors_from_finger(key, *finger, static_cast<int>(x->height), prev)) {
        find_predecessors(key, prev, top);
      }
      if (finger != nullptr) *finger = x;
      publish_memory_usage();  // the finger table may have grown
    }
    for (int i = top; i < x->height; ++i)
      prev[i] = head_;
    if (x->height > top) height_.store(static_cast<int>(x->height), std::memory_order_relaxed);
    x->prev0 = prev[0];
    for (int i = 0; i < x->height; ++i) {
      Node* after = prev[i]->next_relaxed(i);
      x->links()[i].store(after, std::memory_order_relaxed);
      prev[i]->set_next(i, x);
      if (after == nullptr) {
        tail_[i] = x;
      } else if (i == 0) {
        after->prev0 = x;
      }
    }
  }

  // Warms the cache lines that inserting these user keys (in this order, one node each) will
  // read, so that Insert finds them cached instead of meeting one miss after another. For a
  // key the table holds, that is its finger slot, its newest node and the walk back from there
  // as far as the new node's height needs (the heights the next inserts will draw are known:
  // random_height's generator is replayed on a copy); for a new key, the search path from the
  // head. The keys of a chunk advance together, one dependent load per round each, so their
  // misses overlap. Read-only; on the writer's thread between inserts
  // (ActiveTableRegistry::prefetch_inserts).
  void prefetch_inserts(std::span<const std::string_view> user_keys) const {
    std::uint64_t rng = rng_;
    std::uint64_t hashes[kPrefetchChunk];
    Walker walkers[kPrefetchChunk];
    for (std::size_t base = 0; base < user_keys.size(); base += kPrefetchChunk) {
      const std::size_t n = std::min(kPrefetchChunk, user_keys.size() - base);
      for (std::size_t i = 0; i < n; ++i) {
        hashes[i] = std::hash<std::string_view>{}(user_keys[base + i]);
        fingers_.prefetch_slot(hashes[i]);
        walkers[i] = Walker{user_keys[base + i], nullptr, nullptr, draw_height(rng), 0};
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (Node* newest = fingers_.candidate(hashes[i])) {
          prefetch_node(newest);
          walkers[i].at = newest;  // first step: its prev0
          walkers[i].level = -1;
        } else {
          walkers[i].at = head_;
          walkers[i].level = height_.load(std::memory_order_relaxed) - 1;
        }
      }
      for (int round = 0; round < kMaxPrefetchRounds; ++round) {
        bool moving = false;
        for (std::size_t i = 0; i < n; ++i)
          moving = walkers[i].step(head_) || moving;
        if (!moving) break;
      }
    }
  }

  bool Contains(const char* entry) const override {
    const EntryKey key = decode_entry(entry);
    Node* n = seek(key);
    return n != nullptr && compare(decode_entry(n->entry()), key) == 0;
  }

  // Overridden because RocksDB 7.8's default Get never frees the iterator it makes.
  void Get(const rocksdb::LookupKey& k, void* callback_args,
           bool (*callback_func)(void* arg, const char* entry)) override {
    for (Node* n = seek(lookup_target(k)); n != nullptr && callback_func(callback_args, n->entry());
         n = n->next(0)) {
    }
  }

  std::size_t ApproximateMemoryUsage() override { return bytes_.load(std::memory_order_relaxed); }

  class Iter final : public rocksdb::MemTableRep::Iterator {
   public:
    Iter(const OrderedMemTable* table, bool pooled) : table_(table), pooled_(pooled) {}
    ~Iter() override {
      // An arena iterator is destroyed but never freed by RocksDB: its storage goes back to
      // the table for the next one.
      if (pooled_) const_cast<OrderedMemTable*>(table_)->release_iterator_slot(this);
    }
    bool Valid() const override { return node_ != nullptr; }
    const char* key() const override { return node_->entry(); }
    void Next() override { node_ = node_->next(0); }
    void Prev() override { node_ = table_->last_before(decode_entry(node_->entry())); }
    void Seek(const rocksdb::Slice& internal_key, const char* memtable_key) override {
      node_ = table_->seek(target(internal_key, memtable_key));
    }
    void SeekForPrev(const rocksdb::Slice& internal_key, const char* memtable_key) override {
      const EntryKey t = target(internal_key, memtable_key);
      node_ = table_->seek(t);
      if (node_ == nullptr) {
        SeekToLast();
      }
      while (node_ != nullptr && compare(decode_entry(node_->entry()), t) > 0)
        Prev();
    }
    void SeekToFirst() override { node_ = table_->head_->next(0); }
    void SeekToLast() override { node_ = table_->last(); }

   private:
    static EntryKey target(const rocksdb::Slice& internal_key, const char* memtable_key) {
      return memtable_key != nullptr ? decode_entry(memtable_key)
                                     : from_internal(internal_key.data(), internal_key.size());
    }
    const OrderedMemTable* table_;
    Node* node_ = nullptr;
    bool pooled_;
  };

  rocksdb::MemTableRep::Iterator* GetIterator(rocksdb::Arena* arena) override {
    if (arena == nullptr) return new Iter(this, false);
    return new (acquire_iterator_slot()) Iter(this, true);
  }

 private:
  friend class Iter;

  static std::size_t node_bytes(int height, std::size_t entry_len) {
    return (sizeof(Node) + sizeof(std::atomic<Node*>) * static_cast<std::size_t>(height) + entry_len + 7) &
           ~std::size_t{7};
  }

  Node* new_node(int height, std::size_t entry_len) {
    const std::size_t bytes = node_bytes(height, entry_len);
    node_bytes_ += bytes;
    publish_memory_usage();
    return init_node(allocate(bytes), height);
  }

  // What ApproximateMemoryUsage reports: node bytes plus the finger table. Writer-only.
  void publish_memory_usage() { bytes_.store(node_bytes_ + fingers_.bytes(), std::memory_order_relaxed); }

  static Node* init_node(char* p, int height) {
    Node* n = new (p) Node{nullptr, height};
    static_assert(sizeof(Node) % alignof(std::atomic<Node*>) == 0);
    for (int i = 0; i < height; ++i)
      new (&n->links()[i]) std::atomic<Node*>(nullptr);
    return n;
  }

  char* allocate(std::size_t bytes) {
    if (bytes > kBlockBytes / 4) {
      blocks_.push_back(Block(static_cast<char*>(std::malloc(bytes))));
      if (!blocks_.back()) throw std::bad_alloc();
      return blocks_.back().get();
    }
    if (bytes > block_left_) {
      pooled_blocks_.reserve(pooled_blocks_.size() + 1);  // so the block below cannot leak
      block_next_ = pool_->acquire();
      pooled_blocks_.push_back(block_next_);
      block_left_ = kBlockBytes;
    }
    char* p = block_next_;
    block_next_ += bytes;
    block_left_ -= bytes;
    return p;
  }

  // The writer is the only caller.
  int random_height() { return draw_height(rng_); }

  // prev[i] = the last node on level i whose key is < key, for every level below top.
  void find_predecessors(const EntryKey& key, Node** prev, int top) const {
    Node* x = head_;
    Node* bound = nullptr;  // a node known to be >= key: no need to compare it again
    for (int level = top - 1; level >= 0; --level) {
      for (;;) {
        Node* n = x->next(level);
        if (n != nullptr && n != bound) __builtin_prefetch(n->next_relaxed(level));
        if (n == nullptr || n == bound || compare(decode_entry(n->entry()), key) >= 0) {
          bound = n;
          break;
        }
        x = n;
      }
      prev[level] = x;
    }
  }

  // The same predecessors for a new version of a user key, found from its newest version
  // (`finger`) instead of from the head: the new entry sorts right before it, and walking
  // back on level 0 meets the predecessor on level i as the first node taller than i.
  // False (and prev unusable) when the finger does not bracket the key or the walk would be
  // long; the caller then searches from the head.
  bool predecessors_from_finger(const EntryKey& key, Node* finger, int height, Node** prev) const {
    Node* before = finger->prev0;
    if (compare(key, decode_entry(finger->entry())) >= 0) return false;
    if (before != head_ && compare(decode_entry(before->entry()), key) >= 0) return false;
    int steps = 0;
    int level = 0;
    for (Node* n = before; level < height;) {
      if (n == head_ || n->height > level) {
        prev[level++] = n;
        continue;
      }
      if (++steps > kMaxFingerSteps) return false;
      n = n->prev0;
    }
    return true;
  }

  // First node whose key is >= key, or null.
  Node* seek(const EntryKey& key) const {
    Node* x = head_;
    Node* bound = nullptr;  // a node known to be >= key: no need to compare it again
    for (int level = height_.load(std::memory_order_relaxed) - 1; level >= 0; --level) {
      for (;;) {
        Node* n = x->next(level);
        if (n == nullptr || n == bound || compare(decode_entry(n->entry()), key) >= 0) {
          bound = n;
          break;
        }
        x = n;
      }
    }
    return bound;
  }

  // Last node whose key is < key, or null.
  Node* last_before(const EntryKey& key) const {
    Node* x = head_;
    for (int level = height_.load(std::memory_order_relaxed) - 1; level >= 0; --level) {
      for (;;) {
        Node* n = x->next(level);
        if (n == nullptr || compare(decode_entry(n->entry()), key) >= 0) break;
        x = n;
      }
    }
    return x == head_ ? nullptr : x;
  }

  Node* last() const {
    Node* x = head_;
    for (int level = height_.load(std::memory_order_relaxed) - 1; level >= 0; --level) {
      for (Node* n = x->next(level); n != nullptr; n = x->next(level))
        x = n;
    }
    return x == head_ ? nullptr : x;
  }

  void* acquire_iterator_slot() {
    std::lock_guard lock(iterator_mutex_);
    if (!free_slots_.empty()) {
      void* slot = free_slots_.back();
      free_slots_.pop_back();
      return slot;
    }
    void* slot = ::operator new(sizeof(Iter));
    // Not counted in bytes_: RocksDB requires a table's usage not to change once it is
    // read-only (it subtracts the same figure when the table is dropped).
    iterator_slots_.push_back(slot);
    return slot;
  }

  void release_iterator_slot(void* slot) {
    std::lock_guard lock(iterator_mutex_);
    free_slots_.push_back(slot);
  }

  // Writer-only.
  struct FreeBlock {
    void operator()(char* p) const { std::free(p); }
  };
  using Block = std::unique_ptr<char, FreeBlock>;
  std::shared_ptr<MemtableBlockPool> pool_;
  std::shared_ptr<ActiveTableRegistry> registry_;  // null: not registered
  std::uint32_t column_family_;
  std::vector<char*> pooled_blocks_;  // from pool_, given back with the table
  std::vector<Block> blocks_;         // single nodes too large for a pooled block
  char* block_next_ = nullptr;
  std::size_t block_left_ = 0;
  std::uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  Node* tail_[kMaxHeight];  // last node on each level (head_ while the level is empty)

  std::unique_ptr<char[]> head_storage_;
  Node* head_ = nullptr;
  std::atomic<int> height_{1};
  std::size_t node_bytes_ = 0;         // writer-only
  FingerTable<Node> fingers_;          // writer-only: user key -> its newest node
  std::atomic<std::size_t> bytes_{0};  // bytes of nodes handed out and of the finger table

  std::mutex iterator_mutex_;
  std::vector<void*> iterator_slots_;  // every slot ever made, freed with the table
  std::vector<void*> free_slots_;
};

}  // namespace

namespace {
void check_order(const rocksdb::MemTableRep::KeyComparator& cmp) {
  // The rep compares keys itself and never calls `cmp`; it must be the order it implements.
  if (auto mismatch = bytewise_internal_order_mismatch(cmp)) {
    fatal("the ordered memtable (storage.memtable=ordered) requires the bytewise internal-key order, but " +
          *mismatch);
  }
}
}  // namespace

void ActiveTableRegistry::make_active(std::uint32_t column_family, rocksdb::MemTableRep* table) {
  std::lock_guard lock(mutex_);
  if (column_family >= active_.size()) active_.resize(column_family + 1, nullptr);
  active_[column_family] = table;
}

void ActiveTableRegistry::forget(std::uint32_t column_family, const rocksdb::MemTableRep* table) {
  std::lock_guard lock(mutex_);
  if (column_family < active_.size() && active_[column_family] == table) active_[column_family] = nullptr;
}

const rocksdb::MemTableRep* ActiveTableRegistry::active(std::uint32_t column_family) const {
  std::lock_guard lock(mutex_);
  return column_family < active_.size() ? active_[column_family] : nullptr;
}

void ActiveTableRegistry::prefetch_inserts(std::uint32_t column_family,
                                           std::span<const std::string_view> user_keys) const {
  std::lock_guard lock(mutex_);
  if (column_family >= active_.size() || active_[column_family] == nullptr) return;
  static_cast<const OrderedMemTable*>(active_[column_family])->prefetch_inserts(user_keys);
}

rocksdb::MemTableRep* OrderedMemTableFactory::CreateMemTableRep(
    const rocksdb::MemTableRep::KeyComparator& cmp, rocksdb::Allocator* allocator,
    const rocksdb::SliceTransform*, rocksdb::Logger*) {
  check_order(cmp);
  return new OrderedMemTable(allocator, pool_);
}

rocksdb::MemTableRep* OrderedMemTableFactory::CreateMemTableRep(
    const rocksdb::MemTableRep::KeyComparator& cmp, rocksdb::Allocator* allocator,
    const rocksdb::SliceTransform*, rocksdb::Logger*, std::uint32_t column_family_id) {
  check_order(cmp);
  auto* table = new OrderedMemTable(allocator, pool_, registry_, column_family_id);
  registry_->make_active(column_family_id, table);
  return table;
}

rocksdb::Status OrderedMemTableFactory::ValidateOptions(
    const rocksdb::DBOptions& db_options, const rocksdb::ColumnFamilyOptions& cf_options) const {
  if (auto s = MemTableRepFactory::ValidateOptions(db_options, cf_options); !s.ok()) return s;
  const rocksdb::Comparator* cmp = cf_options.comparator;
  if (cmp == nullptr)
    return rocksdb::Status::InvalidArgument("the ordered memtable: column family has no comparator");
  if (auto mismatch = bytewise_user_order_mismatch(*cmp)) {
    return rocksdb::Status::InvalidArgument(
        "the ordered memtable (storage.memtable=ordered) requires RocksDB's bytewise comparator, but the "
        "column family's " +
        *mismatch);
  }
  return rocksdb::Status::OK();
}

}  // namespace rstmdb::storage
