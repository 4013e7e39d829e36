// The server's Prometheus series (runtime.md §4.2; docs/metrics.md lists every one) and the
// text a scrape of /metrics returns. Three kinds of series:
//   - events the server counts as they happen, in prometheus-cpp's registry: connections
//     accepted, rejected and closed, protocol errors, and the engine's storage series
//     (EngineMetrics, fed through the engine's observer);
//   - the per-request series, counted per thread (RequestMetrics);
//   - values read at scrape time from where they live (engine counters and offsets, the
//     live-connection count, health, /proc/self, and the sources other parts register:
//     subscriptions, backup, reload, TLS certificate).
// Names, types and labels of the upstream series are exactly upstream's, so its Grafana
// dashboard (#24778) works unchanged. Every labelled series with a fixed label set is present
// from startup, at 0.
//
// Thread-safety: the counting calls are cheap and thread-safe (atomics, pre-resolved
// children); scrape() runs on the HTTP endpoint's thread and takes no lock a hot path holds.
#pragma once

#include "engine/engine.hpp"
#include "protocol/frame_decoder.hpp"
#include "server/engine_metrics.hpp"
#include "server/health.hpp"
#include "server/request_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rstmdb::server {

// rstmdb_subscriptions_active / rstmdb_events_forwarded_total / rstmdb_subscriptions_lagged_total,
// by subscription type (WATCH_INSTANCE = instance, WATCH_ALL = all).
struct SubscriptionCounts {
  std::uint64_t active_instance = 0, active_all = 0;
  std::uint64_t forwarded_instance = 0, forwarded_all = 0;
  std::uint64_t lagged_instance = 0, lagged_all = 0;
};

// rstmdb_config_reloads_total{result} and rstmdb_config_last_reload_success_timestamp_seconds.
struct ReloadCounts {
  std::uint64_t succeeded = 0, failed = 0;
  double last_success_unix_seconds = 0;  // the initial load counts as a successful one
};

class ServerMetrics {
 public:
  // Per-state series at most (rstmdb_instances_by_state); beyond it the rest are left out of the
  // scrape (and a comment says so). Bounded by the definitions anyway; this caps a scrape.
  static constexpr std::size_t kMaxStateSeries = 10000;

  enum class RejectReason : unsigned char { Limit, TlsHandshake, HandshakeTimeout, FdExhausted };

  // `engine` and `health` must outlive this. `started` is when the process started (uptime),
  // `started_unix_seconds` the same as Unix time (the default last-reload time).
  ServerMetrics(const engine::Engine& engine, const HealthState& health,
                std::chrono::steady_clock::time_point started, double started_unix_seconds,
                bool state_gauges);

  RequestMetrics& requests() noexcept { return requests_; }
  engine::EngineObserver& engine_observer() noexcept { return engine_metrics_; }

  void connection_accepted() noexcept { connections_total_->Increment(); }
  void connection_rejected(RejectReason reason) noexcept {
    rejected_[static_cast<std::size_t>(reason)]->Increment();
  }
  // `reason`: the close reasons sessions report (client, idle, protocol_error, shutdown,
  // write_timeout, revoked).
  void connection_closed(std::string_view reason);
  void protocol_error(protocol::CloseReason reason) noexcept {
    protocol_errors_[static_cast<std::size_t>(reason)]->Increment();
  }

  // metrics.state_gauges (reloadable).
  void set_state_gauges(bool on) noexcept { state_gauges_.store(on, std::memory_order_relaxed); }

  // Sources read at each scrape, on the HTTP thread; each must be thread-safe and quick. May be
  // set at any time. Unset: the series report their idle values (0; last reload = start).
  void set_connection_sources(std::function<std::uint64_t()> active, std::function<std::uint64_t()> limit);
  void set_subscription_source(std::function<SubscriptionCounts()> source);
  // Unix time of the last successful backup, if any (0 = none yet).
  void set_backup_source(std::function<std::optional<double>()> source);
  void set_reload_source(std::function<ReloadCounts()> source);
  // Unix time the TLS certificate expires; none = TLS off (the series has no sample).
  void set_tls_certificate_source(std::function<std::optional<double>()> source);

  // The Prometheus text exposition (format 0.0.4) of every series.
  std::string scrape() const;

 private:
  struct Sources {
    std::function<std::uint64_t()> connections_active;
    std::function<std::uint64_t()> connections_limit;
    std::function<SubscriptionCounts()> subscriptions;
    std::function<std::optional<double>()> backup;
    std::function<ReloadCounts()> reloads;
    std::function<std::optional<double>()> tls_expiry;
  };
  std::vector<prometheus::MetricFamily> collect_state(const Sources& sources) const;

  const engine::Engine& engine_;
  const HealthState& health_;
  const std::chrono::steady_clock::time_point started_;
  const double started_unix_seconds_;
  std::atomic<bool> state_gauges_;

  prometheus::Registry registry_;
  RequestMetrics requests_;
  EngineMetrics engine_metrics_;
  prometheus::Counter* connections_total_ = nullptr;
  std::array<prometheus::Counter*, 4> rejected_{};         // by RejectReason
  std::array<prometheus::Counter*, 7> protocol_errors_{};  // by protocol::CloseReason
  prometheus::Family<prometheus::Counter>* closed_ = nullptr;
  std::mutex closed_mutex_;
  std::unordered_map<std::string, prometheus::Counter*> closed_by_reason_;

  mutable std::mutex sources_mutex_;
  Sources sources_;
};

}  // namespace rstmdb::server
