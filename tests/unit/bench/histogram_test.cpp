#include "tools/bench/histogram.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using rstmdb::bench::LatencyHistogram;

namespace {

// Nearest rank, the definition value_at_quantile approximates.
std::uint64_t exact_quantile(const std::vector<std::uint64_t>& sorted, double q) {
  if (q <= 0) return sorted.front();
  if (q >= 1) return sorted.back();
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

constexpr double kQuantiles[] = {0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0};

void check_accuracy(std::vector<std::uint64_t> samples) {
  LatencyHistogram h;
  for (std::uint64_t v : samples)
    h.record(v);
  std::sort(samples.begin(), samples.end());
  REQUIRE(h.count() == samples.size());
  CHECK(h.min() == samples.front());
  CHECK(h.max() == samples.back());
  long double sum = 0;
  for (std::uint64_t v : samples)
    sum += static_cast<long double>(v);
  CHECK(h.mean() == Approx(static_cast<double>(sum / samples.size())).epsilon(1e-12));
  for (double q : kQuantiles) {
    const auto exact = static_cast<double>(exact_quantile(samples, q));
    const auto got = static_cast<double>(h.value_at_quantile(q));
    INFO("q=" << q << " exact=" << exact << " got=" << got);
    CHECK(std::abs(got - exact) <= 0.01 * exact);
  }
}

}  // namespace

TEST_CASE("histogram bucket geometry", "[histogram]") {
  // Exact below 256.
  for (std::uint64_t v = 0; v < 256; ++v) {
    CHECK(LatencyHistogram::bucket_index(v) == v);
    CHECK(LatencyHistogram::bucket_width(v) == 1);
  }
  // Buckets are contiguous, ordered, and never wider than 1/128 of their lowest value.
  std::uint64_t expected_lowest = 0;
  for (std::size_t i = 0; i < LatencyHistogram::kBucketCount; ++i) {
    const std::uint64_t lo = LatencyHistogram::bucket_lowest(i);
    const std::uint64_t w = LatencyHistogram::bucket_width(i);
    REQUIRE(lo == expected_lowest);
    REQUIRE(LatencyHistogram::bucket_index(lo) == i);
    REQUIRE(LatencyHistogram::bucket_index(lo + w - 1) == i);
    if (i >= 256) REQUIRE(w * 128 <= lo);
    expected_lowest = lo + w;
  }
  CHECK(expected_lowest - 1 == LatencyHistogram::kMaxTrackableUs);
}

TEST_CASE("histogram empty and single values", "[histogram]") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0.0);
  CHECK(h.value_at_quantile(0.5) == 0);

  h.record(123456);
  CHECK(h.count() == 1);
  for (double q : kQuantiles)
    CHECK(h.value_at_quantile(q) == 123456);  // clamped to [min, max]
  CHECK(h.mean() == 123456.0);

  h.reset();
  CHECK(h.count() == 0);
  h.record(0);
  CHECK(h.value_at_quantile(0.99) == 0);
}

TEST_CASE("histogram small values are exact", "[histogram]") {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100; ++v)
    h.record(v);
  CHECK(h.value_at_quantile(0.5) == 50);
  CHECK(h.value_at_quantile(0.9) == 90);
  CHECK(h.value_at_quantile(0.99) == 99);
  CHECK(h.value_at_quantile(0.999) == 100);
  CHECK(h.value_at_quantile(0.0) == 1);
  CHECK(h.value_at_quantile(1.0) == 100);
  CHECK(h.mean() == Approx(50.5));
}

TEST_CASE("histogram percentiles within 1% on known distributions", "[histogram]") {
  std::mt19937_64 rng(42);
  constexpr std::size_t kSamples = 200'000;

  SECTION("uniform 1 us .. 1 s") {
    std::uniform_int_distribution<std::uint64_t> d(1, 1'000'000);
    std::vector<std::uint64_t> s(kSamples);
    for (auto& v : s)
      v = d(rng);
    check_accuracy(std::move(s));
  }
  SECTION("exponential, mean 2 ms") {
    std::exponential_distribution<double> d(1.0 / 2000.0);
    std::vector<std::uint64_t> s(kSamples);
    for (auto& v : s)
      v = static_cast<std::uint64_t>(d(rng));
    check_accuracy(std::move(s));
  }
  SECTION("log-normal with a long tail") {
    std::lognormal_distribution<double> d(std::log(500.0), 1.5);
    std::vector<std::uint64_t> s(kSamples);
    for (auto& v : s)
      v = static_cast<std::uint64_t>(d(rng));
    check_accuracy(std::move(s));
  }
  SECTION("bimodal: fast path and slow fsyncs") {
    std::normal_distribution<double> fast(150, 20);
    std::normal_distribution<double> slow(8000, 1500);
    std::bernoulli_distribution pick_slow(0.05);
    std::vector<std::uint64_t> s(kSamples);
    for (auto& v : s)
      v = static_cast<std::uint64_t>(std::max(1.0, pick_slow(rng) ? slow(rng) : fast(rng)));
    check_accuracy(std::move(s));
  }
  SECTION("every magnitude up to hours") {
    std::uniform_real_distribution<double> exponent(0, 33);  // 1 us .. ~2.4 h
    std::vector<std::uint64_t> s(kSamples);
    for (auto& v : s)
      v = static_cast<std::uint64_t>(std::exp2(exponent(rng)));
    check_accuracy(std::move(s));
  }
}

TEST_CASE("histogram merge equals recording everything in one", "[histogram]") {
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> d(1.0 / 5000.0);
  LatencyHistogram a, b, c, all;
  for (int i = 0; i < 50'000; ++i) {
    const auto v = static_cast<std::uint64_t>(d(rng));
    all.record(v);
    (i % 3 == 0 ? a : i % 3 == 1 ? b : c).record(v);
  }
  LatencyHistogram merged;
  merged.merge(a);
  merged.merge(b);
  merged.merge(c);
  merged.merge(LatencyHistogram{});  // merging an empty one changes nothing
  CHECK(merged.count() == all.count());
  CHECK(merged.min() == all.min());
  CHECK(merged.max() == all.max());
  CHECK(merged.mean() == Approx(all.mean()).epsilon(1e-12));
  for (double q : kQuantiles)
    CHECK(merged.value_at_quantile(q) == all.value_at_quantile(q));

  // Merging into an empty histogram copies it.
  LatencyHistogram copy;
  copy.merge(a);
  CHECK(copy.min() == a.min());
  CHECK(copy.value_at_quantile(0.5) == a.value_at_quantile(0.5));
}

TEST_CASE("histogram record_n and values beyond the trackable range", "[histogram]") {
  LatencyHistogram h;
  h.record_n(1000, 99);
  h.record_n(5, 0);  // no-op
  h.record(UINT64_MAX);
  CHECK(h.count() == 100);
  CHECK(h.min() == 1000);
  CHECK(h.max() == UINT64_MAX);
  CHECK(h.value_at_quantile(0.5) == Approx(1000).epsilon(0.01));
  CHECK(h.value_at_quantile(1.0) == UINT64_MAX);
  CHECK(LatencyHistogram::bucket_index(UINT64_MAX) == LatencyHistogram::kBucketCount - 1);
}
