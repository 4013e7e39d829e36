// RCP frame formats: the one place the byte layouts and their constants are written down.
//
// RCPX (binary, 18-byte header; every client but the docs minimal client):
//
//   offset size field        incoming rule                         server writes
//   0      4    magic        "RCPX" (52 43 50 58)                   "RCPX"
//   4      2    version      must be 1                              00 01
//   6      2    flags        bits 4-15 must be zero                 00 01 (CRC_PRESENT)
//   8      2    header_len   0-65535 extension bytes, skipped       00 00
//   10     4    payload_len  <= max payload (16 MiB)                exact length
//   14     4    crc32c       checked only if CRC_PRESENT            CRC32C(payload)
//   18     header_len        extension (opaque, discarded)
//   18+hl  payload_len       payload: one UTF-8 JSON object
//
// RCP1 (legacy, 16-byte header; the docs minimal client):
//
//   0      4    magic        "RCP1" (52 43 50 31)                   "RCP1"
//   4      4    flags        ignored                                00 01 00 00
//   8      4    payload_len  <= max payload                         exact length
//   12     4    crc32c       always verified                        CRC32C(payload)
//   16     payload_len       payload
//
// JSONL: one compact JSON object per line, terminated by LF (a CR before the LF is
// ignored); the line may be at most max payload bytes, not counting the terminator.
//
// All integers are unsigned big-endian. The CRC covers the payload bytes only.
// Connection-start detection and per-message framing: protocol.md §3.1 and §3.5,
// implemented by FrameDecoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rstmdb::protocol {

enum class Framing : unsigned char { Rcpx, Rcp1, Jsonl };

std::string_view framing_name(Framing f) noexcept;  // "rcpx", "rcp1", "jsonl"

inline constexpr std::string_view kRcpxMagic = "RCPX";
inline constexpr std::string_view kRcp1Magic = "RCP1";
inline constexpr std::size_t kMagicSize = 4;

inline constexpr std::size_t kRcpxHeaderSize = 18;
inline constexpr std::uint16_t kRcpxVersion = 1;
inline constexpr std::uint16_t kFlagCrcPresent = 0x0001;
inline constexpr std::uint16_t kFlagCompressed = 0x0002;  // accepted and ignored
inline constexpr std::uint16_t kFlagStream = 0x0004;      // accepted and ignored
inline constexpr std::uint16_t kFlagEndStream = 0x0008;   // accepted and ignored
inline constexpr std::uint16_t kFlagsReservedMask = 0xFFF0;

inline constexpr std::size_t kRcp1HeaderSize = 16;
// Outgoing RCP1 flags word: 00 01 00 00 (read as flags:u16=CRC_PRESENT, header_len:u16=0
// by the older description of the format).
inline constexpr std::uint32_t kRcp1OutgoingFlags = 0x00010000;

// Largest payload in either direction, and the default and maximum of
// network.max_frame_bytes. A payload of exactly this size is accepted.
inline constexpr std::size_t kMaxPayloadBytes = 16 * 1024 * 1024;
// Smallest configurable incoming limit (runtime.md §1.3).
inline constexpr std::size_t kMinConfigurablePayloadBytes = 4 * 1024;

// Largest encoded change-log entry (16 MiB - 64 KiB), so every event and read fits a frame.
inline constexpr std::size_t kMaxLogEntryBytes = kMaxPayloadBytes - 64 * 1024;

// Maximum JSON nesting depth accepted in any incoming payload.
inline constexpr std::size_t kMaxJsonDepth = 128;

// JSON the server stores (definitions, ctx, log entries, idempotency results, snapshots) is
// built from request values, which sit at least two levels down in a request (envelope,
// params) and so nest at most kMaxJsonDepth - 2 deep; the server wraps them in at most a few
// levels of its own (a log entry or result object around a ctx, a snapshot document). Stored
// JSON is re-read with this limit, so everything the server accepted it can read back.
inline constexpr std::size_t kStoredJsonWrapperLevels = 4;
inline constexpr std::size_t kMaxStoredJsonDepth = kMaxJsonDepth + kStoredJsonWrapperLevels;

}  // namespace rstmdb::protocol
