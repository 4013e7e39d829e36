#include "protocol/json_text.hpp"

#include "protocol/frame.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

using namespace rstmdb::protocol;
namespace json = boost::json;

namespace {

json::value parse_ok(std::string_view text) {
  json::value v;
  JsonParseError err;
  INFO(text);
  REQUIRE(parse_json(text, v, err));
  return v;
}

bool parse_fails(std::string_view text, std::string* reason = nullptr) {
  json::value v;
  JsonParseError err;
  const bool ok = parse_json(text, v, err);
  if (!ok && reason != nullptr) *reason = err.reason;
  if (!ok) CHECK_FALSE(err.reason.empty());
  return !ok;
}

std::string round_trip(std::string_view text) {
  return to_json(parse_ok(text));
}

std::string dbl(double d) {
  std::string s;
  append_json_double(s, d);
  return s;
}

}  // namespace

TEST_CASE("number layout table (operations.md §19.4)", "[json_text]") {
  CHECK(round_trip("100") == "100");
  CHECK(round_trip("100.0") == "100.0");
  CHECK(round_trip("1e2") == "100.0");
  CHECK(round_trip("0.1") == "0.1");
  CHECK(round_trip("0.00001") == "0.00001");
  CHECK(round_trip("123456.789") == "123456.789");
  CHECK(round_trip("0.000001") == "1e-6");
  CHECK(round_trip("1e16") == "1e+16");
  CHECK(round_trip("1e15") == "1000000000000000.0");
  CHECK(round_trip("1.5e300") == "1.5e+300");
  CHECK(round_trip("-3.25e-10") == "-3.25e-10");
  CHECK(round_trip("18446744073709551616") == "1.8446744073709552e+19");
  CHECK(round_trip("-0") == "-0.0");
}

TEST_CASE("double layout edge cases", "[json_text]") {
  CHECK(dbl(100.0) == "100.0");
  CHECK(dbl(0.0) == "0.0");
  CHECK(dbl(-0.0) == "-0.0");
  CHECK(dbl(1.0) == "1.0");
  CHECK(dbl(-1.5) == "-1.5");
  CHECK(dbl(0.5) == "0.5");
  CHECK(dbl(99.99) == "99.99");
  CHECK(dbl(1e-5) == "0.00001");
  CHECK(dbl(1.5e-5) == "0.000015");
  CHECK(dbl(1e-6) == "1e-6");
  CHECK(dbl(1.25e-7) == "1.25e-7");
  CHECK(dbl(0.0001234) == "0.0001234");
  CHECK(dbl(1e15) == "1000000000000000.0");
  CHECK(dbl(1e16) == "1e+16");
  CHECK(dbl(1.5e16) == "1.5e+16");
  CHECK(dbl(1234567890123456.7) == "1234567890123456.8");
  CHECK(dbl(9007199254740992.0) == "9007199254740992.0");
  CHECK(dbl(12345678901234567890.0) == "1.2345678901234567e+19");
  CHECK(dbl(1e21) == "1e+21");
  CHECK(dbl(1e100) == "1e+100");
  CHECK(dbl(std::numeric_limits<double>::max()) == "1.7976931348623157e+308");
  CHECK(dbl(std::numeric_limits<double>::denorm_min()) == "5e-324");
  CHECK(dbl(-std::numeric_limits<double>::min()) == "-2.2250738585072014e-308");
  CHECK(dbl(std::nan("")) == "null");
  CHECK(dbl(std::numeric_limits<double>::infinity()) == "null");
  CHECK(dbl(-std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("doubles round-trip exactly through text", "[json_text]") {
  // Boost.JSON 1.81's own number conversion is not correctly rounded; ours must be.
  std::mt19937_64 rng(123);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) continue;
    const std::string text = dbl(d);
    const json::value v = parse_ok(text);
    REQUIRE(v.is_double());
    const double back = v.get_double();
    INFO(text);
    REQUIRE(std::memcmp(&back, &d, sizeof d) == 0);
  }
  CHECK(round_trip("1.3927926388013963e-143") == "1.3927926388013963e-143");
  CHECK(round_trip("334744012262.14870128711484104703e-16") == "0.00003347440122621487");
}

TEST_CASE("very long number literals are converted from their full text", "[json_text]") {
  // Boost.JSON hands long numbers over in pieces (on_number_part); all of them must count.
  CHECK(round_trip("0." + std::string(600, '0') + "1e601") == "1.0");
  CHECK(round_trip("[1" + std::string(700, '0') + "e-700,-" + std::string(30, '9') + ".5]") ==
        "[1.0,-1e+30]");
  CHECK(round_trip("-" + std::string(1000, '1') + "e-990") == "-1111111111.1111112");
  CHECK(round_trip("123456789012345678901234567890.123456789e-29") == "1.2345678901234567");
}

TEST_CASE("integers keep their exact value", "[json_text]") {
  auto min64 = parse_ok("-9223372036854775808");
  CHECK(min64.is_int64());
  CHECK(min64.get_int64() == std::numeric_limits<std::int64_t>::min());
  CHECK(to_json(min64) == "-9223372036854775808");
  auto max64 = parse_ok("9223372036854775807");
  CHECK(max64.is_int64());
  CHECK(to_json(max64) == "9223372036854775807");
  auto umax = parse_ok("18446744073709551615");
  CHECK(umax.is_uint64());
  CHECK(umax.get_uint64() == std::numeric_limits<std::uint64_t>::max());
  CHECK(to_json(umax) == "18446744073709551615");
  CHECK(round_trip("9223372036854775808") == "9223372036854775808");
  CHECK(round_trip("0") == "0");
  CHECK(round_trip("-1") == "-1");
  // Outside [-2^63, 2^64-1]: doubles.
  CHECK(parse_ok("-9223372036854775809").is_double());
  CHECK(round_trip("-9223372036854775809") == "-9.223372036854776e+18");
  CHECK(round_trip("123456789012345678901234567890") == "1.2345678901234568e+29");
  CHECK(to_json(json::value(std::int64_t{42})) == "42");
}

TEST_CASE("numbers out of double range", "[json_text]") {
  std::string reason;
  CHECK(parse_fails("1e400", &reason));
  CHECK(reason.find("out of range") != std::string::npos);
  CHECK(parse_fails("[-1.8e308]"));
  CHECK(parse_fails("1.7976931348623159e308"));
  CHECK(round_trip("1.7976931348623157e308") == "1.7976931348623157e+308");
  // Underflow rounds to zero, keeping the sign.
  CHECK(round_trip("1e-400") == "0.0");
  CHECK(round_trip("-1e-400") == "-0.0");
  CHECK(round_trip("0.0000000001e-99999") == "0.0");
  // Exponents beyond 32 bits are refused by the underlying parser, whatever the mantissa.
  CHECK(parse_fails("1e-9999999999", &reason));
  CHECK(reason.find("out of range") != std::string::npos);
  CHECK(round_trip("5e-324") == "5e-324");
}

TEST_CASE("string escapes (protocol.md §6.6)", "[json_text]") {
  auto esc = [](std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
  };
  CHECK(esc("") == R"("")");
  CHECK(esc("plain") == R"("plain")");
  CHECK(esc("q\"b\\") == R"("q\"b\\")");
  CHECK(esc("\b\f\n\r\t") == R"("\b\f\n\r\t")");
  CHECK(esc(std::string("\0\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
  CHECK(esc("\x1a\x0b") == R"("\u001a\u000b")");
  CHECK(esc("\x7f") == "\"\x7f\"");
  CHECK(esc("a/b") == R"("a/b")");
  CHECK(esc("é日本😀") == "\"é日本😀\"");
  CHECK(esc("x\ny\"z") == R"("x\ny\"z")");

  // Input escapes are decoded, and written back in canonical form.
  CHECK(round_trip(R"("\u00e9\/\u001F\u0041")") == "\"é/\\u001fA\"");
  CHECK(round_trip(R"("\ud83d\ude00")") == "\"😀\"");
  CHECK(round_trip(R"({"k\n":"v"})") == R"({"k\n":"v"})");
}

TEST_CASE("compact output keeps insertion order", "[json_text]") {
  CHECK(round_trip(R"( { "b" : 1 , "a" : [ true , false , null , { } , [ ] ] } )") ==
        R"({"b":1,"a":[true,false,null,{},[]]})");
  json::object o;
  o["z"] = 1;
  o["a"] = "x";
  o["m"] = json::array{1.5, nullptr};
  CHECK(to_json(o) == R"({"z":1,"a":"x","m":[1.5,null]})");
  std::string out = "prefix:";
  append_json(out, o);
  CHECK(out == R"(prefix:{"z":1,"a":"x","m":[1.5,null]})");
  CHECK(to_json(json::value(nullptr)) == "null");
  CHECK(to_json(json::value(true)) == "true");
  CHECK(to_json(json::value("s")) == R"("s")");
}

TEST_CASE("nesting depth limit is 128", "[json_text]") {
  REQUIRE(kMaxJsonDepth == 128);
  auto nested_arrays = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  auto nested_objects = [](std::size_t depth) {
    std::string s;
    for (std::size_t i = 0; i + 1 < depth; ++i)
      s += R"({"a":)";
    s += "{}";
    s += std::string(depth - 1, '}');
    return s;
  };
  CHECK(to_json(parse_ok(nested_arrays(128))) == nested_arrays(128));
  CHECK(to_json(parse_ok(nested_objects(128))) == nested_objects(128));
  std::string reason;
  CHECK(parse_fails(nested_arrays(129), &reason));
  CHECK(reason.find("nesting") != std::string::npos);
  CHECK(parse_fails(nested_objects(129)));
  CHECK(parse_fails(std::string(100000, '[')));
}

TEST_CASE("duplicate keys: the last occurrence wins", "[json_text]") {
  auto v = parse_ok(R"({"a":1,"b":2,"a":3})");
  REQUIRE(v.is_object());
  CHECK(v.get_object().size() == 2);
  CHECK(v.get_object().at("a") == 3);
  CHECK(v.get_object().at("b") == 2);
  CHECK(to_json(parse_ok(R"({"a":{"x":1},"a":"y"})")) == R"({"a":"y"})");
}

TEST_CASE("invalid JSON is rejected with a reason", "[json_text]") {
  std::string reason;
  CHECK(parse_fails("", &reason));
  CHECK(reason == "empty payload");
  CHECK(parse_fails(" \r\n"));
  CHECK(parse_fails("{} x", &reason));
  CHECK(reason.find("extra data") != std::string::npos);
  CHECK(parse_fails("{}{}"));
  CHECK(parse_fails("{"));
  CHECK(parse_fails(R"({"a":1,})"));
  CHECK(parse_fails("[1,]"));
  CHECK(parse_fails("{'a':1}"));
  CHECK(parse_fails("// c\n{}"));
  CHECK(parse_fails("/* c */{}"));
  CHECK(parse_fails("NaN"));
  CHECK(parse_fails("[Infinity]"));
  CHECK(parse_fails("01"));
  CHECK(parse_fails("+1"));
  CHECK(parse_fails("1."));
  CHECK(parse_fails(".5"));
  CHECK(parse_fails("\"\x01\""));
  CHECK(parse_fails(R"("\x41")"));
  CHECK(parse_fails(R"({"a" 1})"));
  CHECK(parse_fails("tru"));
  // Unpaired surrogate escapes.
  CHECK(parse_fails(R"("\ud800")"));
  CHECK(parse_fails(R"("\udc00")"));
  CHECK(parse_fails(R"("\ud800\u0041")"));
  CHECK(parse_fails(R"("\ude00\ud83d")"));
  CHECK_FALSE(parse_fails("  {}  \r\n"));
}

TEST_CASE("parse_json uses the storage of its output value", "[json_text]") {
  json::value v(json::make_shared_resource<json::monotonic_resource>());
  JsonParseError err;
  REQUIRE(parse_json(R"({"a":[1,2,"three"]})", v, err));
  CHECK(to_json(v) == R"({"a":[1,2,"three"]})");
}

TEST_CASE("strict UTF-8 validation", "[json_text]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii, long enough to use the eight-byte fast path"));
  CHECK(is_valid_utf8(std::string("\0nul\0", 5)));
  CHECK(is_valid_utf8("\x7f"));
  CHECK(is_valid_utf8("\xc2\x80"));          // U+0080
  CHECK(is_valid_utf8("\xdf\xbf"));          // U+07FF
  CHECK(is_valid_utf8("\xe0\xa0\x80"));      // U+0800
  CHECK(is_valid_utf8("\xed\x9f\xbf"));      // U+D7FF
  CHECK(is_valid_utf8("\xee\x80\x80"));      // U+E000
  CHECK(is_valid_utf8("\xef\xbf\xbf"));      // U+FFFF
  CHECK(is_valid_utf8("\xf0\x90\x80\x80"));  // U+10000
  CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  CHECK(is_valid_utf8("é日本😀"));

  CHECK_FALSE(is_valid_utf8("\x80"));  // lone continuation
  CHECK_FALSE(is_valid_utf8("\xbf"));
  CHECK_FALSE(is_valid_utf8("\xc0\x80"));      // overlong NUL
  CHECK_FALSE(is_valid_utf8("\xc1\xbf"));      // overlong
  CHECK_FALSE(is_valid_utf8("\xe0\x80\x80"));  // overlong 3-byte
  CHECK_FALSE(is_valid_utf8("\xe0\x9f\xbf"));
  CHECK_FALSE(is_valid_utf8("\xf0\x80\x80\x80"));  // overlong 4-byte
  CHECK_FALSE(is_valid_utf8("\xf0\x8f\xbf\xbf"));
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // U+D800 surrogate
  CHECK_FALSE(is_valid_utf8("\xed\xbf\xbf"));      // U+DFFF surrogate
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xfe"));
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("\xc3"));  // truncated
  CHECK_FALSE(is_valid_utf8("\xe6\x97"));
  CHECK_FALSE(is_valid_utf8("\xf0\x9f\x98"));
  CHECK_FALSE(is_valid_utf8("\xc3\x28"));  // bad continuation
  CHECK_FALSE(is_valid_utf8("\xe6\x97\x28"));
  CHECK_FALSE(is_valid_utf8("\xf0\x9f\x98\x28"));
  CHECK_FALSE(is_valid_utf8("\xe6\x28\x97"));

  // A bad byte at every position relative to the 8-byte fast path.
  for (std::size_t pos = 0; pos < 24; ++pos) {
    std::string s(24, 'a');
    s[pos] = '\xff';
    CAPTURE(pos);
    CHECK_FALSE(is_valid_utf8(s));
    s[pos] = 'b';
    CHECK(is_valid_utf8(s));
  }
  // A valid multi-byte sequence crossing the fast-path boundary.
  for (std::size_t pos = 0; pos < 20; ++pos) {
    std::string s(pos, 'a');
    s += "\xf0\x9f\x98\x80";
    s += std::string(20, 'z');
    CAPTURE(pos);
    CHECK(is_valid_utf8(s));
    CHECK_FALSE(is_valid_utf8(s.substr(0, pos + 3)));
  }
}

TEST_CASE("ascii_iequals folds ASCII letters only") {
  CHECK(ascii_iequals("Bearer", "bEARER"));
  CHECK(ascii_iequals("26ADBD14", "26adbd14"));
  CHECK(ascii_iequals("", ""));
  CHECK_FALSE(ascii_iequals("bearer", "bearers"));
  CHECK_FALSE(ascii_iequals("26adbd14", "26adbd15"));
  CHECK_FALSE(ascii_iequals("[", "{"));                // 0x5B vs 0x7B: not letters
  CHECK_FALSE(ascii_iequals("\xC3\x84", "\xC3\xA4"));  // Ä vs ä: not folded
}
