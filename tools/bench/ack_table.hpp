// What the watch workload's writers acknowledged, for the subscribers to check against.
//
// AckTable: for each log offset a writer got in an APPLY_EVENT response, the working-set
// instance it applied to, when the request was sent and when the response was read
// (nanoseconds on the bench's steady clock). Subscribers look an event's offset up to check its instance and
// to measure the delay from response to event. It is a ring of kCapacity slots indexed by offset: an event
// that arrives more than kCapacity offsets after its response finds a newer offset in its
// slot and counts as unmatched (no latency sample), one that arrives before its response
// finds an older one.
//
// Threads: any number of writer threads record (each offset once), any number of readers
// look up, concurrently. Each slot is a seqlock on its offset field, so a lookup never
// returns a torn entry.
//
// AckSet: an order-free fingerprint (count and a sum of mixed offsets) of a set of offsets,
// so a subscriber's stream can be compared with the writers' acknowledgements without
// storing either.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace rstmdb::bench {

class AckTable {
 public:
  // 2^21 offsets (64 MiB): at 100 000 applies/s a subscriber may lag 20 s and still match.
  static constexpr std::uint64_t kCapacity = std::uint64_t{1} << 21;

  enum class Lookup {
    Found,        // instance and time set
    NotYet,       // the offset's response has not been read yet
    Overwritten,  // the slot already holds a later offset
  };

  AckTable();

  struct Ack {
    std::uint64_t instance = 0;
    std::int64_t sent_ns = 0;
    std::int64_t response_ns = 0;
  };

  void record(std::uint64_t offset, const Ack& ack) noexcept;
  Lookup lookup(std::uint64_t offset, Ack& out) const noexcept;

 private:
  struct Slot {
    std::atomic<std::uint64_t> offset{0};  // 0: empty (log offsets start at 1); kBusy: being written
    std::atomic<std::uint64_t> instance{0};
    std::atomic<std::int64_t> sent_ns{0};
    std::atomic<std::int64_t> response_ns{0};
  };
  static constexpr std::uint64_t kBusy = ~std::uint64_t{0};
  std::unique_ptr<Slot[]> slots_;
};

struct AckSet {
  std::uint64_t count = 0;
  std::uint64_t fingerprint = 0;  // sum of mix(offset), mod 2^64
  std::uint64_t max_offset = 0;

  void add(std::uint64_t offset) noexcept;
  void merge(const AckSet& other) noexcept;
  bool operator==(const AckSet& other) const noexcept {
    return count == other.count && fingerprint == other.fingerprint;
  }
};

}  // namespace rstmdb::bench
