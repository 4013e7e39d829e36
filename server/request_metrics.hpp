// The per-request series of runtime.md §4.2, counted on the I/O threads:
//   rstmdb_requests_total{operation}            counter   every dispatched request, BATCH sub-ops too
//   rstmdb_request_duration_seconds{operation}  histogram decode → response queued
//   rstmdb_errors_total{code}                   counter   error responses, BATCH sub-op errors too
//   rstmdb_requests_in_flight                   gauge     decoded and not yet answered
// `operation` is one of the op names of protocol.md §6.1 or "UNKNOWN" (an index from
// Dispatcher::operation_index, never client text); `code` one of the 16 protocol codes. Every
// label value is present from startup, at 0.
//
// Cost: a request is a handful of relaxed atomic adds on counters owned by the calling thread
// (one shard per thread, kShards of them, padded to cache lines), so I/O threads never share a
// cache line and never take a lock; prometheus::Histogram::Observe takes a mutex and its
// counters are CAS loops on a shared double, which is why this path does not use them. The
// scrape sums the shards into prometheus-cpp's data model (collect()), and the text is written
// by prometheus-cpp's serializer like every other series. A scrape is not a snapshot across
// shards: a request counted during it may appear in one series and not yet in another; each
// histogram is consistent in itself (its _count is the sum of its buckets).
//
// Thread-safety: every member function may be called from any thread.
#pragma once

#include "protocol/error.hpp"
#include "server/dispatcher.hpp"

#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace rstmdb::server {

class RequestMetrics {
 public:
  // runtime.md §4.2 duration buckets (a superset of upstream's), in seconds.
  static constexpr std::array<double, 15> kDurationBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  static constexpr std::size_t kOperations = Dispatcher::kKnownOperationCount + 1;  // + UNKNOWN
  // Threads beyond this many share shards (still correct: the adds are atomic). The I/O
  // threads are at most 16 (network.io_threads), plus the engine's and the blocking pool's.
  static constexpr std::size_t kShards = 32;

  RequestMetrics();

  // A request was decoded (it is in flight until finished() or abandoned()).
  void received() noexcept { shard().in_flight.fetch_add(1, std::memory_order_relaxed); }
  // A request was answered after `duration`; `error` is the code of an error response.
  void finished(std::size_t operation, std::chrono::nanoseconds duration,
                std::optional<protocol::ErrorCode> error) noexcept;
  // Requests that will never be answered (their connection closed first).
  void abandoned(std::size_t count) noexcept {
    shard().in_flight.fetch_sub(static_cast<std::int64_t>(count), std::memory_order_relaxed);
  }
  // A BATCH element: counted as a request of its op, and its error, if any (no duration).
  void batch_element(std::size_t operation) noexcept;
  void batch_element_error(protocol::ErrorCode code) noexcept;

  // The four families, summed over the shards.
  std::vector<prometheus::MetricFamily> collect() const;

 private:
  static constexpr std::size_t kBuckets = kDurationBuckets.size() + 1;  // + the +Inf bucket
  using Counter = std::atomic<std::uint64_t>;
  struct OperationCounters {
    Counter requests{0};
    Counter duration_ns{0};
    std::array<Counter, kBuckets> buckets{};  // not cumulative; the last one is +Inf
  };
  struct alignas(64) Shard {
    std::array<OperationCounters, kOperations> operations{};
    std::array<Counter, protocol::kErrorCodeCount> errors{};
    std::atomic<std::int64_t> in_flight{0};
  };

  Shard& shard() noexcept;
  static std::size_t bucket_of(std::chrono::nanoseconds duration) noexcept;

  std::unique_ptr<std::array<Shard, kShards>> shards_;
};

}  // namespace rstmdb::server
