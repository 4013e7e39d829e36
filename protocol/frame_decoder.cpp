#include "protocol/frame_decoder.hpp"

#include "protocol/crc32c.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <utility>

namespace rstmdb::protocol {
namespace {

// First allocation; small enough that thousands of idle connections stay cheap.
constexpr std::size_t kInitialCapacity = 16 * 1024;
// An empty buffer bigger than this is released, so one large message does not pin its
// memory for the rest of a long-lived connection.
constexpr std::size_t kRetainedCapacity = 256 * 1024;

constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::uint16_t load_u16(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>((u[0] << 8) | u[1]);
}

std::uint32_t load_u32(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) | u[3];
}

// Log details are built only on the close path, so they favour readability over speed.
void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_hex(std::string& out, std::uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "0x";
  for (int i = digits - 1; i >= 0; --i)
    out.push_back(kHex[(v >> (4 * i)) & 0xF]);
}

std::string hex_bytes(const char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(p[i]);
    if (i > 0) s.push_back(' ');
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 0xF]);
  }
  return s;
}

}  // namespace

std::string_view close_reason_name(CloseReason r) noexcept {
  switch (r) {
    case CloseReason::BadStart:
      return "bad_start";
    case CloseReason::BadMessageStart:
      return "bad_message_start";
    case CloseReason::BadMagic:
      return "bad_magic";
    case CloseReason::BadVersion:
      return "bad_version";
    case CloseReason::BadFlags:
      return "bad_flags";
    case CloseReason::TooLarge:
      return "too_large";
    case CloseReason::CrcMismatch:
      return "crc_mismatch";
  }
  return "unknown";
}

std::string_view close_reason_metric(CloseReason r) noexcept {
  switch (r) {
    case CloseReason::BadStart:
    case CloseReason::BadMessageStart:
    case CloseReason::BadMagic:
      return "bad_magic";
    case CloseReason::BadVersion:
      return "bad_version";
    case CloseReason::BadFlags:
      return "bad_flags";
    case CloseReason::TooLarge:
      return "too_large";
    case CloseReason::CrcMismatch:
      return "crc";
  }
  return "bad_magic";
}

FrameDecoder::FrameDecoder(std::size_t max_payload_bytes)
    : max_payload_(std::min(max_payload_bytes, kMaxPayloadBytes)) {}

void FrameDecoder::reserve_tail(std::size_t min_bytes) {
  const std::size_t live = end_ - begin_;
  if (live == 0) {
    begin_ = end_ = 0;
    if (cap_ > kRetainedCapacity && min_bytes <= kRetainedCapacity) {
      buf_.reset();
      cap_ = 0;
    }
  }
  if (cap_ - end_ >= min_bytes) return;
  // Sliding the live bytes down costs `live`; doing it only while they fill at most half the
  // buffer means each move is paid for by at least as many freshly committed bytes.
  if (live + min_bytes <= cap_ && live <= cap_ / 2) {
    std::memmove(buf_.get(), buf_.get() + begin_, live);
  } else {
    const std::size_t new_cap = std::max({live + min_bytes, cap_ * 2, kInitialCapacity});
    std::unique_ptr<char[]> grown(new char[new_cap]);
    if (live > 0) std::memcpy(grown.get(), buf_.get() + begin_, live);
    buf_ = std::move(grown);
    cap_ = new_cap;
  }
  begin_ = 0;
  end_ = live;
}

std::span<char> FrameDecoder::prepare(std::size_t min_bytes) {
  reserve_tail(min_bytes);
  return {buf_.get() + end_, cap_ - end_};
}

void FrameDecoder::commit(std::size_t bytes_written) {
  assert(bytes_written <= cap_ - end_);
  end_ += bytes_written;
}

void FrameDecoder::feed(std::string_view bytes) {
  if (bytes.empty()) return;
  auto span = prepare(bytes.size());
  std::memcpy(span.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

bool FrameDecoder::mid_message() const noexcept {
  for (std::size_t i = begin_; i < end_; ++i) {
    if (!is_space(buf_[i])) return true;
  }
  return false;
}

DecodeResult FrameDecoder::fail(CloseReason reason, std::string detail) {
  closed_ = CloseConnection{reason, std::move(detail)};
  return std::get<CloseConnection>(closed_);
}

DecodeResult FrameDecoder::next() {
  if (const auto* closed = std::get_if<CloseConnection>(&closed_)) return *closed;

  // begin_ always sits at a message boundary or on the '{' of a JSONL line in progress, so
  // this never eats bytes inside a message.
  while (begin_ < end_ && is_space(buf_[begin_]))
    ++begin_;
  if (begin_ == end_) {
    begin_ = end_ = 0;
    return NeedMore{};
  }

  const char* p = buf_.get() + begin_;
  const std::size_t avail = end_ - begin_;
  switch (kind_) {
    case ConnectionKind::Undetermined:
      if (*p == '{') {
        kind_ = ConnectionKind::Jsonl;
        return decode_jsonl();
      }
      if (*p == 'R') {
        if (avail < kMagicSize) return NeedMore{};
        const std::string_view magic(p, kMagicSize);
        if (magic == kRcpxMagic) {
          kind_ = ConnectionKind::Binary;
          return decode_rcpx();
        }
        if (magic == kRcp1Magic) {
          kind_ = ConnectionKind::Legacy;
          return decode_rcp1();
        }
      }
      return fail(CloseReason::BadStart, "connection starts with " +
                                             hex_bytes(p, std::min(avail, kMagicSize)) +
                                             " (expected RCPX, RCP1 or '{')");
    case ConnectionKind::Legacy:
      if (*p != 'R') {
        return fail(CloseReason::BadMessageStart,
                    "message starts with byte " + hex_bytes(p, 1) + " on an RCP1 connection");
      }
      return decode_rcp1();
    case ConnectionKind::Binary:
    case ConnectionKind::Jsonl:
      if (*p == 'R') return decode_rcpx();
      if (*p == '{') return decode_jsonl();
      return fail(CloseReason::BadMessageStart,
                  "message starts with byte " + hex_bytes(p, 1) + " (expected 'R' or '{')");
  }
  return NeedMore{};
}

DecodeResult FrameDecoder::payload_too_large(std::string_view framing, std::size_t payload_len) {
  std::string d(framing);
  d += " payload_len ";
  append_uint(d, payload_len);
  d += " exceeds limit ";
  append_uint(d, max_payload_);
  return fail(CloseReason::TooLarge, std::move(d));
}

DecodeResult FrameDecoder::crc_mismatch(std::string_view framing, std::uint32_t expected,
                                        std::uint32_t actual) {
  std::string d(framing);
  d += " CRC32C mismatch: header ";
  append_hex(d, expected, 8);
  d += ", payload ";
  append_hex(d, actual, 8);
  return fail(CloseReason::CrcMismatch, std::move(d));
}

DecodeResult FrameDecoder::decode_rcpx() {
  const char* p = buf_.get() + begin_;
  const std::size_t avail = end_ - begin_;
  if (avail < kMagicSize) return NeedMore{};
  if (std::string_view(p, kMagicSize) != kRcpxMagic) {
    return fail(CloseReason::BadMagic, "frame magic " + hex_bytes(p, kMagicSize) + " (expected RCPX)");
  }
  if (avail < kRcpxHeaderSize) return NeedMore{};

  const std::uint16_t version = load_u16(p + 4);
  if (version != kRcpxVersion) {
    std::string d = "RCPX version ";
    append_uint(d, version);
    return fail(CloseReason::BadVersion, std::move(d));
  }
  const std::uint16_t flags = load_u16(p + 6);
  if ((flags & kFlagsReservedMask) != 0) {
    std::string d = "RCPX reserved flag bits set: flags ";
    append_hex(d, flags, 4);
    return fail(CloseReason::BadFlags, std::move(d));
  }
  const std::size_t header_len = load_u16(p + 8);
  const std::size_t payload_len = load_u32(p + 10);
  if (payload_len > max_payload_) return payload_too_large("RCPX", payload_len);

  const std::size_t total = kRcpxHeaderSize + header_len + payload_len;
  if (avail < total) return NeedMore{};
  const char* payload = p + kRcpxHeaderSize + header_len;
  if ((flags & kFlagCrcPresent) != 0) {
    const std::uint32_t expected = load_u32(p + 14);
    const std::uint32_t actual = crc32c(payload, payload_len);
    if (expected != actual) return crc_mismatch("RCPX", expected, actual);
  }
  begin_ += total;
  return DecodedMessage{Framing::Rcpx, std::string_view(payload, payload_len)};
}

DecodeResult FrameDecoder::decode_rcp1() {
  const char* p = buf_.get() + begin_;
  const std::size_t avail = end_ - begin_;
  if (avail < kMagicSize) return NeedMore{};
  if (std::string_view(p, kMagicSize) != kRcp1Magic) {
    return fail(CloseReason::BadMagic,
                "frame magic " + hex_bytes(p, kMagicSize) + " on an RCP1 connection (expected RCP1)");
  }
  if (avail < kRcp1HeaderSize) return NeedMore{};

  const std::size_t payload_len = load_u32(p + 8);
  if (payload_len > max_payload_) return payload_too_large("RCP1", payload_len);
  const std::size_t total = kRcp1HeaderSize + payload_len;
  if (avail < total) return NeedMore{};
  const char* payload = p + kRcp1HeaderSize;
  const std::uint32_t expected = load_u32(p + 12);
  const std::uint32_t actual = crc32c(payload, payload_len);
  if (expected != actual) return crc_mismatch("RCP1", expected, actual);
  begin_ += total;
  return DecodedMessage{Framing::Rcp1, std::string_view(payload, payload_len)};
}

DecodeResult FrameDecoder::decode_jsonl() {
  const char* p = buf_.get() + begin_;
  const std::size_t avail = end_ - begin_;
  // The longest acceptable line is max_payload_ content bytes, a CR, then the LF, so the LF
  // of any acceptable line lies within the first max_payload_ + 2 bytes.
  const std::size_t window = std::min(avail, max_payload_ + 2);
  if (jsonl_scanned_ < window) {
    const void* lf = std::memchr(p + jsonl_scanned_, '\n', window - jsonl_scanned_);
    if (lf != nullptr) {
      const std::size_t line_len = static_cast<const char*>(lf) - p;
      std::size_t content = line_len;
      if (content > 0 && p[content - 1] == '\r') --content;
      if (content > max_payload_) {
        std::string d = "JSONL line longer than limit ";
        append_uint(d, max_payload_);
        return fail(CloseReason::TooLarge, std::move(d));
      }
      jsonl_scanned_ = 0;
      begin_ += line_len + 1;
      return DecodedMessage{Framing::Jsonl, std::string_view(p, content)};
    }
    jsonl_scanned_ = window;
  }
  // No LF yet. Close as soon as the line is certainly too long: limit + 1 bytes whose last is
  // not a CR (that CR could still be the one before the LF), or limit + 2 bytes.
  if (avail >= max_payload_ + 2 || (avail == max_payload_ + 1 && p[max_payload_] != '\r')) {
    std::string d = "JSONL line longer than limit ";
    append_uint(d, max_payload_);
    return fail(CloseReason::TooLarge, std::move(d));
  }
  return NeedMore{};
}

}  // namespace rstmdb::protocol
