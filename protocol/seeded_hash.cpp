#include "protocol/seeded_hash.hpp"

#include <sys/random.h>

#include <cstring>
#include <random>

namespace rstmdb::protocol {

namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

struct SipState {
  std::uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
};

std::uint64_t load_le64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

struct ProcessKey {
  std::uint64_t k0 = 0, k1 = 0;
  ProcessKey() {
    std::uint64_t k[2];
    // getrandom from the kernel's pool; std::random_device (the same source on Linux) if the
    // call is unavailable or interrupted.
    if (::getrandom(k, sizeof k, 0) != static_cast<ssize_t>(sizeof k)) {
      std::random_device rd;
      k[0] = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
      k[1] = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    }
    k0 = k[0];
    k1 = k[1];
  }
};

const ProcessKey& process_key() {
  static const ProcessKey key;
  return key;
}

}  // namespace

std::uint64_t siphash(std::uint64_t k0, std::uint64_t k1, std::string_view data, int compression_rounds,
                      int finalization_rounds) noexcept {
  SipState s{0x736f6d6570736575ull ^ k0, 0x646f72616e646f6dull ^ k1, 0x6c7967656e657261ull ^ k0,
             0x7465646279746573ull ^ k1};
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  const std::size_t full = n & ~std::size_t{7};
  for (std::size_t i = 0; i < full; i += 8) {
    const std::uint64_t m = load_le64(p + i);
    s.v3 ^= m;
    for (int r = 0; r < compression_rounds; ++r)
      s.round();
    s.v0 ^= m;
  }
  std::uint64_t last = static_cast<std::uint64_t>(n & 0xFF) << 56;
  for (std::size_t i = 0; i < (n & 7); ++i)
    last |= static_cast<std::uint64_t>(p[full + i]) << (8 * i);
  s.v3 ^= last;
  for (int r = 0; r < compression_rounds; ++r)
    s.round();
  s.v0 ^= last;
  s.v2 ^= 0xFF;
  for (int r = 0; r < finalization_rounds; ++r)
    s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

std::uint64_t seeded_hash(std::string_view data) noexcept {
  const ProcessKey& k = process_key();
  return siphash(k.k0, k.k1, data);
}

}  // namespace rstmdb::protocol
