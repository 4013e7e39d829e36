#include "server/observability.hpp"

#include "server/logging.hpp"

#include <chrono>

namespace rstmdb::server {

namespace {

// ?format=json among the query parameters.
bool wants_json(std::string_view query) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto param = query.substr(0, amp);
    if (param == "format=json") return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

double unix_now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Observability::Observability(const config::Config& config, engine::Engine& engine,
                             std::chrono::steady_clock::time_point started)
    : bind_addr_(config.metrics.bind_addr),
      engine_(engine),
      started_(started),
      metrics_(
          config.metrics.enabled
              ? std::make_unique<ServerMetrics>(
                    engine, health_, started,
                    unix_now_seconds() -
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                    config.metrics.state_gauges)
              : nullptr),
      traffic_(metrics_.get(),
               parse_access_log_mode(config.logging.access_log).value_or(AccessLogMode::Off)) {
  if (metrics_) engine_.set_observer(&metrics_->engine_observer());
}

Observability::~Observability() {
  stop_http();
  if (metrics_) engine_.set_observer(nullptr);
}

std::string Observability::start_http() {
  if (!metrics_) return {};
  http_ = std::make_unique<HttpEndpoint>(
      [this](std::string_view path, std::string_view query) { return answer(path, query); });
  if (auto problem = http_->start(bind_addr_); !problem.empty()) {
    http_.reset();
    return problem;
  }
  get_logger("server")->info("Metrics listening on {} (/metrics, /health, /ready, /healthz)",
                             http_->local_address());
  return {};
}

std::string Observability::http_address() const {
  return http_ ? http_->local_address() : std::string();
}

void Observability::stop_http() {
  if (http_) http_->stop();
}

HttpResponse Observability::answer(std::string_view path, std::string_view query) const {
  if (path == "/metrics" && metrics_) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics_->scrape()};
  }
  if (path == "/health" || path == "/ready" || path == "/healthz") {
    const auto check = path == "/health" ? HealthCheck::Liveness : HealthCheck::Readiness;
    const auto uptime =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
    auto r = render_health(check, wants_json(query), health_.report(), engine_.latest_offset(),
                           static_cast<std::uint64_t>(uptime));
    return HttpResponse{r.status, std::move(r.content_type), std::move(r.body)};
  }
  return HttpResponse{404, "text/plain; charset=utf-8", "not found\n"};
}

std::optional<std::string> metrics_exposure_warning(const config::Config& config) {
  if (!config.metrics.enabled || !config.auth.required ||
      !listens_on_all_interfaces(config.metrics.bind_addr)) {
    return std::nullopt;
  }
  return "metrics endpoint " + config.metrics.bind_addr +
         " listens on all interfaces and has no authentication, while auth.required is on; bind "
         "metrics.bind_addr to a private address (e.g. 127.0.0.1:9090) or firewall it";
}

}  // namespace rstmdb::server
