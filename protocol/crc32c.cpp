#include "protocol/crc32c.hpp"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define RSTMDB_CRC32C_X86 1
#endif

namespace rstmdb::protocol {
namespace {

constexpr std::uint32_t kPolyReflected = 0x82F63B78u;

// Slicing-by-8: table[k][b] is the CRC contribution of byte b followed by k zero bytes, so
// eight bytes fold in with eight independent lookups instead of a chain of eight.
using SliceTables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr SliceTables make_tables() {
  SliceTables t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int i = 0; i < 8; ++i)
      c = (c & 1u) ? (c >> 1) ^ kPolyReflected : c >> 1;
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::size_t b = 0; b < 256; ++b)
      t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
  }
  return t;
}

constexpr SliceTables kTables = make_tables();

// Operates on the raw (pre-inverted) register.
std::uint32_t table_update(std::uint32_t state, const unsigned char* p, std::size_t n) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    while (n >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      word ^= state;
      state = kTables[7][word & 0xFF] ^ kTables[6][(word >> 8) & 0xFF] ^ kTables[5][(word >> 16) & 0xFF] ^
              kTables[4][(word >> 24) & 0xFF] ^ kTables[3][(word >> 32) & 0xFF] ^
              kTables[2][(word >> 40) & 0xFF] ^ kTables[1][(word >> 48) & 0xFF] ^ kTables[0][word >> 56];
      p += 8;
      n -= 8;
    }
  }
  while (n-- > 0)
    state = (state >> 8) ^ kTables[0][(state ^ *p++) & 0xFFu];
  return state;
}

#ifdef RSTMDB_CRC32C_X86
__attribute__((target("sse4.2"))) std::uint32_t hw_update(std::uint32_t state, const unsigned char* p,
                                                          std::size_t n) noexcept {
  // Byte steps until 8-aligned so the 64-bit loads never straddle a cache line.
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0) {
    state = _mm_crc32_u8(state, *p++);
    --n;
  }
  // One dependent chain: about 8 bytes per 3 cycles, several GB/s, which is far more than a
  // connection delivers; interleaved streams would need a CRC-combine step for little gain.
  std::uint64_t s64 = state;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    s64 = _mm_crc32_u64(s64, w);
    p += 8;
    n -= 8;
  }
  state = static_cast<std::uint32_t>(s64);
  while (n-- > 0)
    state = _mm_crc32_u8(state, *p++);
  return state;
}
#endif

bool detect_hardware() noexcept {
#ifdef RSTMDB_CRC32C_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

using UpdateFn = std::uint32_t (*)(std::uint32_t, const unsigned char*, std::size_t) noexcept;

UpdateFn choose_update() noexcept {
#ifdef RSTMDB_CRC32C_X86
  if (detect_hardware()) return hw_update;
#endif
  return table_update;
}

// Decided once; a function-local static is initialised thread-safely on first use.
UpdateFn active_update() noexcept {
  static const UpdateFn fn = choose_update();
  return fn;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size) noexcept {
  return crc32c_extend(0, data, size);
}

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size) noexcept {
  return ~active_update()(~crc, static_cast<const unsigned char*>(data), size);
}

std::uint32_t crc32c_table(std::uint32_t crc, const void* data, std::size_t size) noexcept {
  return ~table_update(~crc, static_cast<const unsigned char*>(data), size);
}

std::uint32_t crc32c_hardware(std::uint32_t crc, const void* data, std::size_t size) noexcept {
#ifdef RSTMDB_CRC32C_X86
  return ~hw_update(~crc, static_cast<const unsigned char*>(data), size);
#else
  return crc32c_table(crc, data, size);
#endif
}

bool crc32c_hardware_available() noexcept {
  static const bool available = detect_hardware();
  return available;
}

}  // namespace rstmdb::protocol
