#include "server/subscription_index.hpp"

#include <algorithm>

namespace rstmdb::server {

void SubscriptionIndex::add(Subscription* s) {
  const SubscriptionFilter& f = s->filter;
  if (f.instance_id()) {
    by_instance_[*f.instance_id()].push_back(s);
  } else if (f.machines().empty()) {
    every_machine_.push_back(s);
  } else {
    for (const auto& m : f.machines())
      by_machine_[m].push_back(s);
  }
  ++size_;
}

void SubscriptionIndex::remove(Subscription* s) {
  const SubscriptionFilter& f = s->filter;
  if (f.instance_id()) {
    erase_from(by_instance_, *f.instance_id(), s);
  } else if (f.machines().empty()) {
    erase_from(every_machine_, s);
  } else {
    for (const auto& m : f.machines())
      erase_from(by_machine_, m, s);
  }
  --size_;
}

void SubscriptionIndex::erase_from(Table& table, const std::string& key, Subscription* s) {
  auto it = table.find(key);
  if (it == table.end()) return;
  erase_from(it->second, s);
  if (it->second.empty()) table.erase(it);
}

void SubscriptionIndex::erase_from(Bucket& bucket, Subscription* s) {
  // Order inside a bucket carries no meaning (each subscription is its own stream).
  auto it = std::find(bucket.begin(), bucket.end(), s);
  if (it == bucket.end()) return;
  *it = bucket.back();
  bucket.pop_back();
}

}  // namespace rstmdb::server
