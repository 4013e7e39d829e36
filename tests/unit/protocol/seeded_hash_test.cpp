#include "protocol/seeded_hash.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>

using rstmdb::protocol::seeded_hash;
using rstmdb::protocol::SeededStringHash;
using rstmdb::protocol::siphash;

TEST_CASE("SipHash-2-4 matches the reference vectors (key 00..0f, message 00..n-1)") {
  // From the SipHash paper's reference implementation (vectors.h), first entries.
  const std::uint64_t k0 = 0x0706050403020100ull;
  const std::uint64_t k1 = 0x0f0e0d0c0b0a0908ull;
  const std::uint64_t expected[] = {0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull,
                                    0x85676696d7fb7e2dull, 0xcf2794e0277187b7ull, 0x18765564cd99a68dull,
                                    0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull, 0x93f5f5799a932462ull};
  std::string message;
  for (std::size_t n = 0; n < std::size(expected); ++n) {
    CHECK(siphash(k0, k1, message, 2, 4) == expected[n]);
    message.push_back(static_cast<char>(n));
  }
}

TEST_CASE("seeded_hash is deterministic within the process, keyed, and spreads its input") {
  CHECK(seeded_hash("instance-1") == seeded_hash("instance-1"));
  CHECK(seeded_hash("instance-1") != seeded_hash("instance-2"));
  // Keyed: not the unkeyed (zero-key) value of the same input.
  CHECK(seeded_hash("instance-1") != siphash(0, 0, "instance-1"));
  // Every length class (the tail handling) and a zero byte inside.
  std::unordered_set<std::uint64_t> seen;
  std::string s;
  for (int n = 0; n < 64; ++n) {
    seen.insert(seeded_hash(s));
    s.push_back(n == 10 ? '\0' : 'a');
  }
  CHECK(seen.size() == 64);
  const SeededStringHash h;
  CHECK(h(std::string("abc")) == h(std::string_view("abc")));
}

// libstdc++ keeps each node's hash code in a std::unordered_map/set only when the hasher may
// throw; with SipHash, a table without the codes rehashes every node a lookup passes in a
// bucket (seeded_hash.hpp). This is the property that decides it.
static_assert(!std::is_nothrow_invocable_v<const SeededStringHash&, std::string_view>,
              "SeededStringHash must not be noexcept, or hash tables stop caching its codes");
static_assert(!std::is_nothrow_invocable_v<const SeededStringHash&, const std::string&>,
              "SeededStringHash must not be noexcept, or hash tables stop caching its codes");
