// A histogram for hot paths: fixed bucket bounds, one relaxed atomic add per observation, no
// lock (prometheus::Histogram::Observe takes a mutex, which the write path must not). The
// scrape turns it into prometheus-cpp's data model; a scrape racing an observation may see the
// bucket and not yet the sum (each is exact once the observation is done).
//
// Thread-safety: observe() and collect() may be called from any thread at the same time.
#pragma once

#include <prometheus/client_metric.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace rstmdb::server {

class AtomicHistogram {
 public:
  // `bounds`: the upper bounds of the buckets, ascending (the +Inf bucket is added).
  explicit AtomicHistogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)),
        counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

  void observe(double value) noexcept {
    std::size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i])
      ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  // The series as prometheus-cpp's serializer takes it (cumulative buckets, count, sum).
  prometheus::ClientMetric collect() const {
    prometheus::ClientMetric m;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += counts_[i].load(std::memory_order_relaxed);
      const double bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back(prometheus::ClientMetric::Bucket{cumulative, bound});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = sum_.load(std::memory_order_relaxed);
    return m;
  }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

}  // namespace rstmdb::server
