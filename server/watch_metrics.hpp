// Counters of the subscriptions (runtime.md §4.2: rstmdb_subscriptions_active{type},
// rstmdb_events_forwarded_total{type}, rstmdb_subscriptions_lagged_total{type}). The metrics
// endpoint reads them through Server::watch_counters(); tests through the hub.
//
// Thread-safety: every member may be called from any thread (relaxed atomics: each counter is
// exact, a snapshot of several is not a consistent cut).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rstmdb::server {

// The `type` label: WATCH_INSTANCE or WATCH_ALL.
enum class SubscriptionType : std::uint8_t { Instance = 0, All = 1 };
inline constexpr std::size_t kSubscriptionTypes = 2;

constexpr std::string_view subscription_type_label(SubscriptionType t) noexcept {
  return t == SubscriptionType::Instance ? "instance" : "all";
}

// A copy of the counters, indexed by SubscriptionType.
struct WatchCounters {
  std::array<std::uint64_t, kSubscriptionTypes> active{};     // gauge: subscriptions that exist now
  std::array<std::uint64_t, kSubscriptionTypes> forwarded{};  // events written to connections
  std::array<std::uint64_t, kSubscriptionTypes> lagged{};     // ended with reason "lagged"
};

class WatchMetrics {
 public:
  // A subscription exists from its WATCH until UNWATCH, `end`, or its connection's close
  // (the session counts both sides, so the gauge returns to 0 on every path).
  void subscription_added(SubscriptionType t) noexcept { at(active_, t).fetch_add(1, kOrder); }
  void subscription_removed(SubscriptionType t) noexcept { at(active_, t).fetch_sub(1, kOrder); }
  void event_forwarded(SubscriptionType t) noexcept { at(forwarded_, t).fetch_add(1, kOrder); }
  void subscription_lagged(SubscriptionType t) noexcept { at(lagged_, t).fetch_add(1, kOrder); }

  WatchCounters snapshot() const noexcept {
    WatchCounters c;
    for (std::size_t i = 0; i < kSubscriptionTypes; ++i) {
      c.active[i] = active_[i].load(kOrder);
      c.forwarded[i] = forwarded_[i].load(kOrder);
      c.lagged[i] = lagged_[i].load(kOrder);
    }
    return c;
  }

 private:
  using Row = std::array<std::atomic<std::uint64_t>, kSubscriptionTypes>;
  static constexpr auto kOrder = std::memory_order_relaxed;
  static std::atomic<std::uint64_t>& at(Row& row, SubscriptionType t) noexcept {
    return row[static_cast<std::size_t>(t)];
  }
  Row active_{};
  Row forwarded_{};
  Row lagged_{};
};

}  // namespace rstmdb::server
