// CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, init 0xFFFFFFFF, final XOR 0xFFFFFFFF.
// Check value: crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rstmdb::protocol {

// CRC32C of `size` bytes. Uses the SSE4.2 crc32 instruction when the CPU has it (decided once,
// at first use), else a slicing table. Both paths give identical results.
std::uint32_t crc32c(const void* data, std::size_t size) noexcept;
inline std::uint32_t crc32c(std::string_view s) noexcept {
  return crc32c(s.data(), s.size());
}

// Continue a CRC: crc32c_extend(crc32c(a), b) == crc32c(a + b).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size) noexcept;

// The two implementations, exposed so tests can check they agree. Both take and return a
// finished CRC like crc32c_extend (start from 0): crc32c_table(0, "123456789", 9) == 0xE3069283.
std::uint32_t crc32c_table(std::uint32_t crc, const void* data, std::size_t size) noexcept;
// Precondition: crc32c_hardware_available().
std::uint32_t crc32c_hardware(std::uint32_t crc, const void* data, std::size_t size) noexcept;
bool crc32c_hardware_available() noexcept;

}  // namespace rstmdb::protocol
