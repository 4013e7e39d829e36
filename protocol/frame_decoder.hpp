// Incremental, I/O-free decoder for the three RCP framings: bytes in, then
// "need more" | one message | "close, because ...".
//
// Detection and validation follow protocol.md §3 and §5 exactly:
//  * at connection start, whitespace (SP HT LF CR) is skipped; "RCPX" → binary connection,
//    "RCP1" → legacy connection, "{" → jsonl connection, anything else → close;
//  * on binary/jsonl connections each message is read by its first byte ('R' → RCPX frame,
//    '{' → JSONL line, whitespace skipped, anything else → close); legacy connections carry
//    only RCP1 frames;
//  * RCPX header checks run in the order magic, version, flags, payload_len as soon as the
//    18 header bytes are buffered, before any payload is read; then the CRC when flagged.
//    (A wrong magic is already refused once its 4 bytes are there.)
//
// Memory is bounded: the decoder buffers at most one message (header + extension + payload,
// payload <= max_payload_bytes) beyond the bytes handed to it by the last commit().
// An oversized RCPX/RCP1 frame is refused from its header alone; an over-long JSONL line is
// refused as soon as more than max_payload_bytes of it are buffered without a LF (one extra
// byte is waited for when it is a CR, which may precede the LF).
//
// Thread-safety: none; one decoder per connection, used from that connection's strand.
#pragma once

#include "protocol/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace rstmdb::protocol {

enum class ConnectionKind : unsigned char { Undetermined, Binary, Jsonl, Legacy };

// Why the connection must be closed. Names (close_reason_name) double as the
// `reason` label of rstmdb_protocol_errors_total: bad_start and bad_message_start count as
// bad_magic there.
enum class CloseReason : unsigned char {
  BadStart,         // first bytes of the connection are not RCPX, RCP1 or '{'
  BadMessageStart,  // a message starts with a byte other than 'R', '{' or whitespace
  BadMagic,         // RCPX magic wrong (including RCP1 on a non-legacy connection)
  BadVersion,       // RCPX version != 1
  BadFlags,         // RCPX reserved flag bits set
  TooLarge,         // payload_len or JSONL line above the limit
  CrcMismatch,      // CRC check failed
};

// "bad_start", "bad_message_start", "bad_magic", "bad_version", "bad_flags", "too_large",
// "crc_mismatch".
std::string_view close_reason_name(CloseReason r) noexcept;
// The metric label: bad_magic | bad_version | bad_flags | too_large | crc.
std::string_view close_reason_metric(CloseReason r) noexcept;

struct NeedMore {};

struct DecodedMessage {
  Framing framing;
  // The payload bytes (for JSONL: the line without LF and without a trailing CR).
  // Valid until the next call to next(), prepare() or feed().
  std::string_view payload;
};

struct CloseConnection {
  CloseReason reason;
  std::string detail;  // human-readable, for the log line
};

using DecodeResult = std::variant<NeedMore, DecodedMessage, CloseConnection>;

class FrameDecoder {
 public:
  // max_payload_bytes: network.max_frame_bytes (<= kMaxPayloadBytes; larger values are clamped).
  explicit FrameDecoder(std::size_t max_payload_bytes = kMaxPayloadBytes);

  // Returns writable space of at least `min_bytes` placed after the buffered bytes (all the
  // free space, which may be more). Fill some prefix of it, then call commit() with the count
  // written. Invalidates the payload of the last DecodedMessage.
  std::span<char> prepare(std::size_t min_bytes);
  void commit(std::size_t bytes_written);

  // Convenience: prepare + copy + commit.
  void feed(std::string_view bytes);

  // Decodes the next complete message from the buffered bytes. After a CloseConnection
  // result every later call returns the same CloseConnection.
  DecodeResult next();

  ConnectionKind kind() const noexcept { return kind_; }

  // True while bytes of an unfinished message are buffered (EOF now means "close, partial
  // message discarded"). Whitespace between messages does not count.
  bool mid_message() const noexcept;

  // Bytes held in the buffer that next() has not consumed yet.
  std::size_t buffered_bytes() const noexcept { return end_ - begin_; }

 private:
  DecodeResult fail(CloseReason reason, std::string detail);
  DecodeResult payload_too_large(std::string_view framing, std::size_t payload_len);
  DecodeResult crc_mismatch(std::string_view framing, std::uint32_t expected, std::uint32_t actual);
  DecodeResult decode_rcpx();
  DecodeResult decode_rcp1();
  DecodeResult decode_jsonl();
  void reserve_tail(std::size_t min_bytes);

  std::size_t max_payload_;
  // Raw array rather than std::vector: growing must not zero-fill bytes the socket overwrites.
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0;
  std::size_t begin_ = 0;          // first unconsumed byte
  std::size_t end_ = 0;            // one past the last buffered byte
  std::size_t jsonl_scanned_ = 0;  // bytes of the current JSONL line already searched for LF
  ConnectionKind kind_ = ConnectionKind::Undetermined;
  std::variant<std::monostate, CloseConnection> closed_;
};

}  // namespace rstmdb::protocol
