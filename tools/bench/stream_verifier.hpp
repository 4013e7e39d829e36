// The order and completeness checks of one subscriber's event stream (docs/bench.md "Watch").
//
// accept() takes each event's offset as it arrives: offsets must strictly increase (a repeat
// is a duplicate, a smaller one out of order; neither is counted as received). Once the
// writers have stopped, finish() compares the set of offsets received with the set the
// writers acknowledged (AckSet: count and fingerprint, both order-free): fewer received is
// gaps, a different set is unexpected events. A subscriber is complete when it has received
// the last acknowledged offset (caught_up()).
//
// Thread-safety: none; one per subscriber, used on its thread.
#pragma once

#include "tools/bench/ack_table.hpp"
#include "tools/bench/report.hpp"

#include <cstdint>

namespace rstmdb::bench {

class StreamVerifier {
 public:
  // `subscribed_at`: WATCH_ALL's wal_offset; live delivery starts above it.
  explicit StreamVerifier(std::uint64_t subscribed_at = 0) noexcept : last_(subscribed_at) {}

  // Returns true when the event is new and in order (then counted as received).
  bool accept(std::uint64_t offset) noexcept;
  bool caught_up(const AckSet& final) const noexcept { return last_ >= final.max_offset; }
  // Call once, when caught_up(final): sets gaps / unexpected.
  void finish(const AckSet& final) noexcept;

  std::uint64_t last_offset() const noexcept { return last_; }
  StreamCheck& check() noexcept { return check_; }
  const StreamCheck& check() const noexcept { return check_; }

 private:
  std::uint64_t last_;
  AckSet seen_;
  StreamCheck check_;
};

}  // namespace rstmdb::bench
