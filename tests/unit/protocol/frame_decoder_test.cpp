#include "protocol/frame_decoder.hpp"

#include "test_bytes.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace rstmdb::protocol;
using namespace rstmdb::protocol::test;

namespace {

struct Msg {
  Framing framing;
  std::string payload;
  bool operator==(const Msg& o) const { return framing == o.framing && payload == o.payload; }
};

struct Drained {
  std::vector<Msg> msgs;
  std::optional<CloseConnection> close;
};

// Calls next() until it needs more input or closes.
void drain_into(FrameDecoder& d, Drained& out) {
  for (;;) {
    DecodeResult r = d.next();
    if (std::holds_alternative<NeedMore>(r)) return;
    if (auto* m = std::get_if<DecodedMessage>(&r)) {
      out.msgs.push_back({m->framing, std::string(m->payload)});
      continue;
    }
    out.close = std::get<CloseConnection>(r);
    return;
  }
}

Drained decode(std::string_view bytes, std::size_t limit = kMaxPayloadBytes) {
  FrameDecoder d(limit);
  d.feed(bytes);
  Drained out;
  drain_into(d, out);
  return out;
}

std::optional<CloseReason> close_reason(const Drained& d) {
  if (!d.close) return std::nullopt;
  return d.close->reason;
}

std::string jsonl(std::string_view payload) {
  return std::string(payload) + "\n";
}

// A JSONL-safe payload of exactly `size` bytes: starts with '{', no LF, no trailing CR.
std::string line_payload(std::size_t size, char fill = 'a') {
  std::string s(size, fill);
  if (size > 0) s[0] = '{';
  return s;
}

}  // namespace

TEST_CASE("close reason names and metric labels", "[frame_decoder]") {
  CHECK(close_reason_name(CloseReason::BadStart) == "bad_start");
  CHECK(close_reason_name(CloseReason::BadMessageStart) == "bad_message_start");
  CHECK(close_reason_name(CloseReason::BadMagic) == "bad_magic");
  CHECK(close_reason_name(CloseReason::BadVersion) == "bad_version");
  CHECK(close_reason_name(CloseReason::BadFlags) == "bad_flags");
  CHECK(close_reason_name(CloseReason::TooLarge) == "too_large");
  CHECK(close_reason_name(CloseReason::CrcMismatch) == "crc_mismatch");
  CHECK(close_reason_metric(CloseReason::BadStart) == "bad_magic");
  CHECK(close_reason_metric(CloseReason::BadMessageStart) == "bad_magic");
  CHECK(close_reason_metric(CloseReason::BadMagic) == "bad_magic");
  CHECK(close_reason_metric(CloseReason::BadVersion) == "bad_version");
  CHECK(close_reason_metric(CloseReason::BadFlags) == "bad_flags");
  CHECK(close_reason_metric(CloseReason::TooLarge) == "too_large");
  CHECK(close_reason_metric(CloseReason::CrcMismatch) == "crc");
}

TEST_CASE("the PING example decodes in all three framings (protocol.md §3.6)", "[frame_decoder]") {
  SECTION("RCPX, byte-exact from the spec's dump") {
    const std::string frame = from_hex(
        "52 43 50 58 00 01 00 01 00 00 00 00 00 33 c3 20"
        "09 c4 7b 22 74 79 70 65 22 3a 22 72 65 71 75 65"
        "73 74 22 2c 22 69 64 22 3a 22 31 22 2c 22 6f 70"
        "22 3a 22 50 49 4e 47 22 2c 22 70 61 72 61 6d 73"
        "22 3a 7b 7d 7d");
    FrameDecoder d;
    d.feed(frame);
    DecodeResult r = d.next();
    auto* m = std::get_if<DecodedMessage>(&r);
    REQUIRE(m != nullptr);
    CHECK(m->framing == Framing::Rcpx);
    CHECK(m->payload == kPingRequest);
    CHECK(d.kind() == ConnectionKind::Binary);
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    CHECK_FALSE(d.mid_message());
  }
  SECTION("RCP1 as the docs minimal client sends it (flags word 0)") {
    const std::string frame =
        from_hex("52 43 50 31 00 00 00 00 00 00 00 33 c3 20 09 c4") + std::string(kPingRequest);
    FrameDecoder d;
    d.feed(frame);
    DecodeResult r = d.next();
    auto* m = std::get_if<DecodedMessage>(&r);
    REQUIRE(m != nullptr);
    CHECK(m->framing == Framing::Rcp1);
    CHECK(m->payload == kPingRequest);
    CHECK(d.kind() == ConnectionKind::Legacy);
  }
  SECTION("JSONL") {
    FrameDecoder d;
    d.feed(std::string(kPingRequest) + "\x0a");
    DecodeResult r = d.next();
    auto* m = std::get_if<DecodedMessage>(&r);
    REQUIRE(m != nullptr);
    CHECK(m->framing == Framing::Jsonl);
    CHECK(m->payload == kPingRequest);
    CHECK(d.kind() == ConnectionKind::Jsonl);
  }
}

TEST_CASE("connection start detection (protocol.md §3.1)", "[frame_decoder]") {
  SECTION("leading whitespace is skipped") {
    auto r = decode(" \t\r\n" + rcpx_frame("{}"));
    REQUIRE(r.msgs.size() == 1);
    CHECK_FALSE(r.close);
    auto j = decode("\n\n \t\r\n" + jsonl("{}"));
    REQUIRE(j.msgs.size() == 1);
    CHECK(j.msgs[0].framing == Framing::Jsonl);
  }
  SECTION("'R' waits until 4 bytes are buffered") {
    FrameDecoder d;
    d.feed("R");
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    CHECK(d.kind() == ConnectionKind::Undetermined);
    CHECK(d.mid_message());
    d.feed("CP");
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    CHECK(d.kind() == ConnectionKind::Undetermined);
    d.feed("X");
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    CHECK(d.kind() == ConnectionKind::Binary);
    CHECK(d.mid_message());
  }
  SECTION("'R' followed by anything but CPX/CP1 closes once 4 bytes are known") {
    FrameDecoder d;
    d.feed("RCP");
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    d.feed("2");
    DecodeResult r = d.next();
    REQUIRE(std::holds_alternative<CloseConnection>(r));
    CHECK(std::get<CloseConnection>(r).reason == CloseReason::BadStart);
    CHECK_FALSE(std::get<CloseConnection>(r).detail.empty());
  }
  SECTION("anything else closes at once") {
    for (std::string start : std::initializer_list<std::string>{
             "GET / HTTP/1.1\r\n", "[1,2]\n", std::string("\0", 1), "\x16\x03\x01", "rcpx", "x"}) {
      CAPTURE(start);
      CHECK(close_reason(decode(start)) == CloseReason::BadStart);
    }
    CHECK(close_reason(decode("  \n x")) == CloseReason::BadStart);
  }
  SECTION("kinds") {
    FrameDecoder a, b, c;
    a.feed("RCPX");
    b.feed("RCP1");
    c.feed("{");
    (void)a.next();
    (void)b.next();
    (void)c.next();
    CHECK(a.kind() == ConnectionKind::Binary);
    CHECK(b.kind() == ConnectionKind::Legacy);
    CHECK(c.kind() == ConnectionKind::Jsonl);
  }
}

TEST_CASE("per-message framing on binary and jsonl connections (protocol.md §3.5)", "[frame_decoder]") {
  SECTION("Java pattern: JSONL connection that keeps sending RCPX frames") {
    const std::string stream = jsonl(R"({"id":"1","op":"HELLO"})") + rcpx_frame(R"({"id":"2","op":"AUTH"})") +
                               "\r\n" + jsonl(R"({"id":"3","op":"PING"})") +
                               rcpx_frame(R"({"id":"4","op":"BYE"})", RcpxSpec().extension("ext")) +
                               R"({"id":"5"})" + "\r\n";
    auto r = decode(stream);
    CHECK_FALSE(r.close);
    REQUIRE(r.msgs.size() == 5);
    CHECK(r.msgs[0] == Msg{Framing::Jsonl, R"({"id":"1","op":"HELLO"})"});
    CHECK(r.msgs[1] == Msg{Framing::Rcpx, R"({"id":"2","op":"AUTH"})"});
    CHECK(r.msgs[2] == Msg{Framing::Jsonl, R"({"id":"3","op":"PING"})"});
    CHECK(r.msgs[3] == Msg{Framing::Rcpx, R"({"id":"4","op":"BYE"})"});
    CHECK(r.msgs[4] == Msg{Framing::Jsonl, R"({"id":"5"})"});
  }
  SECTION("binary connection accepts JSONL lines") {
    auto r = decode(rcpx_frame("{}") + jsonl(R"({"a":1})") + rcpx_frame("{}"));
    CHECK_FALSE(r.close);
    REQUIRE(r.msgs.size() == 3);
    CHECK(r.msgs[1].framing == Framing::Jsonl);
  }
  SECTION("a message starting with another byte closes") {
    for (std::string bad : std::initializer_list<std::string>{"x", "[", std::string("\0", 1), "\x7f", "}"}) {
      CAPTURE(bad);
      auto r = decode(rcpx_frame("{}") + bad);
      CHECK(r.msgs.size() == 1);
      CHECK(close_reason(r) == CloseReason::BadMessageStart);
      auto j = decode(jsonl("{}") + bad);
      CHECK(j.msgs.size() == 1);
      CHECK(close_reason(j) == CloseReason::BadMessageStart);
    }
  }
  SECTION("RCP1 on a non-legacy connection is a bad magic") {
    auto r = decode(rcpx_frame("{}") + rcp1_frame("{}"));
    CHECK(r.msgs.size() == 1);
    CHECK(close_reason(r) == CloseReason::BadMagic);
    auto j = decode(jsonl("{}") + rcp1_frame("{}"));
    CHECK(close_reason(j) == CloseReason::BadMagic);
    CHECK(close_reason(decode(jsonl("{}") + "RXYZ")) == CloseReason::BadMagic);
  }
}

TEST_CASE("legacy connections carry only RCP1 frames (protocol.md §3.3)", "[frame_decoder]") {
  SECTION("several frames with whitespace between them; flags word ignored") {
    auto r = decode(rcp1_frame("{}") + " \r\n" + rcp1_frame(R"({"a":1})", 0xFFFFFFFF) +
                    rcp1_frame("", 0x00010000));
    CHECK_FALSE(r.close);
    REQUIRE(r.msgs.size() == 3);
    CHECK(r.msgs[1] == Msg{Framing::Rcp1, R"({"a":1})"});
    CHECK(r.msgs[2] == Msg{Framing::Rcp1, ""});
  }
  SECTION("RCPX on a legacy connection closes") {
    auto r = decode(rcp1_frame("{}") + rcpx_frame("{}"));
    CHECK(r.msgs.size() == 1);
    CHECK(close_reason(r) == CloseReason::BadMagic);
  }
  SECTION("a JSONL line on a legacy connection closes") {
    auto r = decode(rcp1_frame("{}") + jsonl("{}"));
    CHECK(r.msgs.size() == 1);
    CHECK(close_reason(r) == CloseReason::BadMessageStart);
  }
  SECTION("CRC is always verified") {
    auto r = decode(rcp1_frame("{}", 0, 0x12345678));
    CHECK(r.msgs.empty());
    CHECK(close_reason(r) == CloseReason::CrcMismatch);
    auto later = decode(rcp1_frame("{}") + rcp1_frame(R"({"x":1})", 0, 0));
    CHECK(later.msgs.size() == 1);
    CHECK(close_reason(later) == CloseReason::CrcMismatch);
  }
  SECTION("payload_len above the limit closes from the header alone") {
    std::string header = rcp1_frame("").substr(0, 8);
    put_be(header, 4097, 4);
    put_be(header, 0, 4);
    auto r = decode(header, 4096);
    CHECK(close_reason(r) == CloseReason::TooLarge);
    auto ok = decode(rcp1_frame(std::string(4096, 'x')), 4096);
    CHECK_FALSE(ok.close);
    REQUIRE(ok.msgs.size() == 1);
    CHECK(ok.msgs[0].payload.size() == 4096);
  }
}

TEST_CASE("RCPX header validation (protocol.md §3.2, §5)", "[frame_decoder]") {
  const std::string prefix = rcpx_frame("{}");  // makes the connection binary first
  auto header_only = [](const RcpxSpec& spec) { return rcpx_frame("", spec).substr(0, kRcpxHeaderSize); };

  SECTION("version must be 1") {
    for (std::uint16_t v : {0, 2, 0x0100, 0xFFFF}) {
      CAPTURE(v);
      CHECK(close_reason(decode(prefix + header_only(RcpxSpec().version(v)))) == CloseReason::BadVersion);
      CHECK(close_reason(decode(header_only(RcpxSpec().version(v)))) == CloseReason::BadVersion);
    }
  }
  SECTION("every reserved flag bit closes") {
    for (int bit = 4; bit < 16; ++bit) {
      CAPTURE(bit);
      const auto flags = static_cast<std::uint16_t>(1u << bit | kFlagCrcPresent);
      CHECK(close_reason(decode(prefix + header_only(RcpxSpec().flags(flags)))) == CloseReason::BadFlags);
    }
  }
  SECTION("COMPRESSED, STREAM and END_STREAM are ignored") {
    for (std::uint16_t flags : {0x0003, 0x0005, 0x0009, 0x000F}) {
      auto r = decode(rcpx_frame(R"({"a":1})", RcpxSpec().flags(flags)));
      CHECK_FALSE(r.close);
      REQUIRE(r.msgs.size() == 1);
      CHECK(r.msgs[0].payload == R"({"a":1})");
    }
  }
  SECTION("checks run magic, version, flags, payload_len, all from the header alone") {
    const auto huge = static_cast<std::uint32_t>(kMaxPayloadBytes + 1);
    std::string bad_magic = header_only(RcpxSpec().version(2).flags(0xFFFF).payload_len(huge));
    bad_magic[3] = 'Y';
    CHECK(close_reason(decode(prefix + bad_magic)) == CloseReason::BadMagic);
    CHECK(close_reason(decode(prefix + header_only(RcpxSpec().version(2).flags(0xFFFF).payload_len(huge)))) ==
          CloseReason::BadVersion);
    CHECK(close_reason(decode(prefix + header_only(RcpxSpec().flags(0xFFFF).payload_len(huge)))) ==
          CloseReason::BadFlags);
    CHECK(close_reason(decode(prefix + header_only(RcpxSpec().flags(0x000F).payload_len(huge)))) ==
          CloseReason::TooLarge);
    CHECK(close_reason(decode(prefix + header_only(RcpxSpec().payload_len(0xFFFFFFFF)))) ==
          CloseReason::TooLarge);
  }
  SECTION("the header is not judged before all 18 bytes are there") {
    FrameDecoder d;
    const std::string h = header_only(RcpxSpec().version(7));
    d.feed(h.substr(0, 17));
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    d.feed(h.substr(17));
    DecodeResult r = d.next();
    REQUIRE(std::holds_alternative<CloseConnection>(r));
    CHECK(std::get<CloseConnection>(r).reason == CloseReason::BadVersion);
  }
  SECTION("payload of exactly the limit is accepted, one more byte is not") {
    auto ok = decode(rcpx_frame(std::string(4096, 'p')), 4096);
    CHECK_FALSE(ok.close);
    REQUIRE(ok.msgs.size() == 1);
    CHECK(ok.msgs[0].payload.size() == 4096);
    CHECK(close_reason(decode(header_only(RcpxSpec().payload_len(4097)), 4096)) == CloseReason::TooLarge);
    // With the default limit, 16 MiB waits for its payload and 16 MiB + 1 closes.
    FrameDecoder d;
    d.feed(header_only(RcpxSpec().payload_len(static_cast<std::uint32_t>(kMaxPayloadBytes))));
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    CHECK(close_reason(decode(header_only(RcpxSpec().payload_len(
              static_cast<std::uint32_t>(kMaxPayloadBytes + 1))))) == CloseReason::TooLarge);
  }
  SECTION("limit larger than 16 MiB is clamped") {
    CHECK(close_reason(
              decode(header_only(RcpxSpec().payload_len(static_cast<std::uint32_t>(kMaxPayloadBytes + 1))),
                     kMaxPayloadBytes * 4)) == CloseReason::TooLarge);
  }
}

TEST_CASE("RCPX extension and CRC handling", "[frame_decoder]") {
  SECTION("header_len extension bytes are skipped") {
    auto r = decode(rcpx_frame(kPingRequest, RcpxSpec().extension(std::string(300, '\xEE'))));
    CHECK_FALSE(r.close);
    REQUIRE(r.msgs.size() == 1);
    CHECK(r.msgs[0].payload == kPingRequest);
    auto max_ext = decode(rcpx_frame("{}", RcpxSpec().extension(std::string(65535, 'e'))) + rcpx_frame("{}"));
    CHECK_FALSE(max_ext.close);
    CHECK(max_ext.msgs.size() == 2);
  }
  SECTION("CRC mismatch with CRC_PRESENT closes") {
    auto r = decode(rcpx_frame(kPingRequest, RcpxSpec().crc(0xC32009C5)));
    CHECK(r.msgs.empty());
    CHECK(close_reason(r) == CloseReason::CrcMismatch);
  }
  SECTION("the CRC covers the payload only, not the extension") {
    RcpxSpec spec = RcpxSpec().extension("abc").crc(crc32c(kPingRequest));
    CHECK_FALSE(decode(rcpx_frame(kPingRequest, spec)).close);
  }
  SECTION("CRC field ignored when CRC_PRESENT is clear") {
    auto r = decode(rcpx_frame(kPingRequest, RcpxSpec().flags(0).crc(0xDEADBEEF)));
    CHECK_FALSE(r.close);
    REQUIRE(r.msgs.size() == 1);
  }
  SECTION("empty payload") {
    auto r = decode(rcpx_frame(""));
    REQUIRE(r.msgs.size() == 1);
    CHECK(r.msgs[0].payload.empty());
  }
}

TEST_CASE("JSONL lines (protocol.md §3.4)", "[frame_decoder]") {
  SECTION("one CR before the LF is dropped") {
    auto r = decode("{\"a\":1}\r\n{}\n{}\r\r\n");
    REQUIRE(r.msgs.size() == 3);
    CHECK(r.msgs[0].payload == R"({"a":1})");
    CHECK(r.msgs[1].payload == "{}");
    CHECK(r.msgs[2].payload == "{}\r");
  }
  SECTION("a CR inside a line is kept") {
    auto r = decode("{\"a\":\r1}\n");
    REQUIRE(r.msgs.size() == 1);
    CHECK(r.msgs[0].payload == "{\"a\":\r1}");
  }
  SECTION("blank lines and whitespace between messages are skipped") {
    auto r = decode("{}\n\n\r\n   \t\n{\"b\":2}\n \r\n\t");
    CHECK_FALSE(r.close);
    REQUIRE(r.msgs.size() == 2);
    CHECK(r.msgs[1].payload == R"({"b":2})");
  }
  SECTION("a line of exactly the limit is accepted, with LF or CRLF") {
    const std::string line = line_payload(4096);
    for (std::string term : {"\n", "\r\n"}) {
      auto r = decode(line + term + "{}\n", 4096);
      CHECK_FALSE(r.close);
      REQUIRE(r.msgs.size() == 2);
      CHECK(r.msgs[0].payload == line);
    }
  }
  SECTION("a line one byte over the limit closes") {
    const std::string line = line_payload(4097);
    CHECK(close_reason(decode(line + "\n", 4096)) == CloseReason::TooLarge);
    CHECK(close_reason(decode(line + "\r\n", 4096)) == CloseReason::TooLarge);
    CHECK(close_reason(decode(line, 4096)) == CloseReason::TooLarge);
  }
  SECTION("an over-long line closes as soon as it is known, without waiting for the LF") {
    FrameDecoder d(4096);
    d.feed(line_payload(4096));
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    CHECK(d.mid_message());
    d.feed("x");
    DecodeResult r = d.next();
    REQUIRE(std::holds_alternative<CloseConnection>(r));
    CHECK(std::get<CloseConnection>(r).reason == CloseReason::TooLarge);
  }
  SECTION("a CR right at the limit waits for the next byte") {
    FrameDecoder d(4096);
    d.feed(line_payload(4096) + "\r");
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    d.feed("\n");
    DecodeResult r = d.next();
    REQUIRE(std::holds_alternative<DecodedMessage>(r));
    CHECK(std::get<DecodedMessage>(r).payload.size() == 4096);

    FrameDecoder e(4096);
    e.feed(line_payload(4096) + "\r");
    CHECK(std::holds_alternative<NeedMore>(e.next()));
    e.feed("\r");
    CHECK(std::holds_alternative<CloseConnection>(e.next()));
  }
  SECTION("over-long line fed in chunks closes the moment the limit is passed") {
    FrameDecoder d(4096);
    const std::string line = line_payload(10000);
    std::size_t fed = 0;
    std::optional<std::size_t> closed_at;
    while (fed < line.size() && !closed_at) {
      const std::size_t n = std::min<std::size_t>(100, line.size() - fed);
      d.feed(std::string_view(line).substr(fed, n));
      fed += n;
      DecodeResult r = d.next();
      if (std::holds_alternative<CloseConnection>(r)) closed_at = fed;
      CHECK(d.buffered_bytes() <= 4096 + 100);
    }
    REQUIRE(closed_at);
    CHECK(*closed_at == 4100);  // the first chunk boundary past 4096 bytes
  }
  SECTION("the JSONL limit also applies on binary connections") {
    CHECK(close_reason(decode(rcpx_frame("{}") + line_payload(4097) + "\n", 4096)) == CloseReason::TooLarge);
  }
}

TEST_CASE("close is final", "[frame_decoder]") {
  FrameDecoder d;
  d.feed("xyz");
  DecodeResult first = d.next();
  REQUIRE(std::holds_alternative<CloseConnection>(first));
  d.feed(rcpx_frame("{}"));
  for (int i = 0; i < 3; ++i) {
    DecodeResult again = d.next();
    REQUIRE(std::holds_alternative<CloseConnection>(again));
    CHECK(std::get<CloseConnection>(again).reason == CloseReason::BadStart);
    CHECK(std::get<CloseConnection>(again).detail == std::get<CloseConnection>(first).detail);
  }
}

TEST_CASE("mid_message", "[frame_decoder]") {
  FrameDecoder d;
  CHECK_FALSE(d.mid_message());
  d.feed(" \r\n\t");
  CHECK_FALSE(d.mid_message());  // whitespace between messages does not count
  CHECK(std::holds_alternative<NeedMore>(d.next()));
  CHECK_FALSE(d.mid_message());
  CHECK(d.buffered_bytes() == 0);

  const std::string frame = rcpx_frame(kPingRequest);
  d.feed(frame.substr(0, 10));
  CHECK(std::holds_alternative<NeedMore>(d.next()));
  CHECK(d.mid_message());
  d.feed(frame.substr(10));
  CHECK(std::holds_alternative<DecodedMessage>(d.next()));
  CHECK_FALSE(d.mid_message());
  d.feed("\n\n");
  CHECK_FALSE(d.mid_message());
  d.feed("{\"partial\":");
  CHECK(std::holds_alternative<NeedMore>(d.next()));
  CHECK(d.mid_message());
  d.feed("1}\n  ");
  CHECK(std::holds_alternative<DecodedMessage>(d.next()));
  CHECK(std::holds_alternative<NeedMore>(d.next()));
  CHECK_FALSE(d.mid_message());
}

namespace {

// Feeds `stream` in two parts split at `cut` (draining after each) and returns everything.
Drained decode_split(std::string_view stream, std::size_t cut) {
  FrameDecoder d;
  Drained out;
  d.feed(stream.substr(0, cut));
  drain_into(d, out);
  d.feed(stream.substr(cut));
  drain_into(d, out);
  return out;
}

void check_every_split(const std::string& stream, const std::vector<Msg>& expected) {
  REQUIRE(decode(stream).msgs == expected);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    Drained r = decode_split(stream, cut);
    REQUIRE_FALSE(r.close);
    REQUIRE(r.msgs == expected);
  }
  // And one byte at a time.
  FrameDecoder d;
  Drained out;
  for (char c : stream) {
    d.feed(std::string_view(&c, 1));
    drain_into(d, out);
  }
  CHECK_FALSE(out.close);
  CHECK(out.msgs == expected);
  CHECK_FALSE(d.mid_message());
}

}  // namespace

TEST_CASE("a valid stream split at every byte boundary", "[frame_decoder]") {
  SECTION("RCPX with extension") {
    const std::string stream = std::string(" \r\n") +
                               rcpx_frame(kPingRequest, RcpxSpec().extension("EXT!x")) + "\n" +
                               rcpx_frame(R"({"b":2})", RcpxSpec().flags(0x0E).crc(0)) + rcpx_frame("");
    check_every_split(
        stream,
        {{Framing::Rcpx, std::string(kPingRequest)}, {Framing::Rcpx, R"({"b":2})"}, {Framing::Rcpx, ""}});
  }
  SECTION("RCP1") {
    const std::string stream =
        std::string("\t") + rcp1_frame(kPingRequest) + "\r\n" + rcp1_frame(R"({"b":2})", 0x00010000);
    check_every_split(stream, {{Framing::Rcp1, std::string(kPingRequest)}, {Framing::Rcp1, R"({"b":2})"}});
  }
  SECTION("JSONL") {
    const std::string stream =
        std::string("\n") + jsonl(kPingRequest) + "\r\n" + R"({"b":2})" + "\r\n" + "{}\n";
    check_every_split(stream, {{Framing::Jsonl, std::string(kPingRequest)},
                               {Framing::Jsonl, R"({"b":2})"},
                               {Framing::Jsonl, "{}"}});
  }
  SECTION("mixed RCPX and JSONL on a jsonl connection") {
    const std::string stream =
        jsonl(R"({"a":1})") + rcpx_frame(kPingRequest, RcpxSpec().extension("x")) + R"({"c":3})" + "\r\n";
    check_every_split(stream, {{Framing::Jsonl, R"({"a":1})"},
                               {Framing::Rcpx, std::string(kPingRequest)},
                               {Framing::Jsonl, R"({"c":3})"}});
  }
}

TEST_CASE("pipelined messages in one feed", "[frame_decoder]") {
  std::string stream;
  std::vector<Msg> expected;
  for (int i = 0; i < 1000; ++i) {
    const std::string payload = R"({"type":"request","id":")" + std::to_string(i) + R"(","op":"PING"})";
    if (i % 3 == 1) {
      stream += jsonl(payload);
      expected.push_back({Framing::Jsonl, payload});
    } else {
      stream += rcpx_frame(payload);
      expected.push_back({Framing::Rcpx, payload});
    }
  }
  FrameDecoder d;
  d.feed(stream);
  std::size_t i = 0;
  for (;;) {
    DecodeResult r = d.next();
    if (std::holds_alternative<NeedMore>(r)) break;
    auto* m = std::get_if<DecodedMessage>(&r);
    REQUIRE(m != nullptr);
    REQUIRE(i < expected.size());
    CHECK(m->framing == expected[i].framing);
    CHECK(m->payload == expected[i].payload);
    ++i;
  }
  CHECK(i == expected.size());
  CHECK(d.buffered_bytes() == 0);
}

TEST_CASE("prepare/commit with random partial reads", "[frame_decoder]") {
  std::mt19937_64 rng(42);
  for (ConnectionKind kind : {ConnectionKind::Binary, ConnectionKind::Legacy, ConnectionKind::Jsonl}) {
    std::string stream;
    std::vector<Msg> expected;
    std::size_t largest = 0;
    for (int i = 0; i < 400; ++i) {
      std::size_t size = rng() % 3000;
      if (rng() % 50 == 0) size = 200000 + rng() % 100000;
      std::string payload(size, '\0');
      for (auto& c : payload)
        c = static_cast<char>(rng());
      std::string framed;
      Framing f;
      const bool as_line = kind == ConnectionKind::Jsonl
                               ? (i == 0 || rng() % 2 == 0)
                               : kind == ConnectionKind::Binary && i > 0 && rng() % 3 == 0;
      if (kind == ConnectionKind::Legacy) {
        f = Framing::Rcp1;
        framed = rcp1_frame(payload, static_cast<std::uint32_t>(rng()));
      } else if (as_line) {
        f = Framing::Jsonl;
        for (auto& c : payload) {
          if (c == '\n') c = ' ';
        }
        payload.insert(payload.begin(), '{');
        if (payload.back() == '\r') payload.back() = '}';
        framed = payload + (rng() % 2 ? "\r\n" : "\n");
      } else {
        f = Framing::Rcpx;
        RcpxSpec spec;
        spec.flags(static_cast<std::uint16_t>(rng() % 16));
        if (rng() % 4 == 0) spec.extension(std::string(rng() % 100, 'e'));
        framed = rcpx_frame(payload, spec);
      }
      largest = std::max(largest, framed.size());
      stream += framed;
      expected.push_back({f, payload});
      if (rng() % 4 == 0) stream += std::string(rng() % 5, '\n');
    }

    FrameDecoder d;
    Drained out;
    std::size_t pos = 0;
    while (pos < stream.size()) {
      const std::size_t want = 1 + rng() % 70000;
      std::span<char> space = d.prepare(want);
      REQUIRE(space.size() >= want);
      const std::size_t n =
          std::min({space.size(), stream.size() - pos, static_cast<std::size_t>(rng() % (want + 1))});
      std::memcpy(space.data(), stream.data() + pos, n);
      d.commit(n);
      pos += n;
      drain_into(d, out);
      REQUIRE_FALSE(out.close);
      // Bounded buffering: after "need more", at most one unfinished message is held.
      REQUIRE(d.buffered_bytes() <= largest);
    }
    CHECK(out.msgs.size() == expected.size());
    CHECK(out.msgs == expected);
    CHECK_FALSE(d.mid_message());
  }
}

TEST_CASE("buffer is released after a large message", "[frame_decoder]") {
  FrameDecoder d;
  d.feed(rcpx_frame(std::string(3 * 1024 * 1024, 'x')));
  REQUIRE(std::holds_alternative<DecodedMessage>(d.next()));
  REQUIRE(std::holds_alternative<NeedMore>(d.next()));
  CHECK(d.prepare(4096).size() <= 256 * 1024);
}

TEST_CASE("prepare keeps buffered bytes", "[frame_decoder]") {
  FrameDecoder d;
  const std::string frame = rcpx_frame(kPingRequest);
  d.feed(frame.substr(0, 30));
  CHECK(std::holds_alternative<NeedMore>(d.next()));
  std::span<char> big = d.prepare(1 << 20);
  CHECK(big.size() >= (1u << 20));
  d.commit(0);
  CHECK(d.buffered_bytes() == 30);
  d.feed(frame.substr(30));
  DecodeResult r = d.next();
  REQUIRE(std::holds_alternative<DecodedMessage>(r));
  CHECK(std::get<DecodedMessage>(r).payload == kPingRequest);
}
