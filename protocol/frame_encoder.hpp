// Encodes outgoing messages in each framing (layouts in frame.hpp).
#pragma once

#include "protocol/frame.hpp"

#include <initializer_list>
#include <string>
#include <string_view>

namespace rstmdb::protocol {

// Appends one complete message carrying `payload` to `out`:
//  Rcpx:  18-byte header (version 1, flags CRC_PRESENT, header_len 0, CRC32C) + payload
//  Rcp1:  16-byte header (flags word 00 01 00 00, CRC32C) + payload
//  Jsonl: payload + '\n' (payload must already be compact JSON without raw newlines)
// Precondition: payload.size() <= kMaxPayloadBytes.
void append_frame(std::string& out, Framing framing, std::string_view payload);

// As append_frame, for a payload given as consecutive parts (their concatenation is the
// payload): server-initiated events are a per-subscription prefix around a body shared by every
// subscriber, framed without first assembling them. Same precondition on the total size.
void append_frame_parts(std::string& out, Framing framing, std::initializer_list<std::string_view> parts);

// Bytes append_frame adds for a payload of `payload_size` bytes.
std::size_t framed_size(Framing framing, std::size_t payload_size) noexcept;

}  // namespace rstmdb::protocol
