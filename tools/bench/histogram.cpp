#include "tools/bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace rstmdb::bench {

LatencyHistogram::LatencyHistogram() : counts_(kBucketCount, 0) {}

std::size_t LatencyHistogram::bucket_index(std::uint64_t v) noexcept {
  if (v < kExactLimit) return static_cast<std::size_t>(v);
  if (v > kMaxTrackableUs) v = kMaxTrackableUs;
  const unsigned exponent = static_cast<unsigned>(std::bit_width(v)) - 1;  // >= kExactBits
  const unsigned shift = exponent - (kExactBits - 1);
  const std::uint64_t mantissa = v >> shift;  // in [kSubBuckets, 2 * kSubBuckets)
  return static_cast<std::size_t>(kExactLimit + (exponent - kExactBits) * kSubBuckets +
                                  (mantissa - kSubBuckets));
}

std::uint64_t LatencyHistogram::bucket_lowest(std::size_t index) noexcept {
  if (index < kExactLimit) return index;
  const std::size_t j = index - kExactLimit;
  const unsigned exponent = kExactBits + static_cast<unsigned>(j / kSubBuckets);
  const std::uint64_t mantissa = kSubBuckets + j % kSubBuckets;
  return mantissa << (exponent - (kExactBits - 1));
}

std::uint64_t LatencyHistogram::bucket_width(std::size_t index) noexcept {
  if (index < kExactLimit) return 1;
  const unsigned exponent = kExactBits + static_cast<unsigned>((index - kExactLimit) / kSubBuckets);
  return std::uint64_t{1} << (exponent - (kExactBits - 1));
}

void LatencyHistogram::record_n(std::uint64_t v, std::uint64_t n) noexcept {
  if (n == 0) return;
  counts_[bucket_index(v)] += n;
  count_ += n;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  sum_ += static_cast<long double>(v) * static_cast<long double>(n);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < kBucketCount; ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

double LatencyHistogram::mean() const noexcept {
  return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

std::uint64_t LatencyHistogram::value_at_quantile(double q) const noexcept {
  if (count_ == 0) return 0;
  if (!(q > 0.0)) return min_;  // also catches NaN
  if (q >= 1.0) return max_;
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t middle = bucket_lowest(i) + (bucket_width(i) - 1) / 2;
      return std::clamp(middle, min_, max_);
    }
  }
  return max_;
}

}  // namespace rstmdb::bench
