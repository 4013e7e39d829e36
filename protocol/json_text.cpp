#include "protocol/json_text.hpp"

#include "protocol/frame.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace rstmdb::protocol {
namespace json = boost::json;

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// 0: copy as is; 'u': \u00XX; anything else: backslash + that letter.
constexpr std::array<char, 256> make_escape_table() {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c)
    t[c] = 'u';
  t['"'] = '"';
  t['\\'] = '\\';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  return t;
}

constexpr std::array<char, 256> kEscape = make_escape_table();

template <typename Int>
void append_integer(std::string& out, Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_object(std::string& out, const json::object& o);

void append_value(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case json::kind::int64:
      append_integer(out, v.get_int64());
      return;
    case json::kind::uint64:
      append_integer(out, v.get_uint64());
      return;
    case json::kind::double_:
      append_json_double(out, v.get_double());
      return;
    case json::kind::string: {
      const json::string& s = v.get_string();
      append_json_string(out, std::string_view(s.data(), s.size()));
      return;
    }
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const json::value& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_value(out, e);
      }
      out.push_back(']');
      return;
    }
    case json::kind::object:
      append_object(out, v.get_object());
      return;
  }
}

void append_object(std::string& out, const json::object& o) {
  out.push_back('{');
  bool first = true;
  for (const json::key_value_pair& kv : o) {
    if (!first) out.push_back(',');
    first = false;
    const json::string_view key = kv.key();
    append_json_string(out, std::string_view(key.data(), key.size()));
    out.push_back(':');
    append_value(out, kv.value());
  }
  out.push_back('}');
}

// Sign of the decimal magnitude of a JSON number that std::from_chars reported out of range:
// true when it overflowed, false when it underflowed. Only the order of magnitude matters,
// since out-of-range results lie beyond 1e308 or below 1e-324.
bool decimal_overflows(std::string_view num) noexcept {
  std::size_t i = 0;
  if (i < num.size() && num[i] == '-') ++i;
  while (i < num.size() && num[i] == '0')
    ++i;
  long long magnitude = 0;
  std::size_t int_digits = 0;
  while (i < num.size() && num[i] >= '0' && num[i] <= '9') {
    ++int_digits;
    ++i;
  }
  if (int_digits > 0) {
    magnitude = static_cast<long long>(int_digits) - 1;
    if (i < num.size() && num[i] == '.') {
      ++i;
      while (i < num.size() && num[i] >= '0' && num[i] <= '9')
        ++i;
    }
  } else if (i < num.size() && num[i] == '.') {
    ++i;
    long long zeros = 0;
    while (i < num.size() && num[i] == '0') {
      ++zeros;
      ++i;
    }
    magnitude = -(zeros + 1);
    while (i < num.size() && num[i] >= '0' && num[i] <= '9')
      ++i;
  }
  if (i < num.size() && (num[i] == 'e' || num[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < num.size() && (num[i] == '+' || num[i] == '-')) negative = num[i++] == '-';
    long long exponent = 0;
    while (i < num.size() && num[i] >= '0' && num[i] <= '9') {
      // Clamped: any exponent this large already decides the answer.
      if (exponent < 1'000'000'000) exponent = exponent * 10 + (num[i] - '0');
      ++i;
    }
    magnitude += negative ? -exponent : exponent;
  }
  return magnitude > 0;
}

// A basic_parser handler that builds the value itself so that every double is converted by
// std::from_chars: Boost.JSON 1.81's own conversion is not correctly rounded for many inputs,
// which would break the "shortest round-trip" promise of protocol.md §6.6.
class ValueBuilder {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  ValueBuilder(json::storage_ptr sp, unsigned char* temp, std::size_t temp_size)
      : stack_(json::storage_ptr(), temp, temp_size) {
    stack_.reset(std::move(sp));
  }

  json::value release() { return stack_.release(); }
  bool number_out_of_range() const noexcept { return out_of_range_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    stack_.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view s, json::error_code&) {
    const bool negative = number_.empty() ? (!s.empty() && s[0] == '-') : number_[0] == '-';
    number_.clear();
    // "-0" is an integer literal whose value is not an integer: keep the sign as a double, as
    // the upstream server does (operations.md §19.4 writes it as -0.0).
    if (i == 0 && negative) {
      stack_.push_double(-0.0);
    } else {
      stack_.push_int64(i);
    }
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    number_.clear();
    stack_.push_uint64(u);
    return true;
  }
  bool on_double(double, json::string_view s, json::error_code& ec) {
    std::string_view text(s.data(), s.size());
    if (!number_.empty()) {
      number_.append(s.data(), s.size());
      text = number_;
    }
    double d = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), d);
    if (r.ec == std::errc::result_out_of_range) {
      if (decimal_overflows(text)) {
        out_of_range_ = true;
        ec = json::error::exponent_overflow;
        return false;
      }
      d = (!text.empty() && text[0] == '-') ? -0.0 : 0.0;
    } else if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
      // Unreachable for text Boost.JSON accepted as a number; refuse rather than guess.
      ec = json::error::syntax;
      return false;
    }
    number_.clear();
    stack_.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack_.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack_.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  json::value_stack stack_;
  std::string number_;  // a number split over on_number_part calls
  bool out_of_range_ = false;
};

std::string at_byte(std::string reason, std::size_t pos) {
  reason += " at byte ";
  append_integer(reason, pos);
  return reason;
}

}  // namespace

void append_json(std::string& out, const json::value& v) {
  append_value(out, v);
}

void append_json(std::string& out, const json::object& o) {
  append_object(out, o);
}

std::string to_json(const json::value& v) {
  std::string out;
  append_value(out, v);
  return out;
}

std::string to_json(const json::object& o) {
  std::string out;
  append_object(out, o);
  return out;
}

void append_json_string(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* run = p;
  while (p != end) {
    const char e = kEscape[static_cast<unsigned char>(*p)];
    if (e == 0) {
      ++p;
      continue;
    }
    out.append(run, p);
    if (e == 'u') {
      const auto c = static_cast<unsigned char>(*p);
      const char esc[6] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xF]};
      out.append(esc, sizeof esc);
    } else {
      const char esc[2] = {'\\', e};
      out.append(esc, sizeof esc);
    }
    run = ++p;
  }
  out.append(run, end);
  out.push_back('"');
}

void append_json_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  if (d == 0) {
    out += std::signbit(d) ? "-0.0" : "0.0";
    return;
  }
  // Shortest round-trip digits in scientific form: [-]D[.DDD]e(+|-)XX.
  char sci[40];
  const auto r = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific);
  const char* p = sci;
  const char* const sci_end = r.ptr;
  const bool negative = *p == '-';
  if (negative) ++p;
  char digits[24];
  int n = 0;
  for (; p != sci_end && *p != 'e'; ++p) {
    if (*p != '.') digits[n++] = *p;
  }
  while (n > 1 && digits[n - 1] == '0')
    --n;
  int exp10 = 0;
  if (p != sci_end) std::from_chars(p + (p[1] == '+' ? 2 : 1), sci_end, exp10);

  // value = D x 10^k with p = n + k; exp10 = p - 1 is the scientific exponent.
  const int point = exp10 + 1;
  const int k = point - n;
  char text[48];
  char* o = text;
  if (negative) *o++ = '-';
  if (k >= 0 && point <= 16) {
    o = std::copy(digits, digits + n, o);
    o = std::fill_n(o, k, '0');
    *o++ = '.';
    *o++ = '0';
  } else if (point > 0 && point <= 16) {
    o = std::copy(digits, digits + point, o);
    *o++ = '.';
    o = std::copy(digits + point, digits + n, o);
  } else if (point > -5 && point <= 0) {
    *o++ = '0';
    *o++ = '.';
    o = std::fill_n(o, -point, '0');
    o = std::copy(digits, digits + n, o);
  } else {
    *o++ = digits[0];
    if (n > 1) {
      *o++ = '.';
      o = std::copy(digits + 1, digits + n, o);
    }
    *o++ = 'e';
    *o++ = exp10 < 0 ? '-' : '+';
    o = std::to_chars(o, text + sizeof text, exp10 < 0 ? -exp10 : exp10).ptr;
  }
  out.append(text, o);
}

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [&](unsigned char x, unsigned char y) { return lower(x) == lower(y); });
}

bool is_valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    // Payloads are overwhelmingly ASCII; test eight bytes per step.
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ull) != 0) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // Table 3-7 of the Unicode standard: the second byte's range depends on the lead byte,
    // which excludes overlongs (E0, F0), surrogates (ED) and values above U+10FFFF (F4).
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < len) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += len;
  }
  return true;
}

namespace {

bool parse_json_text(std::string_view text, std::size_t max_depth, json::value& out, JsonParseError& error) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    error.reason = "empty payload";
    return false;
  }
  json::parse_options opts;
  opts.max_depth = max_depth;
  // Keeps small documents off the heap while the value is assembled.
  unsigned char temp[4096];
  json::basic_parser<ValueBuilder> parser(opts, out.storage(), temp, sizeof temp);
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  if (ec) {
    // Boost.JSON itself refuses exponents beyond the int32 range (even for 0e99999999999);
    // those are reported like any other unrepresentable number.
    if (parser.handler().number_out_of_range() || ec == json::error::exponent_overflow) {
      error.reason = at_byte("number out of range", used);
    } else if (ec == json::error::too_deep) {
      error.reason = at_byte("nesting deeper than " + std::to_string(max_depth), used);
    } else if (ec == json::error::extra_data) {
      error.reason = at_byte("extra data after the JSON value", used);
    } else if (ec == json::error::incomplete) {
      error.reason = "unexpected end of input";
    } else if (ec == json::error::illegal_leading_surrogate ||
               ec == json::error::illegal_trailing_surrogate) {
      error.reason = at_byte("unpaired surrogate escape", used);
    } else {
      error.reason = at_byte(ec.message(), used);
    }
    return false;
  }
  out = parser.handler().release();
  return true;
}

}  // namespace

bool parse_json(std::string_view text, json::value& out, JsonParseError& error) {
  return parse_json_text(text, kMaxJsonDepth, out, error);
}

bool parse_stored_json(std::string_view text, json::value& out, JsonParseError& error) {
  return parse_json_text(text, kMaxStoredJsonDepth, out, error);
}

}  // namespace rstmdb::protocol
