#include "server/metrics.hpp"

#include "server/process_metrics.hpp"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <boost/json/object.hpp>

namespace rstmdb::server {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Implementation name in rstmdb_build_info (upstream clients see the same in HELLO/INFO).
constexpr std::string_view kImplementation = "rstmdb-cpp";

// The close reasons sessions report (session.hpp), present from startup.
constexpr std::array<std::string_view, 6> kCloseReasons = {"client",  "idle",     "protocol_error",
                                                           "revoked", "shutdown", "write_timeout"};

ClientMetric value_metric(MetricType type, double value) {
  ClientMetric m;
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

MetricFamily single(const char* name, const char* help, MetricType type, double value) {
  return MetricFamily{name, help, type, {value_metric(type, value)}};
}

MetricFamily by_type(const char* name, const char* help, MetricType type, double instance, double all) {
  MetricFamily f{name, help, type, {}};
  auto one = [&](const char* label, double value) {
    ClientMetric m = value_metric(type, value);
    m.label.push_back(ClientMetric::Label{"type", label});
    f.metric.push_back(std::move(m));
  };
  one("instance", instance);
  one("all", all);
  return f;
}

std::uint64_t u64_field(const engine::Result& r, const char* key) {
  const auto* object = std::get_if<boost::json::object>(&r);
  if (object == nullptr) return 0;
  const auto* v = object->if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64()) return static_cast<std::uint64_t>(std::max<std::int64_t>(0, v->get_int64()));
  return 0;
}

}  // namespace

ServerMetrics::ServerMetrics(const engine::Engine& engine, const HealthState& health,
                             std::chrono::steady_clock::time_point started, double started_unix_seconds,
                             bool state_gauges)
    : engine_(engine),
      health_(health),
      started_(started),
      started_unix_seconds_(started_unix_seconds),
      state_gauges_(state_gauges),
      engine_metrics_(registry_) {
  connections_total_ = &prometheus::BuildCounter()
                            .Name("rstmdb_connections_total")
                            .Help("Connections accepted under the connection limit")
                            .Register(registry_)
                            .Add({});
  auto& rejected = prometheus::BuildCounter()
                       .Name("rstmdb_connections_rejected_total")
                       .Help("Connections closed at accept or during the TLS handshake, by reason")
                       .Register(registry_);
  rejected_[static_cast<std::size_t>(RejectReason::Limit)] = &rejected.Add({{"reason", "limit"}});
  rejected_[static_cast<std::size_t>(RejectReason::TlsHandshake)] =
      &rejected.Add({{"reason", "tls_handshake"}});
  rejected_[static_cast<std::size_t>(RejectReason::HandshakeTimeout)] =
      &rejected.Add({{"reason", "handshake_timeout"}});
  rejected_[static_cast<std::size_t>(RejectReason::FdExhausted)] =
      &rejected.Add({{"reason", "fd_exhausted"}});

  closed_ = &prometheus::BuildCounter()
                 .Name("rstmdb_connections_closed_total")
                 .Help("Connections closed after they were established, by reason")
                 .Register(registry_);
  for (auto reason : kCloseReasons)
    closed_by_reason_.emplace(std::string(reason), &closed_->Add({{"reason", std::string(reason)}}));

  auto& protocol = prometheus::BuildCounter()
                       .Name("rstmdb_protocol_errors_total")
                       .Help("Connections closed for a framing violation, by kind")
                       .Register(registry_);
  using protocol::CloseReason;
  for (auto r :
       {CloseReason::BadStart, CloseReason::BadMessageStart, CloseReason::BadMagic, CloseReason::BadVersion,
        CloseReason::BadFlags, CloseReason::TooLarge, CloseReason::CrcMismatch}) {
    protocol_errors_[static_cast<std::size_t>(r)] =
        &protocol.Add({{"reason", std::string(protocol::close_reason_metric(r))}});
  }
}

void ServerMetrics::connection_closed(std::string_view reason) {
  std::lock_guard lock(closed_mutex_);
  auto it = closed_by_reason_.find(std::string(reason));
  if (it == closed_by_reason_.end()) {
    // A reason not listed above (a new close path): still counted, under its own name. The
    // names are string literals of the server, so the set stays bounded.
    it = closed_by_reason_.emplace(std::string(reason), &closed_->Add({{"reason", std::string(reason)}}))
             .first;
  }
  it->second->Increment();
}

void ServerMetrics::set_connection_sources(std::function<std::uint64_t()> active,
                                           std::function<std::uint64_t()> limit) {
  std::lock_guard lock(sources_mutex_);
  sources_.connections_active = std::move(active);
  sources_.connections_limit = std::move(limit);
}

void ServerMetrics::set_subscription_source(std::function<SubscriptionCounts()> source) {
  std::lock_guard lock(sources_mutex_);
  sources_.subscriptions = std::move(source);
}

void ServerMetrics::set_backup_source(std::function<std::optional<double>()> source) {
  std::lock_guard lock(sources_mutex_);
  sources_.backup = std::move(source);
}

void ServerMetrics::set_reload_source(std::function<ReloadCounts()> source) {
  std::lock_guard lock(sources_mutex_);
  sources_.reloads = std::move(source);
}

void ServerMetrics::set_tls_certificate_source(std::function<std::optional<double>()> source) {
  std::lock_guard lock(sources_mutex_);
  sources_.tls_expiry = std::move(source);
}

std::vector<MetricFamily> ServerMetrics::collect_state(const Sources& sources) const {
  std::vector<MetricFamily> out;
  const auto now = std::chrono::steady_clock::now();

  // --- process and readiness
  {
    ClientMetric info = value_metric(MetricType::Gauge, 1);
    info.label.push_back(ClientMetric::Label{"version", RSTMDB_VERSION});
    info.label.push_back(ClientMetric::Label{"implementation", std::string(kImplementation)});
    out.push_back(
        MetricFamily{"rstmdb_build_info", "Build of this server (always 1)", MetricType::Gauge, {info}});
  }
  out.push_back(single("rstmdb_uptime_seconds", "Seconds since the process started", MetricType::Gauge,
                       std::chrono::duration<double>(now - started_).count()));
  out.push_back(single("rstmdb_ready", "1 while /ready answers 200", MetricType::Gauge,
                       health_.report(now).ready() ? 1 : 0));

  // --- connections
  out.push_back(single("rstmdb_connections_active", "Open connections (TLS handshakes included)",
                       MetricType::Gauge,
                       sources.connections_active ? static_cast<double>(sources.connections_active()) : 0));
  out.push_back(single("rstmdb_connections_limit",
                       "Connection limit in force (network.max_connections, clamped by the fd budget)",
                       MetricType::Gauge,
                       sources.connections_limit ? static_cast<double>(sources.connections_limit()) : 0));

  // --- data
  out.push_back(single("rstmdb_instances_total", "Live instances", MetricType::Gauge,
                       static_cast<double>(engine_.instance_count())));
  out.push_back(single("rstmdb_machines_total", "Stored machine versions", MetricType::Gauge,
                       static_cast<double>(engine_.machine_count())));
  if (state_gauges_.load(std::memory_order_relaxed)) {
    MetricFamily f{
        "rstmdb_instances_by_state", "Live instances, by machine and state", MetricType::Gauge, {}};
    const auto counts = engine_.instances_by_state();
    for (std::size_t i = 0; i < counts.size() && i < kMaxStateSeries; ++i) {
      ClientMetric m = value_metric(MetricType::Gauge, static_cast<double>(counts[i].count));
      m.label.push_back(ClientMetric::Label{"machine", counts[i].machine});
      m.label.push_back(ClientMetric::Label{"state", counts[i].state});
      f.metric.push_back(std::move(m));
    }
    out.push_back(std::move(f));
  }

  // --- the log (WAL_STATS)
  const auto stats = engine_.wal_stats();
  out.push_back(single("rstmdb_wal_entries", "Log entries (WAL_STATS entry_count)", MetricType::Gauge,
                       static_cast<double>(u64_field(stats, "entry_count"))));
  out.push_back(single("rstmdb_wal_segments", "Log files (WAL_STATS segment_count)", MetricType::Gauge,
                       static_cast<double>(u64_field(stats, "segment_count"))));
  out.push_back(single("rstmdb_wal_size_bytes", "Log size in bytes (WAL_STATS total_size_bytes)",
                       MetricType::Gauge, static_cast<double>(u64_field(stats, "total_size_bytes"))));
  out.push_back(single("rstmdb_wal_offset", "Latest committed log offset", MetricType::Gauge,
                       static_cast<double>(engine_.latest_offset())));
  out.push_back(single("rstmdb_wal_oldest_offset", "Oldest retained log offset", MetricType::Gauge,
                       static_cast<double>(engine_.oldest_offset())));
  const auto io = engine_.io_stats();
  out.push_back(single("rstmdb_wal_bytes_written_total", "Log bytes written since start", MetricType::Counter,
                       static_cast<double>(io.bytes_written)));
  out.push_back(single("rstmdb_wal_bytes_read_total", "Log bytes read since start", MetricType::Counter,
                       static_cast<double>(io.bytes_read)));
  out.push_back(single("rstmdb_wal_writes_total", "Log entries written since start", MetricType::Counter,
                       static_cast<double>(io.writes)));
  out.push_back(single("rstmdb_wal_reads_total", "Log entries read since start", MetricType::Counter,
                       static_cast<double>(io.reads)));
  out.push_back(single("rstmdb_wal_fsyncs_total", "Log syncs since start", MetricType::Counter,
                       static_cast<double>(io.fsyncs)));

  // --- subscriptions
  const SubscriptionCounts subs = sources.subscriptions ? sources.subscriptions() : SubscriptionCounts{};
  out.push_back(by_type("rstmdb_subscriptions_active", "Open subscriptions, by type", MetricType::Gauge,
                        static_cast<double>(subs.active_instance), static_cast<double>(subs.active_all)));
  out.push_back(by_type("rstmdb_events_forwarded_total", "Events sent to subscribers, by subscription type",
                        MetricType::Counter, static_cast<double>(subs.forwarded_instance),
                        static_cast<double>(subs.forwarded_all)));
  out.push_back(by_type("rstmdb_subscriptions_lagged_total",
                        "Times a subscription fell behind and caught up from the log, by type",
                        MetricType::Counter, static_cast<double>(subs.lagged_instance),
                        static_cast<double>(subs.lagged_all)));

  // --- operations
  {
    MetricFamily f{"rstmdb_tls_certificate_expiry_timestamp_seconds",
                   "Unix time the TLS certificate expires (no sample while TLS is off)",
                   MetricType::Gauge,
                   {}};
    if (sources.tls_expiry) {
      if (auto expiry = sources.tls_expiry()) f.metric.push_back(value_metric(MetricType::Gauge, *expiry));
    }
    out.push_back(std::move(f));
  }
  ReloadCounts reloads;
  reloads.last_success_unix_seconds = started_unix_seconds_;
  if (sources.reloads) reloads = sources.reloads();
  if (reloads.last_success_unix_seconds <= 0) reloads.last_success_unix_seconds = started_unix_seconds_;
  out.push_back(single("rstmdb_config_last_reload_success_timestamp_seconds",
                       "Unix time the configuration was last loaded successfully (startup included)",
                       MetricType::Gauge, reloads.last_success_unix_seconds));
  {
    MetricFamily f{
        "rstmdb_config_reloads_total", "Configuration reloads, by result", MetricType::Counter, {}};
    for (auto [result, n] : {std::pair{"success", reloads.succeeded}, std::pair{"failure", reloads.failed}}) {
      ClientMetric m = value_metric(MetricType::Counter, static_cast<double>(n));
      m.label.push_back(ClientMetric::Label{"result", result});
      f.metric.push_back(std::move(m));
    }
    out.push_back(std::move(f));
  }
  const std::optional<double> backup = sources.backup ? sources.backup() : std::nullopt;
  out.push_back(single("rstmdb_backup_last_success_timestamp_seconds",
                       "Unix time of the last successful online backup (0 = none since start)",
                       MetricType::Gauge, backup.value_or(0)));
  return out;
}

std::string ServerMetrics::scrape() const {
  Sources sources;
  {
    std::lock_guard lock(sources_mutex_);
    sources = sources_;
  }
  std::vector<MetricFamily> families = registry_.Collect();
  // prometheus-cpp leaves a family without children out of Collect(); the transitions family
  // is announced (HELP and TYPE) before the first event all the same.
  if (std::none_of(families.begin(), families.end(),
                   [](const MetricFamily& f) { return f.name == EngineMetrics::kTransitionsName; })) {
    families.push_back(MetricFamily{std::string(EngineMetrics::kTransitionsName),
                                    std::string(EngineMetrics::kTransitionsHelp),
                                    MetricType::Counter,
                                    {}});
  }
  for (auto& f : engine_metrics_.collect())
    families.push_back(std::move(f));
  for (auto& f : requests_.collect())
    families.push_back(std::move(f));
  for (auto& f : collect_state(sources))
    families.push_back(std::move(f));
  for (auto& f : collect_process_metrics())
    families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace rstmdb::server
