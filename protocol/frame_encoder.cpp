#include "protocol/frame_encoder.hpp"

#include "protocol/crc32c.hpp"

#include <cassert>
#include <cstdint>

namespace rstmdb::protocol {
namespace {

void put_u16(char* p, std::uint16_t v) noexcept {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}

void put_u32(char* p, std::uint32_t v) noexcept {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

}  // namespace

std::size_t framed_size(Framing framing, std::size_t payload_size) noexcept {
  switch (framing) {
    case Framing::Rcpx:
      return kRcpxHeaderSize + payload_size;
    case Framing::Rcp1:
      return kRcp1HeaderSize + payload_size;
    case Framing::Jsonl:
      return payload_size + 1;
  }
  return payload_size;
}

void append_frame(std::string& out, Framing framing, std::string_view payload) {
  append_frame_parts(out, framing, {payload});
}

void append_frame_parts(std::string& out, Framing framing, std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (auto part : parts)
    size += part.size();
  assert(size <= kMaxPayloadBytes);
  const auto len = static_cast<std::uint32_t>(size);
  auto crc = [&] {
    std::uint32_t c = 0;
    for (auto part : parts)
      c = crc32c_extend(c, part.data(), part.size());
    return c;
  };
  out.reserve(out.size() + framed_size(framing, size));
  switch (framing) {
    case Framing::Rcpx: {
      char h[kRcpxHeaderSize];
      kRcpxMagic.copy(h, kMagicSize);
      put_u16(h + 4, kRcpxVersion);
      put_u16(h + 6, kFlagCrcPresent);
      put_u16(h + 8, 0);  // header_len: clients reject nothing else, so never send an extension
      put_u32(h + 10, len);
      put_u32(h + 14, crc());
      out.append(h, sizeof h);
      break;
    }
    case Framing::Rcp1: {
      char h[kRcp1HeaderSize];
      kRcp1Magic.copy(h, kMagicSize);
      put_u32(h + 4, kRcp1OutgoingFlags);
      put_u32(h + 8, len);
      put_u32(h + 12, crc());
      out.append(h, sizeof h);
      break;
    }
    case Framing::Jsonl:
      break;
  }
  for (auto part : parts)
    out.append(part);
  if (framing == Framing::Jsonl) out.push_back('\n');
}

}  // namespace rstmdb::protocol
