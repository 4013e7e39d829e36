#include "protocol/frame_encoder.hpp"

#include "test_bytes.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace rstmdb::protocol;
using namespace rstmdb::protocol::test;

TEST_CASE("framing names", "[frame]") {
  CHECK(framing_name(Framing::Rcpx) == "rcpx");
  CHECK(framing_name(Framing::Rcp1) == "rcp1");
  CHECK(framing_name(Framing::Jsonl) == "jsonl");
}

TEST_CASE("RCPX reply header is byte-exact (protocol.md §3.6)", "[frame_encoder]") {
  std::string out;
  append_frame(out, Framing::Rcpx, kPongResponse);
  REQUIRE(out.size() == 18 + 65);
  CHECK(out.substr(0, 18) == from_hex("52 43 50 58 00 01 00 01 00 00 00 00 00 41 4b 7b 43 2f"));
  CHECK(out.substr(18) == kPongResponse);
}

TEST_CASE("RCPX frame of the PING request matches the worked example", "[frame_encoder]") {
  const std::string expected = from_hex(
      "52 43 50 58 00 01 00 01 00 00 00 00 00 33 c3 20"
      "09 c4 7b 22 74 79 70 65 22 3a 22 72 65 71 75 65"
      "73 74 22 2c 22 69 64 22 3a 22 31 22 2c 22 6f 70"
      "22 3a 22 50 49 4e 47 22 2c 22 70 61 72 61 6d 73"
      "22 3a 7b 7d 7d");
  REQUIRE(expected.size() == 69);
  std::string out;
  append_frame(out, Framing::Rcpx, kPingRequest);
  CHECK(out == expected);
}

TEST_CASE("RCP1 reply header is byte-exact (protocol.md §3.6)", "[frame_encoder]") {
  std::string out;
  append_frame(out, Framing::Rcp1, kPongResponse);
  REQUIRE(out.size() == 16 + 65);
  CHECK(out.substr(0, 16) == from_hex("52 43 50 31 00 01 00 00 00 00 00 41 4b 7b 43 2f"));
  CHECK(out.substr(16) == kPongResponse);
}

TEST_CASE("JSONL reply is the payload and one LF", "[frame_encoder]") {
  std::string out;
  append_frame(out, Framing::Jsonl, kPongResponse);
  CHECK(out == std::string(kPongResponse) + "\n");
}

TEST_CASE("append_frame appends and framed_size matches", "[frame_encoder]") {
  for (Framing f : {Framing::Rcpx, Framing::Rcp1, Framing::Jsonl}) {
    std::string out = "prefix";
    append_frame(out, f, kPingRequest);
    CHECK(out.substr(0, 6) == "prefix");
    CHECK(out.size() - 6 == framed_size(f, kPingRequest.size()));
    const std::size_t before = out.size();
    append_frame(out, f, "");
    CHECK(out.size() - before == framed_size(f, 0));
  }
  CHECK(framed_size(Framing::Rcpx, 10) == 28);
  CHECK(framed_size(Framing::Rcp1, 10) == 26);
  CHECK(framed_size(Framing::Jsonl, 10) == 11);
}

TEST_CASE("empty and large payloads carry exact length and CRC", "[frame_encoder]") {
  std::string out;
  append_frame(out, Framing::Rcpx, "");
  CHECK(out == from_hex("52 43 50 58 00 01 00 01 00 00 00 00 00 00 00 00 00 00"));

  const std::string big(70000, 'x');
  out.clear();
  append_frame(out, Framing::Rcpx, big);
  std::string header;
  header += "RCPX";
  put_be(header, 1, 2);
  put_be(header, 1, 2);
  put_be(header, 0, 2);
  put_be(header, 70000, 4);
  put_be(header, crc32c(big), 4);
  CHECK(out.substr(0, 18) == header);
  CHECK(out == rcpx_frame(big));
  out.clear();
  append_frame(out, Framing::Rcp1, big);
  CHECK(out == rcp1_frame(big, 0x00010000));
}

TEST_CASE("append_frame_parts frames the concatenation of its parts", "[frame_encoder]") {
  const std::string payload(kPongResponse);
  for (Framing f : {Framing::Rcpx, Framing::Rcp1, Framing::Jsonl}) {
    std::string whole;
    append_frame(whole, f, payload);
    for (std::size_t cut = 0; cut <= payload.size(); cut += 7) {
      const std::string_view p(payload);
      std::string parts = "x";
      append_frame_parts(parts, f, {p.substr(0, cut), "", p.substr(cut)});
      CHECK(parts == "x" + whole);
    }
    std::string three;
    append_frame_parts(three, f, {payload.substr(0, 3), payload.substr(3, 10), payload.substr(13)});
    CHECK(three == whole);
  }
}
