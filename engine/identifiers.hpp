// Server-generated identifiers and the clock (protocol.md §6.2, §6.6).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace rstmdb::engine {

// Unix epoch milliseconds, the unit of every timestamp the server writes.
inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A random UUID v4, lowercase and hyphenated (36 characters). Thread-safe.
std::string uuid_v4();

// Eight lowercase hex digits, zero-padded (checksums).
std::string hex8(std::uint32_t v);

}  // namespace rstmdb::engine
