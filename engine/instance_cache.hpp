// The sequencer's cache of committed instances, parsed (record + ctx object), so a hot
// instance is validated and merged without a RocksDB read and a JSON parse per request. It
// holds nothing that is not in RocksDB: an entry may be dropped at any time and is re-read on
// demand.
//
// Thread: sequencer only (not thread-safe). An entry's address is stable until it is erased
// or the cache is changed; views hold such pointers only while one request runs.
#pragma once

#include "engine/view.hpp"

#include <cstddef>
#include <string>
#include <unordered_map>

namespace rstmdb::engine {

class InstanceCache {
 public:
  // Most instances kept; when an insert would pass it the whole cache is dropped.
  static constexpr std::size_t kMaxInstances = 200000;

  const Instance* find(const std::string& id) const {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
  }
  // Inserts or replaces; returns the cached entry.
  const Instance* put(const std::string& id, Instance inst) {
    if (entries_.size() >= kMaxInstances && !entries_.contains(id)) entries_.clear();
    return &entries_.insert_or_assign(id, std::move(inst)).first->second;
  }
  // Room for `n` more entries (drops everything if they would not fit).
  void reserve_for(std::size_t n) {
    if (entries_.size() + n > kMaxInstances) entries_.clear();
  }
  void clear() { entries_.clear(); }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::unordered_map<std::string, Instance> entries_;
};

}  // namespace rstmdb::engine
