// libFuzzer target for the incoming side of protocol/: FrameDecoder, then parse_request on
// every payload it yields. See docs/fuzzing.md.
//
// Input layout: byte 0 seeds the chunk sizes, byte 1 picks the payload limit, the rest is the
// byte stream a client would send. Beyond "no crash, no sanitizer report" it checks:
//  * split invariance: decoding the stream in chunks gives the same messages, the same close
//    reason and the same leftover state as decoding it in one piece;
//  * bounded buffering: after "need more" no more than one maximal message is buffered;
//  * encoder/decoder agreement: a decoded payload re-framed by append_frame decodes again;
//  * JSON text stability: a parsed request re-serialized by to_json parses back to the
//    same text.
#include "protocol/envelope.hpp"
#include "protocol/frame_decoder.hpp"
#include "protocol/frame_encoder.hpp"
#include "protocol/json_text.hpp"

#include <boost/json/value.hpp>

#include <algorithm>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace rstmdb::protocol;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Outcome {
  std::vector<std::pair<Framing, std::string>> messages;
  std::optional<CloseReason> close;
};

// Returns false once the decoder has closed.
bool drain(FrameDecoder& d, std::size_t limit, Outcome& out) {
  for (;;) {
    DecodeResult r = d.next();
    if (std::holds_alternative<NeedMore>(r)) {
      check(d.buffered_bytes() <= kRcpxHeaderSize + 65535 + limit + 2);
      return true;
    }
    if (auto* m = std::get_if<DecodedMessage>(&r)) {
      check(m->payload.size() <= limit);
      out.messages.emplace_back(m->framing, std::string(m->payload));
      continue;
    }
    out.close = std::get<CloseConnection>(r).reason;
    check(!std::get<CloseConnection>(r).detail.empty());
    return false;
  }
}

void check_reframing(Framing framing, const std::string& payload) {
  // A JSONL payload may legitimately end in CR ("...\r\r\n" on the wire); re-framing it as
  // JSONL would lose that CR, so only frames are round-tripped.
  if (framing == Framing::Jsonl) return;
  std::string wire;
  append_frame(wire, framing, payload);
  check(wire.size() == framed_size(framing, payload.size()));
  FrameDecoder d;
  d.feed(wire);
  DecodeResult r = d.next();
  const auto* m = std::get_if<DecodedMessage>(&r);
  check(m != nullptr && m->framing == framing && m->payload == payload);
}

void check_request(std::string_view payload) {
  auto parsed = parse_request(payload);
  if (auto* req = std::get_if<Request>(&parsed)) {
    const std::string params = to_json(req->params);
    boost::json::value again;
    JsonParseError err;
    check(parse_json(params, again, err));
    check(again.is_object() && to_json(again) == params);
    const std::string response = encode_ok_response(req->id, req->params);
    check(parse_json(response, again, err));
  } else {
    const auto& e = std::get<EnvelopeError>(parsed);
    check(e.error.code == ErrorCode::BadRequest);
    check(e.error.message.rfind("invalid request: ", 0) == 0);
    const std::string response = encode_error_response(e.id, e.error);
    boost::json::value again;
    JsonParseError err;
    check(parse_json(response, again, err));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::uint32_t rng = 0x9E3779B9u ^ data[0];
  // Small limits make the too-large paths reachable with small inputs.
  static constexpr std::size_t kLimits[] = {kMaxPayloadBytes, 64, 1000, 4096};
  const std::size_t limit = kLimits[data[1] % 4];
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  Outcome whole;
  FrameDecoder one_piece(limit);
  one_piece.feed(stream);
  drain(one_piece, limit, whole);

  Outcome chunked;
  FrameDecoder d(limit);
  std::size_t pos = 0;
  bool open = true;
  while (open && pos < stream.size()) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    const std::size_t want = 1 + rng % 97;
    std::span<char> space = d.prepare(want);
    check(space.size() >= want);
    const std::size_t n = std::min(want, stream.size() - pos);
    std::memcpy(space.data(), stream.data() + pos, n);
    d.commit(n);
    pos += n;
    open = drain(d, limit, chunked);
  }

  check(chunked.messages == whole.messages);
  check(chunked.close == whole.close);
  if (!whole.close) {
    check(d.mid_message() == one_piece.mid_message());
    check(d.buffered_bytes() == one_piece.buffered_bytes());
    check(d.kind() == one_piece.kind());
  }

  for (const auto& [framing, payload] : whole.messages) {
    check_reframing(framing, payload);
    check_request(payload);
  }
  return 0;
}
