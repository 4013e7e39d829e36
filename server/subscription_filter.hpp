// What a subscription selects (operations.md §15, §16, §26.1): WATCH_INSTANCE matches one
// instance id; WATCH_ALL matches its lists — `machines`, `from_states`, `to_states`, `events` —
// ANDed, the values inside one list ORed, matched exactly and case-sensitively; an empty list
// does not filter. Values are client-chosen, so the sets hash with protocol::SeededStringHash.
//
// Thread-safety: immutable after construction.
#pragma once

#include "protocol/seeded_hash.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace rstmdb::server {

// What the hub knows of an applied event when it matches it.
struct EventFacts {
  std::string_view instance_id;
  std::string_view machine;
  std::string_view event;
  std::string_view from_state;
  std::string_view to_state;
};

// The bytes of filter values (and the WATCH_INSTANCE id) one subscription may hold: with
// watch.max_subscriptions_per_connection (1024) this bounds a connection's filters to 64 MiB,
// the size of its default reply budget. Beyond it WATCH_* answers BAD_REQUEST.
inline constexpr std::size_t kMaxFilterBytes = 64 * 1024;
// What each value counts besides its bytes: its string and hash-set node, so that a list of
// empty strings is not free (at most 1024 values fit the budget).
inline constexpr std::size_t kFilterValueOverheadBytes = 64;

class SubscriptionFilter {
 public:
  // WATCH_INSTANCE: events of `instance_id` (and of any instance recreated with that id).
  static SubscriptionFilter instance(std::string instance_id);
  // WATCH_ALL. Duplicates inside a list are ignored.
  static SubscriptionFilter all(const std::vector<std::string>& machines,
                                const std::vector<std::string>& from_states,
                                const std::vector<std::string>& to_states,
                                const std::vector<std::string>& events);

  bool matches(const EventFacts& e) const;

  // For the hub's index: the instance id (WATCH_INSTANCE), else the distinct machines
  // (empty: every machine).
  const std::optional<std::string>& instance_id() const noexcept { return instance_id_; }
  const std::vector<std::string>& machines() const noexcept { return machines_; }

 private:
  using Set = std::unordered_set<std::string, protocol::SeededStringHash, std::equal_to<>>;
  static bool admits(const Set& set, std::string_view value) {
    return set.empty() || set.find(value) != set.end();
  }

  std::optional<std::string> instance_id_;
  std::vector<std::string> machines_;
  Set machine_set_;
  Set from_states_;
  Set to_states_;
  Set events_;
};

}  // namespace rstmdb::server
