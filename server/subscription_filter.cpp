#include "server/subscription_filter.hpp"

namespace rstmdb::server {

SubscriptionFilter SubscriptionFilter::instance(std::string instance_id) {
  SubscriptionFilter f;
  f.instance_id_ = std::move(instance_id);
  return f;
}

SubscriptionFilter SubscriptionFilter::all(const std::vector<std::string>& machines,
                                           const std::vector<std::string>& from_states,
                                           const std::vector<std::string>& to_states,
                                           const std::vector<std::string>& events) {
  SubscriptionFilter f;
  for (const auto& m : machines) {
    if (f.machine_set_.insert(m).second) f.machines_.push_back(m);
  }
  f.from_states_.insert(from_states.begin(), from_states.end());
  f.to_states_.insert(to_states.begin(), to_states.end());
  f.events_.insert(events.begin(), events.end());
  return f;
}

bool SubscriptionFilter::matches(const EventFacts& e) const {
  if (instance_id_) return e.instance_id == *instance_id_;
  return admits(machine_set_, e.machine) && admits(from_states_, e.from_state) &&
         admits(to_states_, e.to_state) && admits(events_, e.event);
}

}  // namespace rstmdb::server
