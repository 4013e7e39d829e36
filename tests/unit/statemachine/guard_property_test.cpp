// Property tests for the guard parser: no input crashes it, every error points inside the
// input, and random well-formed expressions evaluate as a reference evaluator says.
// Deterministic: fixed seeds, and only the engine's raw output is used (distributions are
// implementation-defined).
#include "statemachine/guard.hpp"

#include "protocol/json_text.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using rstmdb::statemachine::GuardExpr;
using rstmdb::statemachine::GuardParseError;
using rstmdb::statemachine::parse_guard;

boost::json::object object_of(std::string_view text) {
  boost::json::value v;
  rstmdb::protocol::JsonParseError error;
  REQUIRE(rstmdb::protocol::parse_json(text, v, error));
  return v.as_object();
}

const std::vector<boost::json::object>& sample_contexts() {
  static const std::vector<boost::json::object> contexts = {
      object_of("{}"),
      object_of(R"({"a":1,"b":"x","c":true,"items":[1,2],"s":"h\u00e9","n":{"a":null,"length":3}})"),
      object_of(R"({"a":-0.0,"b":"","c":false,"items":[],"x":{"y":{"z":18446744073709551615}}})"),
      object_of(R"({"ctx":{"a":1},"length":2,"_":[{}],"0":0.5})"),
  };
  return contexts;
}

std::uint64_t pick(std::mt19937_64& rng, std::uint64_t n) {
  return rng() % n;
}

// Checks the parser's contract on one input, and evaluates whatever compiles.
void check_total(const std::string& input, bool valid_utf8) {
  auto parsed = parse_guard(input);
  if (const auto* error = std::get_if<GuardParseError>(&parsed)) {
    INFO("input (" << input.size() << " bytes): " << input << "\nreason: " << error->reason);
    REQUIRE(error->position <= input.size());
    REQUIRE_FALSE(error->reason.empty());
    if (valid_utf8 && error->position < input.size()) {
      // Never inside a multi-byte character.
      REQUIRE((static_cast<unsigned char>(input[error->position]) & 0xC0) != 0x80);
    }
    if (valid_utf8) REQUIRE(rstmdb::protocol::is_valid_utf8(error->reason));
    return;
  }
  const auto& expr = std::get<GuardExpr>(parsed);
  REQUIRE(expr.source() == input);
  for (const auto& ctx : sample_contexts())
    (void)expr.evaluate(ctx);
}

const std::vector<std::string_view> kTokens = {"ctx.",
                                               "ctx",
                                               ".",
                                               "a",
                                               "b",
                                               "c",
                                               "items",
                                               "length",
                                               "_",
                                               "0",
                                               "n",
                                               "s",
                                               "x.y.z",
                                               "==",
                                               "!=",
                                               ">=",
                                               "<=",
                                               ">",
                                               "<",
                                               "=",
                                               "!",
                                               "&&",
                                               "||",
                                               "&",
                                               "|",
                                               "(",
                                               ")",
                                               "\"",
                                               "\\",
                                               "\\\"",
                                               "\\\\",
                                               "\"x\"",
                                               "\"\"",
                                               "true",
                                               "false",
                                               "null",
                                               "trueish",
                                               "-",
                                               "1",
                                               "1.5",
                                               ".5",
                                               "5.",
                                               "1e3",
                                               "-0",
                                               "007",
                                               " ",
                                               "  ",
                                               "\t",
                                               "\n",
                                               "\r",
                                               "\xc3\xa9",
                                               "\xe2\x9c\x93",
                                               "\xf0\x9f\x98\x80",
                                               "'",
                                               "@",
                                               "+",
                                               "ctx.a",
                                               "ctx.items.length",
                                               "ctx.n.length",
                                               "ctx.b == \"x\"",
                                               "ctx.a > 0",
                                               "!(",
                                               "((",
                                               "))"};

}  // namespace

TEST_CASE("guard property: random bytes never break the parser", "[guard][property]") {
  std::mt19937_64 rng(0x5eed0001);
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string input(pick(rng, 64), '\0');
    for (auto& c : input)
      c = static_cast<char>(pick(rng, 256));
    check_total(input, rstmdb::protocol::is_valid_utf8(input));
  }
  // Bytes drawn mostly from the grammar's own alphabet reach deeper into the parser.
  static constexpr std::string_view kAlphabet = "ctx.a1_ =!<>&|()\"\\-.tfnrue\t\n\xc3\xa9";
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string input = pick(rng, 2) == 0 ? "ctx." : "";
    const std::size_t n = pick(rng, 48);
    for (std::size_t i = 0; i < n; ++i)
      input += kAlphabet[pick(rng, kAlphabet.size())];
    check_total(input, rstmdb::protocol::is_valid_utf8(input));
  }
}

TEST_CASE("guard property: random token soups never break the parser", "[guard][property]") {
  std::mt19937_64 rng(0x5eed0002);
  std::size_t compiled = 0;
  for (int iteration = 0; iteration < 30000; ++iteration) {
    std::string input;
    const std::size_t n = pick(rng, 24);
    for (std::size_t i = 0; i < n; ++i)
      input += kTokens[pick(rng, kTokens.size())];
    check_total(input, true);
    compiled += std::holds_alternative<GuardExpr>(parse_guard(input));
  }
  // The soup is meant to exercise both outcomes.
  CHECK(compiled > 0);
}

namespace {

// A random well-formed expression, rendered with the fewest parentheses the precedence
// rules allow (plus some redundant ones), and its value computed independently.
struct Generated {
  std::string text;
  bool value;
  int level;  // 0 = atom (comparison or parenthesised), 1 = unary, 2 = &&, 3 = ||
};

// Leaf comparisons over the ctx below, with their known truth values.
const boost::json::object& generator_ctx() {
  static const boost::json::object ctx = object_of(R"({"t":true,"f":false,"n":1,"s":"x","l":[1,2,3]})");
  return ctx;
}

struct Leaf {
  std::string_view text;
  bool value;
};
constexpr Leaf kLeaves[] = {
    {"ctx.t", true},           {"ctx.f", false},
    {"ctx.n == 1", true},      {"ctx.n != 1", false},
    {"ctx.n > 5", false},      {"ctx.n <= 1", true},
    {"ctx.m == null", true},   {"ctx.s == \"x\"", true},
    {"ctx.s == \"y\"", false}, {"ctx.l.length == 3", true},
    {"ctx.missing", false},    {"ctx.t == false", false},
};

std::string ws(std::mt19937_64& rng) {
  static constexpr std::string_view kWs[] = {"", "", " ", "  ", "\t", "\n", " \r\n "};
  return std::string(kWs[pick(rng, std::size(kWs))]);
}

// Braced-list elements are evaluated in order, so the rng is consumed the same way by every
// compiler (operands of `+` are unsequenced).
std::string join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (const auto part : parts)
    out.append(part);
  return out;
}

Generated generate(std::mt19937_64& rng, int depth) {
  const std::uint64_t kind = depth == 0 ? 0 : pick(rng, 5);
  auto wrap = [&](Generated g) { return Generated{join({"(", ws(rng), g.text, ws(rng), ")"}), g.value, 0}; };
  switch (kind) {
    case 0: {
      const Leaf& leaf = kLeaves[pick(rng, std::size(kLeaves))];
      Generated g{std::string(leaf.text), leaf.value, 0};
      return pick(rng, 8) == 0 ? wrap(g) : g;
    }
    case 1: {  // !x: x must be an atom or another unary
      Generated inner = generate(rng, depth - 1);
      if (inner.level > 1) inner = wrap(inner);
      return Generated{join({"!", ws(rng), inner.text}), !inner.value, 1};
    }
    case 2:
    case 3: {  // x && y: operands of level <= 2 (left-assoc, so && chains need no parens)
      Generated l = generate(rng, depth - 1);
      Generated r = generate(rng, depth - 1);
      if (l.level > 2) l = wrap(l);
      if (r.level > 1) r = wrap(r);  // `a && (b && c)` keeps its parens for a fair shape
      return Generated{join({l.text, ws(rng), "&&", ws(rng), r.text}), l.value && r.value, 2};
    }
    default: {  // x || y
      Generated l = generate(rng, depth - 1);
      Generated r = generate(rng, depth - 1);
      if (r.level > 2) r = wrap(r);
      return Generated{join({l.text, ws(rng), "||", ws(rng), r.text}), l.value || r.value, 3};
    }
  }
}

}  // namespace

TEST_CASE("guard property: generated expressions evaluate per precedence", "[guard][property]") {
  std::mt19937_64 rng(0x5eed0003);
  for (int iteration = 0; iteration < 20000; ++iteration) {
    const Generated g = generate(rng, static_cast<int>(pick(rng, 6)));
    const std::string text = join({ws(rng), g.text, ws(rng)});
    auto parsed = parse_guard(text);
    const auto* error = std::get_if<GuardParseError>(&parsed);
    INFO("guard: " << text << "\nerror: " << (error ? error->reason : std::string("-")));
    REQUIRE(error == nullptr);
    REQUIRE(std::get<GuardExpr>(parsed).evaluate(generator_ctx()) == g.value);
  }
}
