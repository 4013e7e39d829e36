#include "server/request_metrics.hpp"

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include <algorithm>
#include <limits>

namespace rstmdb::server {

namespace {

// kDurationBuckets in nanoseconds, so that a request is placed with integer compares.
constexpr std::array<std::int64_t, RequestMetrics::kDurationBuckets.size()> kBoundsNs = {
    100'000,    250'000,     500'000,     1'000'000,   2'500'000,     5'000'000,     10'000'000,   25'000'000,
    50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000};

constexpr bool bounds_match() {
  for (std::size_t i = 0; i < kBoundsNs.size(); ++i) {
    const double seconds = RequestMetrics::kDurationBuckets[i];
    const double ns = seconds * 1e9;
    if (static_cast<double>(kBoundsNs[i]) < ns - 1 || static_cast<double>(kBoundsNs[i]) > ns + 1)
      return false;
  }
  return true;
}
static_assert(bounds_match(), "kBoundsNs must be kDurationBuckets in nanoseconds");

// Which shard this thread counts in: handed out round-robin at a thread's first request.
std::atomic<std::size_t> g_next_shard{0};
thread_local std::size_t t_shard = g_next_shard.fetch_add(1, std::memory_order_relaxed);

prometheus::ClientMetric::Label label(const char* name, std::string_view value) {
  return prometheus::ClientMetric::Label{name, std::string(value)};
}

}  // namespace

RequestMetrics::RequestMetrics() : shards_(std::make_unique<std::array<Shard, kShards>>()) {}

RequestMetrics::Shard& RequestMetrics::shard() noexcept {
  return (*shards_)[t_shard % kShards];
}

std::size_t RequestMetrics::bucket_of(std::chrono::nanoseconds duration) noexcept {
  const std::int64_t ns = duration.count();
  std::size_t i = 0;
  while (i < kBoundsNs.size() && ns > kBoundsNs[i])
    ++i;
  return i;  // kBoundsNs.size() = the +Inf bucket
}

void RequestMetrics::finished(std::size_t operation, std::chrono::nanoseconds duration,
                              std::optional<protocol::ErrorCode> error) noexcept {
  Shard& s = shard();
  OperationCounters& op = s.operations[std::min(operation, kOperations - 1)];
  op.requests.fetch_add(1, std::memory_order_relaxed);
  op.duration_ns.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count())),
                           std::memory_order_relaxed);
  op.buckets[bucket_of(duration)].fetch_add(1, std::memory_order_relaxed);
  if (error) s.errors[static_cast<std::size_t>(*error)].fetch_add(1, std::memory_order_relaxed);
  s.in_flight.fetch_sub(1, std::memory_order_relaxed);
}

void RequestMetrics::batch_element(std::size_t operation) noexcept {
  shard().operations[std::min(operation, kOperations - 1)].requests.fetch_add(1, std::memory_order_relaxed);
}

void RequestMetrics::batch_element_error(protocol::ErrorCode code) noexcept {
  shard().errors[static_cast<std::size_t>(code)].fetch_add(1, std::memory_order_relaxed);
}

std::vector<prometheus::MetricFamily> RequestMetrics::collect() const {
  std::array<std::uint64_t, kOperations> requests{};
  std::array<std::uint64_t, kOperations> duration_ns{};
  std::array<std::array<std::uint64_t, kBuckets>, kOperations> buckets{};
  std::array<std::uint64_t, protocol::kErrorCodeCount> errors{};
  std::int64_t in_flight = 0;
  for (const Shard& s : *shards_) {
    for (std::size_t op = 0; op < kOperations; ++op) {
      const OperationCounters& c = s.operations[op];
      requests[op] += c.requests.load(std::memory_order_relaxed);
      duration_ns[op] += c.duration_ns.load(std::memory_order_relaxed);
      for (std::size_t b = 0; b < kBuckets; ++b)
        buckets[op][b] += c.buckets[b].load(std::memory_order_relaxed);
    }
    for (std::size_t e = 0; e < errors.size(); ++e)
      errors[e] += s.errors[e].load(std::memory_order_relaxed);
    in_flight += s.in_flight.load(std::memory_order_relaxed);
  }

  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  MetricFamily total{"rstmdb_requests_total",
                     "Requests dispatched, by operation (BATCH elements included)",
                     MetricType::Counter,
                     {}};
  MetricFamily duration{"rstmdb_request_duration_seconds",
                        "Time from decoding a request to queueing its response, by operation",
                        MetricType::Histogram,
                        {}};
  for (std::size_t op = 0; op < kOperations; ++op) {
    const auto name = Dispatcher::operation_name(op);
    ClientMetric t;
    t.label.push_back(label("operation", name));
    t.counter.value = static_cast<double>(requests[op]);
    total.metric.push_back(std::move(t));

    ClientMetric h;
    h.label.push_back(label("operation", name));
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) {
      cumulative += buckets[op][b];
      const double bound =
          b < kDurationBuckets.size() ? kDurationBuckets[b] : std::numeric_limits<double>::infinity();
      h.histogram.bucket.push_back(ClientMetric::Bucket{cumulative, bound});
    }
    h.histogram.sample_count = cumulative;
    h.histogram.sample_sum = static_cast<double>(duration_ns[op]) / 1e9;
    duration.metric.push_back(std::move(h));
  }

  MetricFamily error_family{"rstmdb_errors_total",
                            "Error responses, by error code (BATCH element errors included)",
                            MetricType::Counter,
                            {}};
  for (std::size_t e = 0; e < errors.size(); ++e) {
    ClientMetric m;
    m.label.push_back(label("code", protocol::error_code_name(static_cast<protocol::ErrorCode>(e))));
    m.counter.value = static_cast<double>(errors[e]);
    error_family.metric.push_back(std::move(m));
  }

  MetricFamily flight{
      "rstmdb_requests_in_flight", "Requests decoded and not yet answered", MetricType::Gauge, {}};
  ClientMetric f;
  // Not clamped: a count that went negative would be a bug worth seeing (a scrape racing a
  // request that moves between threads can be off by the requests in motion, never more).
  f.gauge.value = static_cast<double>(in_flight);
  flight.metric.push_back(std::move(f));

  std::vector<MetricFamily> out;
  out.push_back(std::move(total));
  out.push_back(std::move(duration));
  out.push_back(std::move(error_family));
  out.push_back(std::move(flight));
  return out;
}

}  // namespace rstmdb::server
