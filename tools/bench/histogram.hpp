// Log-linear latency histogram in whole microseconds, mergeable across threads.
//
// Layout (HdrHistogram-like): values 0..255 each have their own bucket (exact). Above that,
// every power-of-two range [2^e, 2^(e+1)) is split into 128 equal buckets of width 2^(e-7),
// so a bucket is never wider than 1/128 of the values it holds. A quantile is reported as
// the middle of its bucket, clamped to [min, max]: relative error <= 1/256 (0.4 %), well
// inside the 1 % the bench promises (runtime.md §2.3). min, max and mean are exact.
//
// Values above kMaxTrackableUs (about 12.7 days) are counted in the last bucket; max() still
// reports the real value.
//
// Memory: about 35 KiB per histogram (kBucketCount 64-bit counters), allocated up front so
// record() never allocates. Thread-safety: none; give each thread its own and merge().
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rstmdb::bench {

class LatencyHistogram {
 public:
  static constexpr unsigned kExactBits = 8;                         // 0..255 exact
  static constexpr std::uint64_t kExactLimit = 1ull << kExactBits;  // 256
  static constexpr std::uint64_t kSubBuckets = kExactLimit / 2;     // 128 per octave
  static constexpr unsigned kMaxExponent = 39;                      // top octave: [2^39, 2^40)
  static constexpr std::uint64_t kMaxTrackableUs = (1ull << (kMaxExponent + 1)) - 1;
  static constexpr std::size_t kBucketCount = kExactLimit + (kMaxExponent + 1 - kExactBits) * kSubBuckets;

  LatencyHistogram();

  void record(std::uint64_t value_us) noexcept { record_n(value_us, 1); }
  void record_n(std::uint64_t value_us, std::uint64_t n) noexcept;

  // Adds every sample of `other`; the result equals a histogram fed both sample streams.
  void merge(const LatencyHistogram& other) noexcept;
  void reset() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  // 0 when empty.
  std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept;

  // Nearest-rank quantile, q in [0, 1]: the smallest recorded value v such that at least
  // ceil(q * count) samples are <= v, within the error above. q <= 0 gives min(), q >= 1
  // gives max(); 0 when empty.
  std::uint64_t value_at_quantile(double q) const noexcept;

  // Bucket geometry, exposed for tests.
  static std::size_t bucket_index(std::uint64_t value_us) noexcept;
  static std::uint64_t bucket_lowest(std::size_t index) noexcept;
  static std::uint64_t bucket_width(std::size_t index) noexcept;

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  // Sum of recorded values; long double keeps it exact far beyond any realistic run.
  long double sum_ = 0;
};

}  // namespace rstmdb::bench
