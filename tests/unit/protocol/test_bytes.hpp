// Helpers shared by the protocol tests: hex literals and hand-built frames. The frames are
// assembled byte by byte here, independently of frame_encoder, so encoder bugs cannot hide
// decoder bugs.
#pragma once

#include "protocol/crc32c.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace rstmdb::protocol::test {

// "52 43 50 58" -> "RCPX". Whitespace between digits is ignored.
inline std::string from_hex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else if (c == ' ' || c == '\n') {
      continue;
    } else {
      throw std::invalid_argument("bad hex digit");
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

inline void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Fluent, so each test names only the fields it changes.
struct RcpxSpec {
  std::uint16_t version_ = 1;
  std::uint16_t flags_ = 0x0001;
  std::string extension_;
  std::optional<std::uint32_t> payload_len_;  // default: the real length
  std::optional<std::uint32_t> crc_;          // default: the correct CRC

  RcpxSpec& version(std::uint16_t v) {
    version_ = v;
    return *this;
  }
  RcpxSpec& flags(std::uint16_t v) {
    flags_ = v;
    return *this;
  }
  RcpxSpec& extension(std::string v) {
    extension_ = std::move(v);
    return *this;
  }
  RcpxSpec& payload_len(std::uint32_t v) {
    payload_len_ = v;
    return *this;
  }
  RcpxSpec& crc(std::uint32_t v) {
    crc_ = v;
    return *this;
  }
};

inline std::string rcpx_frame(std::string_view payload, const RcpxSpec& spec = {}) {
  std::string f = "RCPX";
  put_be(f, spec.version_, 2);
  put_be(f, spec.flags_, 2);
  put_be(f, spec.extension_.size(), 2);
  put_be(f, spec.payload_len_.value_or(static_cast<std::uint32_t>(payload.size())), 4);
  put_be(f, spec.crc_.value_or(crc32c(payload)), 4);
  f += spec.extension_;
  f += payload;
  return f;
}

inline std::string rcp1_frame(std::string_view payload, std::uint32_t flags_word = 0,
                              std::optional<std::uint32_t> crc = std::nullopt) {
  std::string f = "RCP1";
  put_be(f, flags_word, 4);
  put_be(f, payload.size(), 4);
  put_be(f, crc.value_or(crc32c(payload)), 4);
  f += payload;
  return f;
}

inline constexpr std::string_view kPingRequest = R"({"type":"request","id":"1","op":"PING","params":{}})";
inline constexpr std::string_view kPongResponse =
    R"({"type":"response","id":"1","status":"ok","result":{"pong":true}})";

}  // namespace rstmdb::protocol::test
