#include "tools/bench/stream_verifier.hpp"

namespace rstmdb::bench {

bool StreamVerifier::accept(std::uint64_t offset) noexcept {
  if (offset <= last_) {
    ++(offset == last_ ? check_.duplicates : check_.out_of_order);
    return false;
  }
  last_ = offset;
  ++check_.received;
  seen_.add(offset);
  return true;
}

void StreamVerifier::finish(const AckSet& final) noexcept {
  if (seen_.count < final.count) {
    check_.gaps = final.count - seen_.count;
  } else if (!(seen_ == final)) {
    // As many or more than acknowledged, but not the same set: at least one is foreign.
    check_.unexpected = seen_.count > final.count ? seen_.count - final.count : 1;
  }
}

}  // namespace rstmdb::bench
