#include "statemachine/guard.hpp"

#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include <cfloat>
#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>
#include <utility>

namespace rstmdb::statemachine {

namespace {

bool is_seg_char(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_digit(unsigned char c) noexcept {
  return c >= '0' && c <= '9';
}

bool is_ws(unsigned char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Length of the well-formed UTF-8 sequence starting at `pos`, or 0 if the bytes there are not
// one. Used so that error messages quote whole characters, never half of one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t pos) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - pos < len) return 0;
  if (byte(pos + 1) < lo || byte(pos + 1) > hi) return 0;
  for (std::size_t i = 2; i < len; ++i) {
    if (byte(pos + i) < 0x80 || byte(pos + i) > 0xBF) return 0;
  }
  return len;
}

// The character at `pos` for an error message. Stray bytes are written as \xNN so that the
// message stays valid UTF-8 even for input that is not.
std::string quote_char(std::string_view s, std::size_t pos) {
  const std::size_t len = utf8_sequence_length(s, pos);
  if (len > 0) return std::string(s.substr(pos, len));
  static constexpr char kHex[] = "0123456789abcdef";
  const auto b = static_cast<unsigned char>(s[pos]);
  return std::string{'\\', 'x', kHex[b >> 4], kHex[b & 0xF]};
}

constexpr std::uint32_t kFailed = std::numeric_limits<std::uint32_t>::max();

}  // namespace

// Recursive descent over the grammar of operations.md §20.1. Every parse_* method returns the
// index of the node it built, or kFailed after recording the first error; callers return
// kFailed straight away, so only the first error is ever reported.
class GuardParser {
 public:
  explicit GuardParser(std::string_view in) : in_(in) {}

  std::variant<GuardExpr, GuardParseError> run() {
    expr_.source_ = std::string(in_);
    skip_ws();
    if (pos_ == in_.size()) return GuardParseError{"empty guard expression", 0};
    if (parse_or() == kFailed) return std::move(error_);
    skip_ws();
    if (pos_ != in_.size()) return GuardParseError{"unexpected trailing input", pos_};
    // Node vectors are only appended to while parsing; give back the slack since compiled
    // guards live as long as their machine version.
    expr_.nodes_.shrink_to_fit();
    expr_.segments_.shrink_to_fit();
    expr_.children_.shrink_to_fit();
    return std::move(expr_);
  }

 private:
  using Op = GuardExpr::Op;
  using Node = GuardExpr::Node;

  bool at_end() const noexcept { return pos_ >= in_.size(); }
  unsigned char peek(std::size_t ahead = 0) const noexcept {
    return pos_ + ahead < in_.size() ? static_cast<unsigned char>(in_[pos_ + ahead]) : 0;
  }
  bool looking_at(std::string_view token) const noexcept { return in_.substr(pos_).starts_with(token); }
  void skip_ws() noexcept {
    while (!at_end() && is_ws(peek()))
      ++pos_;
  }

  std::uint32_t fail(std::string reason, std::size_t position) {
    error_ = GuardParseError{std::move(reason), position};
    return kFailed;
  }

  std::uint32_t add(Node node) {
    expr_.nodes_.push_back(std::move(node));
    return static_cast<std::uint32_t>(expr_.nodes_.size() - 1);
  }

  // A chain of one operand is that operand; a longer chain becomes one n-ary node.
  std::uint32_t add_chain(Op op, const std::vector<std::uint32_t>& operands) {
    if (operands.size() == 1) return operands.front();
    Node node;
    node.op = op;
    node.first = static_cast<std::uint32_t>(expr_.children_.size());
    expr_.children_.insert(expr_.children_.end(), operands.begin(), operands.end());
    node.last = static_cast<std::uint32_t>(expr_.children_.size());
    return add(std::move(node));
  }

  // or_expr = and_expr { "||" and_expr }
  std::uint32_t parse_or() {
    std::vector<std::uint32_t> operands;
    for (;;) {
      const std::uint32_t operand = parse_and();
      if (operand == kFailed) return kFailed;
      operands.push_back(operand);
      skip_ws();
      if (!looking_at("||")) break;
      pos_ += 2;
      skip_ws();
    }
    return add_chain(Op::Or, operands);
  }

  // and_expr = unary { "&&" unary }
  std::uint32_t parse_and() {
    std::vector<std::uint32_t> operands;
    for (;;) {
      const std::uint32_t operand = parse_unary();
      if (operand == kFailed) return kFailed;
      operands.push_back(operand);
      skip_ws();
      if (!looking_at("&&")) break;
      pos_ += 2;
      skip_ws();
    }
    return add_chain(Op::And, operands);
  }

  bool enter_nesting() {
    if (++depth_ > kMaxGuardNesting) {
      fail("expression nested too deeply", pos_);
      return false;
    }
    return true;
  }

  // unary = "!" unary | primary;  primary = "(" or_expr ")" | comparison
  std::uint32_t parse_unary() {
    if (peek() == '!') {
      if (!enter_nesting()) return kFailed;
      ++pos_;
      skip_ws();
      const std::uint32_t operand = parse_unary();
      if (operand == kFailed) return kFailed;
      --depth_;
      Node node;
      node.op = Op::Not;
      node.first = operand;
      return add(std::move(node));
    }
    if (peek() == '(') {
      if (!enter_nesting()) return kFailed;
      ++pos_;
      skip_ws();
      const std::uint32_t inner = parse_or();
      if (inner == kFailed) return kFailed;
      skip_ws();
      if (at_end() || peek() != ')') return fail("expected ')'", pos_);
      ++pos_;
      --depth_;
      return inner;
    }
    return parse_comparison();
  }

  // comparison = path [ eq_op literal | rel_op number ]
  std::uint32_t parse_comparison() {
    Node node;
    if (!parse_path(node)) return kFailed;
    skip_ws();
    static constexpr std::pair<std::string_view, Op> kRelational[] = {
        {">=", Op::Ge}, {"<=", Op::Le}, {">", Op::Gt}, {"<", Op::Lt}};
    if (looking_at("==") || looking_at("!=")) {
      node.negate = peek() == '!';
      pos_ += 2;
      skip_ws();
      if (!parse_literal(node)) return kFailed;
      return add(std::move(node));
    }
    for (const auto& [token, op] : kRelational) {
      if (!looking_at(token)) continue;
      pos_ += token.size();
      skip_ws();
      if (!(is_digit(peek()) || peek() == '-' || peek() == '.')) {
        fail("relational operator requires a number", pos_);
        return kFailed;
      }
      node.op = op;
      if (!parse_number(node.number)) return kFailed;
      return add(std::move(node));
    }
    node.op = Op::Truthy;
    return add(std::move(node));
  }

  // path = "ctx" "." segment { "." segment }, no whitespace inside.
  bool parse_path(Node& node) {
    if (!looking_at("ctx.")) {
      fail("expected 'ctx.' path", pos_);
      return false;
    }
    pos_ += 4;
    node.first = static_cast<std::uint32_t>(expr_.segments_.size());
    for (;;) {
      const std::size_t start = pos_;
      while (!at_end() && is_seg_char(peek()))
        ++pos_;
      if (pos_ == start) {
        fail("empty path segment", pos_);
        return false;
      }
      expr_.segments_.emplace_back(in_.substr(start, pos_ - start));
      if (at_end() || peek() != '.') break;
      ++pos_;
    }
    node.last = static_cast<std::uint32_t>(expr_.segments_.size());
    return true;
  }

  // literal = "true" | "false" | "null" | string | number
  bool parse_literal(Node& node) {
    if (at_end()) {
      fail("unexpected end of input", pos_);
      return false;
    }
    const unsigned char c = peek();
    if (c == '"') {
      node.op = Op::EqString;
      return parse_string(node.text);
    }
    if (is_digit(c) || c == '-' || c == '.') {
      node.op = Op::EqNumber;
      return parse_number(node.number);
    }
    if (is_seg_char(c)) {
      // Keywords are whole words: read the full word first so "trueish" is rejected instead
      // of being read as `true` followed by junk.
      const std::size_t start = pos_;
      while (!at_end() && is_seg_char(peek()))
        ++pos_;
      const std::string_view word = in_.substr(start, pos_ - start);
      if (word == "null") {
        node.op = Op::EqNull;
      } else if (word == "true" || word == "false") {
        node.op = Op::EqBool;
        node.boolean = word == "true";
      } else {
        fail("invalid literal '" + std::string(word) + "'", start);
        return false;
      }
      return true;
    }
    fail("unexpected character '" + quote_char(in_, pos_) + "'", pos_);
    return false;
  }

  // string = '"' { char | '\"' | '\\' } '"'
  bool parse_string(std::string& out) {
    const std::size_t open = pos_;
    ++pos_;
    for (;;) {
      if (at_end()) {
        fail("unterminated string", open);
        return false;
      }
      const unsigned char c = peek();
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (pos_ + 1 >= in_.size()) {
          fail("unterminated string", open);
          return false;
        }
        const unsigned char escaped = peek(1);
        if (escaped != '"' && escaped != '\\') {
          fail("unsupported escape '\\" + quote_char(in_, pos_ + 1) + "'", pos_);
          return false;
        }
        out.push_back(static_cast<char>(escaped));
        pos_ += 2;
        continue;
      }
      // Bytes are copied one at a time; a multi-byte character is copied whole because none
      // of its bytes can be '"' or '\\'.
      out.push_back(static_cast<char>(c));
      ++pos_;
    }
  }

  // number = [ "-" ] ( digits [ "." [ digits ] ] | "." digits )
  bool parse_number(double& out) {
    const std::size_t start = pos_;
    const bool negative = peek() == '-';
    if (negative) ++pos_;
    std::size_t int_digits = 0;
    bool int_nonzero = false;
    while (!at_end() && is_digit(peek())) {
      int_nonzero = int_nonzero || peek() != '0';
      ++int_digits;
      ++pos_;
    }
    std::size_t frac_digits = 0;
    if (!at_end() && peek() == '.') {
      ++pos_;
      while (!at_end() && is_digit(peek())) {
        ++frac_digits;
        ++pos_;
      }
    }
    if (int_digits == 0 && frac_digits == 0) {
      fail("invalid number", start);
      return false;
    }
    // The extent is fixed by the grammar above; from_chars only converts it (correctly
    // rounded, locale-independent).
    const char* first = in_.data() + start;
    const char* last = in_.data() + pos_;
    double value = 0;
    const auto [end, ec] = std::from_chars(first, last, value, std::chars_format::fixed);
    if (ec == std::errc::result_out_of_range && !int_nonzero) {
      // Underflow: the correctly rounded value is a zero of the right sign.
      value = negative ? -0.0 : 0.0;
    } else if (ec == std::errc::result_out_of_range || (ec == std::errc() && !std::isfinite(value))) {
      fail("number out of range", start);
      return false;
    } else if (ec != std::errc() || (end != last && !(end + 1 == last && *end == '.'))) {
      fail("invalid number", start);
      return false;
    }
    out = value;
    return true;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  std::size_t depth_ = 0;
  GuardExpr expr_;
  GuardParseError error_;
};

std::variant<GuardExpr, GuardParseError> parse_guard(std::string_view text) {
  return GuardParser(text).run();
}

// ---- evaluation ----

namespace {

// What a path resolved to. `Length` is the synthetic `.length` of an array or string.
struct Resolved {
  enum class Kind : std::uint8_t { Missing, Value, Length };
  Kind kind = Kind::Missing;
  const boost::json::value* value = nullptr;
  std::size_t length = 0;
};

std::size_t code_points(const boost::json::string& s) noexcept {
  std::size_t n = 0;
  for (const char c : s)
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

Resolved resolve(const std::string* segment, const std::string* end,
                 const boost::json::object& ctx) noexcept {
  Resolved r;
  const boost::json::object* object = &ctx;
  const boost::json::value* current = nullptr;
  for (; segment != end; ++segment) {
    if (r.kind == Resolved::Kind::Length) return Resolved{};  // a length has no keys
    if (object != nullptr) {
      const auto it = object->find(*segment);
      if (it != object->end()) {
        current = &it->value();
        object = current->if_object();
        r.kind = Resolved::Kind::Value;
        continue;
      }
    }
    // Only reached when there is no real "length" key, which always wins.
    if (current != nullptr && *segment == "length") {
      if (const auto* array = current->if_array()) {
        r.kind = Resolved::Kind::Length;
        r.length = array->size();
        continue;
      }
      if (const auto* string = current->if_string()) {
        r.kind = Resolved::Kind::Length;
        r.length = code_points(*string);
        continue;
      }
    }
    return Resolved{};
  }
  r.value = current;
  return r;
}

// Numbers of every JSON representation compare as doubles (§20.5).
bool as_number(const Resolved& r, double& out) noexcept {
  if (r.kind == Resolved::Kind::Length) {
    out = static_cast<double>(r.length);
    return true;
  }
  if (r.kind != Resolved::Kind::Value) return false;
  switch (r.value->kind()) {
    case boost::json::kind::int64:
      out = static_cast<double>(r.value->get_int64());
      return true;
    case boost::json::kind::uint64:
      out = static_cast<double>(r.value->get_uint64());
      return true;
    case boost::json::kind::double_:
      out = r.value->get_double();
      return true;
    default:
      return false;
  }
}

bool truthy(const Resolved& r) noexcept {
  if (r.kind == Resolved::Kind::Missing) return false;
  if (r.kind == Resolved::Kind::Length) return r.length != 0;
  const boost::json::value& v = *r.value;
  switch (v.kind()) {
    case boost::json::kind::null:
      return false;
    case boost::json::kind::bool_:
      return v.get_bool();
    case boost::json::kind::int64:
      return v.get_int64() != 0;
    case boost::json::kind::uint64:
      return v.get_uint64() != 0;
    case boost::json::kind::double_:
      return v.get_double() != 0.0;  // -0.0 == 0.0 too
    case boost::json::kind::string:
      return !v.get_string().empty();
    case boost::json::kind::array:
      return !v.get_array().empty();
    case boost::json::kind::object:
      return !v.get_object().empty();
  }
  return false;
}

}  // namespace

bool GuardExpr::evaluate(const boost::json::object& ctx) const noexcept {
  // A default-constructed GuardExpr (never returned by parse_guard) has no nodes.
  if (nodes_.empty()) return false;
  return eval(static_cast<std::uint32_t>(nodes_.size() - 1), ctx);
}

bool GuardExpr::eval(std::uint32_t index, const boost::json::object& ctx) const noexcept {
  using Kind = Resolved::Kind;
  const Node& node = nodes_[index];
  switch (node.op) {
    case Op::Not:
      return !eval(node.first, ctx);
    case Op::And:
      for (std::uint32_t i = node.first; i < node.last; ++i) {
        if (!eval(children_[i], ctx)) return false;
      }
      return true;
    case Op::Or:
      for (std::uint32_t i = node.first; i < node.last; ++i) {
        if (eval(children_[i], ctx)) return true;
      }
      return false;
    default:
      break;
  }

  const Resolved r = resolve(segments_.data() + node.first, segments_.data() + node.last, ctx);
  double v = 0;
  bool equal = false;
  switch (node.op) {
    case Op::Truthy:
      return truthy(r);
    case Op::EqNull:
      equal = r.kind == Kind::Missing || (r.kind == Kind::Value && r.value->is_null());
      break;
    case Op::EqBool:
      equal = r.kind == Kind::Value && r.value->is_bool() && r.value->get_bool() == node.boolean;
      break;
    case Op::EqString:
      // Both sides are UTF-8, so equal code points means equal bytes.
      equal = r.kind == Kind::Value && r.value->is_string() &&
              std::string_view(r.value->get_string()) == std::string_view(node.text);
      break;
    case Op::EqNumber:
      equal = as_number(r, v) && std::fabs(v - node.number) < DBL_EPSILON;
      break;
    case Op::Gt:
      return as_number(r, v) && v > node.number;
    case Op::Ge:
      return as_number(r, v) && v >= node.number;
    case Op::Lt:
      return as_number(r, v) && v < node.number;
    case Op::Le:
      return as_number(r, v) && v <= node.number;
    default:
      return false;
  }
  return equal != node.negate;
}

}  // namespace rstmdb::statemachine
