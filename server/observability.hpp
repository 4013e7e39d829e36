// The server's observability, wired together (runtime.md §4): the health state, the
// Prometheus series (when metrics.enabled), the request/access log lines, and the HTTP endpoint
// that serves /metrics, /health, /ready and /healthz. The Server owns one and reports into it;
// the engine feeds the storage series through its observer.
#pragma once

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "server/health.hpp"
#include "server/http_endpoint.hpp"
#include "server/metrics.hpp"
#include "server/traffic_recorder.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace rstmdb::server {

class Observability {
 public:
  // `engine` must outlive this. The engine's observer is set here and cleared again by the
  // destructor. `started` is when the process started.
  Observability(const config::Config& config, engine::Engine& engine,
                std::chrono::steady_clock::time_point started);
  ~Observability();

  Observability(const Observability&) = delete;
  Observability& operator=(const Observability&) = delete;

  HealthState& health() noexcept { return health_; }
  // Null when metrics.enabled is false.
  ServerMetrics* metrics() noexcept { return metrics_.get(); }
  TrafficRecorder& traffic() noexcept { return traffic_; }

  // Binds metrics.bind_addr and starts the endpoint's thread, when metrics.enabled; returns
  // why it could not bind ("" = fine, or metrics off). Logs the listening line.
  std::string start_http();
  // After start_http(): the bound address ("host:port").
  std::string http_address() const;
  // Stops answering HTTP (the last step of a shutdown). Idempotent.
  void stop_http();

  // What a path answers (the endpoint's handler; exposed for tests).
  HttpResponse answer(std::string_view path, std::string_view query) const;

 private:
  const std::string bind_addr_;  // metrics.bind_addr at startup (restart-only)
  engine::Engine& engine_;
  const std::chrono::steady_clock::time_point started_;
  HealthState health_;
  std::unique_ptr<ServerMetrics> metrics_;
  TrafficRecorder traffic_;
  std::unique_ptr<HttpEndpoint> http_;
};

// The startup warning of runtime.md §5.1 when the metrics endpoint (which has no
// authentication) listens on every interface while auth.required is on; none otherwise.
std::optional<std::string> metrics_exposure_warning(const config::Config& config);

}  // namespace rstmdb::server
