// Finds the subscriptions an event may match without looking at every subscription: WATCH_INSTANCE
// subscriptions by instance id, WATCH_ALL subscriptions by each machine they list, and the
// WATCH_ALL subscriptions without a machine list. A candidate still has to pass its whole filter.
// Keys are client-chosen, so the tables hash with protocol::SeededStringHash.
//
// Each subscription is found at most once per event (a machine list holds distinct names).
// Thread-safety: hub thread only.
#pragma once

#include "protocol/seeded_hash.hpp"
#include "server/subscription.hpp"

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rstmdb::server {

class SubscriptionIndex {
 public:
  void add(Subscription* s);
  void remove(Subscription* s);
  std::size_t size() const noexcept { return size_; }

  // Calls fn(Subscription&) for every candidate for an event with these facts.
  template <typename Fn>
  void for_each_candidate(const EventFacts& e, Fn&& fn) const {
    if (auto it = by_instance_.find(e.instance_id); it != by_instance_.end()) {
      for (Subscription* s : it->second)
        fn(*s);
    }
    if (auto it = by_machine_.find(e.machine); it != by_machine_.end()) {
      for (Subscription* s : it->second)
        fn(*s);
    }
    for (Subscription* s : every_machine_)
      fn(*s);
  }

 private:
  using Bucket = std::vector<Subscription*>;
  using Table = std::unordered_map<std::string, Bucket, protocol::SeededStringHash, std::equal_to<>>;
  static void erase_from(Table& table, const std::string& key, Subscription* s);
  static void erase_from(Bucket& bucket, Subscription* s);

  Table by_instance_;
  Table by_machine_;
  Bucket every_machine_;
  std::size_t size_ = 0;
};

}  // namespace rstmdb::server
