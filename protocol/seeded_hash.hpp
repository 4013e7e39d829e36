// A keyed hash for hash tables whose keys a client chooses (instance ids, idempotency keys,
// subscription filters): SipHash-1-3 with a 128-bit key drawn at random once per process, so a
// client cannot precompute keys that collide and turn O(1) lookups into O(n) chains (hash
// flooding). std::hash<std::string> is unkeyed and must not be used for such tables.
//
// Thread-safety: the key is set once, before first use (a function-local static); hashing is
// pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rstmdb::protocol {

// SipHash-1-3 of `data` under the process key.
std::uint64_t seeded_hash(std::string_view data) noexcept;

// SipHash-c-d of `data` under an explicit key: (1, 3) is what seeded_hash uses; (2, 4) is the
// variant the reference test vectors are published for.
std::uint64_t siphash(std::uint64_t k0, std::uint64_t k1, std::string_view data, int compression_rounds = 1,
                      int finalization_rounds = 3) noexcept;

// Hasher for std::unordered_map/set keyed by std::string (heterogeneous lookup by
// std::string_view with a matching std::equal_to<>).
//
// Deliberately not noexcept: libstdc++ stores each node's hash code only for a hasher that may
// throw (or that it knows to be slow, as std::hash<std::string>). Without the stored code a
// lookup rehashes every node it passes in a bucket to see where the bucket ends, and with
// SipHash that was most of the instance cache's lookup cost (perf, non-durable APPLY_EVENT
// 4 x 16: 5% of the sequencer). seeded_hash_test checks that the tables keep the codes.
struct SeededStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return seeded_hash(s); }
  std::size_t operator()(const std::string& s) const { return seeded_hash(s); }
};

}  // namespace rstmdb::protocol
