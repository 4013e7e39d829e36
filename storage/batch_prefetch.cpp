#include "storage/batch_prefetch.hpp"

#include <rocksdb/write_batch.h>

namespace rstmdb::storage {
namespace {

// Collects a batch's keys by column family: Put, Delete and SingleDelete insert one node per
// key into the column family's table; range deletions and merges are not listed.
class KeyCollector final : public rocksdb::WriteBatch::Handler {
 public:
  KeyCollector(std::vector<std::vector<std::string_view>>& keys, std::uint32_t skipped_cf)
      : keys_(keys), skipped_cf_(skipped_cf) {}
  rocksdb::Status PutCF(std::uint32_t cf, const rocksdb::Slice& key, const rocksdb::Slice&) override {
    add(cf, key);
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(std::uint32_t cf, const rocksdb::Slice& key) override {
    add(cf, key);
    return rocksdb::Status::OK();
  }
  rocksdb::Status SingleDeleteCF(std::uint32_t cf, const rocksdb::Slice& key) override {
    add(cf, key);
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteRangeCF(std::uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return rocksdb::Status::OK();
  }
  rocksdb::Status MergeCF(std::uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return rocksdb::Status::OK();
  }
  void LogData(const rocksdb::Slice&) override {}

 private:
  void add(std::uint32_t cf, const rocksdb::Slice& key) {
    if (cf == skipped_cf_) return;
    if (cf >= keys_.size()) keys_.resize(cf + 1);
    keys_[cf].emplace_back(key.data(), key.size());
  }
  std::vector<std::vector<std::string_view>>& keys_;
  const std::uint32_t skipped_cf_;
};

}  // namespace

void BatchPrefetch::run(const rocksdb::WriteBatch& batch) {
  for (auto& keys : keys_)
    keys.clear();
  KeyCollector collector(keys_, appended_cf_);
  // A record type the collector does not know ends the listing early: it is only a hint.
  (void)batch.Iterate(&collector);
  const ActiveTableRegistry& tables = tables_->active_tables();
  for (std::uint32_t cf = 0; cf < keys_.size(); ++cf) {
    if (!keys_[cf].empty()) tables.prefetch_inserts(cf, keys_[cf]);
  }
}

}  // namespace rstmdb::storage
