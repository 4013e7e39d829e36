#include "statemachine/guard.hpp"

#include "protocol/json_text.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace {

using rstmdb::statemachine::GuardExpr;
using rstmdb::statemachine::GuardParseError;
using rstmdb::statemachine::kMaxGuardNesting;
using rstmdb::statemachine::parse_guard;

constexpr std::size_t kAnyPosition = std::numeric_limits<std::size_t>::max();

// protocol::parse_json converts numbers correctly rounded, as the server does.
boost::json::object ctx_of(std::string_view json) {
  boost::json::value v;
  rstmdb::protocol::JsonParseError error;
  INFO("ctx: " << json);
  REQUIRE(rstmdb::protocol::parse_json(json, v, error));
  REQUIRE(v.is_object());
  return v.get_object();
}

// Evaluates `guard` against `ctx_json`; fails the test if the guard does not compile.
bool holds(std::string_view guard, std::string_view ctx_json) {
  auto parsed = parse_guard(guard);
  const auto* error = std::get_if<GuardParseError>(&parsed);
  INFO("guard: " << guard << " error: " << (error ? error->reason : std::string("-")));
  REQUIRE(error == nullptr);
  return std::get<GuardExpr>(parsed).evaluate(ctx_of(ctx_json));
}

struct EvalCase {
  std::string_view guard;
  std::string_view ctx;
  bool expected;
};

void check_cases(const std::vector<EvalCase>& cases) {
  for (const auto& c : cases) {
    INFO("guard: " << c.guard << "  ctx: " << c.ctx);
    CHECK(holds(c.guard, c.ctx) == c.expected);
  }
}

struct ErrorCase {
  std::string guard;
  std::string_view reason_prefix;
  std::size_t position;
};

void check_errors(const std::vector<ErrorCase>& cases) {
  for (const auto& c : cases) {
    INFO("guard: " << c.guard);
    auto parsed = parse_guard(c.guard);
    const auto* error = std::get_if<GuardParseError>(&parsed);
    REQUIRE(error != nullptr);
    INFO("reason: " << error->reason << " at " << error->position);
    CHECK(std::string_view(error->reason).starts_with(c.reason_prefix));
    CHECK(error->position <= c.guard.size());
    if (c.position != kAnyPosition) CHECK(error->position == c.position);
  }
}

}  // namespace

TEST_CASE("guard: bare path is truthiness", "[guard]") {
  check_cases({
      {"ctx.a", R"({"a":true})", true},
      {"ctx.a", R"({"a":false})", false},
      {"ctx.a", R"({"a":null})", false},
      {"ctx.a", R"({})", false},
      {"ctx.a", R"({"a":0})", false},
      {"ctx.a", R"({"a":-0.0})", false},
      {"ctx.a", R"({"a":0.0})", false},
      {"ctx.a", R"({"a":1})", true},
      {"ctx.a", R"({"a":-1})", true},
      {"ctx.a", R"({"a":0.5})", true},
      {"ctx.a", R"({"a":18446744073709551615})", true},
      {"ctx.a", R"({"a":""})", false},
      {"ctx.a", R"({"a":"0"})", true},
      {"ctx.a", R"({"a":"false"})", true},
      {"ctx.a", R"({"a":[]})", false},
      {"ctx.a", R"({"a":[0]})", true},
      {"ctx.a", R"({"a":{}})", false},
      {"ctx.a", R"({"a":{"x":null}})", true},
      {"ctx.a.b", R"({"a":{"b":1}})", true},
      {"ctx.a.b", R"({"a":{"c":1}})", false},
      {"ctx.a.b.c", R"({"a":5})", false},
  });
}

TEST_CASE("guard: equality with null and booleans", "[guard]") {
  check_cases({
      {"ctx.a == null", R"({"a":null})", true},
      {"ctx.a == null", R"({})", true},
      {"ctx.a.b.c == null", R"({"a":1})", true},
      {"ctx.a == null", R"({"a":false})", false},
      {"ctx.a == null", R"({"a":0})", false},
      {"ctx.a == null", R"({"a":""})", false},
      {"ctx.a != null", R"({"a":0})", true},
      {"ctx.a != null", R"({})", false},
      {"ctx.a == true", R"({"a":true})", true},
      {"ctx.a == true", R"({"a":1})", false},
      {"ctx.a == true", R"({"a":"true"})", false},
      {"ctx.a == false", R"({"a":false})", true},
      {"ctx.a == false", R"({})", false},
      {"ctx.a == false", R"({"a":0})", false},
      {"ctx.a != true", R"({"a":false})", true},
      {"ctx.a != false", R"({})", true},
  });
}

TEST_CASE("guard: equality with strings", "[guard]") {
  check_cases({
      {R"(ctx.a == "x")", R"({"a":"x"})", true},
      {R"(ctx.a == "x")", R"({"a":"X"})", false},
      {R"(ctx.a == "x")", R"({"a":"x "})", false},
      {R"(ctx.a == "")", R"({"a":""})", true},
      {R"(ctx.a == "")", R"({})", false},
      {R"(ctx.a == "1")", R"({"a":1})", false},
      {R"(ctx.a == "null")", R"({"a":null})", false},
      {R"(ctx.a == "héllo wörld ✓")", R"({"a":"h\u00e9llo w\u00f6rld \u2713"})", true},
      {R"(ctx.a == "a\"b")", R"({"a":"a\"b"})", true},
      {R"(ctx.a == "a\\b")", R"({"a":"a\\b"})", true},
      {R"(ctx.a == "it's")", R"({"a":"it's"})", true},
      {R"(ctx.a == "||&&()!")", R"({"a":"||&&()!"})", true},
      {R"(ctx.a != "x")", R"({})", true},
      {R"(ctx.a != "x")", R"({"a":"x"})", false},
      {R"(ctx.a != "x")", R"({"a":"y"})", true},
  });
}

TEST_CASE("guard: equality with numbers uses an absolute DBL_EPSILON", "[guard]") {
  check_cases({
      {"ctx.a == 1", R"({"a":1})", true},
      {"ctx.a == 1", R"({"a":1.0})", true},
      {"ctx.a == 1.0", R"({"a":1})", true},
      {"ctx.a == 1", R"({"a":"1"})", false},
      {"ctx.a == 1", R"({"a":true})", false},
      {"ctx.a == 0", R"({})", false},
      {"ctx.a == 0", R"({"a":null})", false},
      {"ctx.a == -2.5", R"({"a":-2.5})", true},
      {"ctx.a == 0.3", R"({"a":0.30000000000000004})", true},
      {"ctx.a == 0", R"({"a":1e-17})", true},
      {"ctx.a == 0", R"({"a":-0.0})", true},
      {"ctx.a == -0", R"({"a":0})", true},
      {"ctx.a == 1", R"({"a":1.0000000000000002})", false},
      {"ctx.a == 18446744073709551615", R"({"a":18446744073709551615})", true},
      {"ctx.a == 9007199254740992", R"({"a":9007199254740993})", true},  // doubles: 2^53+1 -> 2^53
      {"ctx.a == -9223372036854775808", R"({"a":-9223372036854775808})", true},
      {"ctx.a == .5", R"({"a":0.5})", true},
      {"ctx.a == 5.", R"({"a":5})", true},
      {"ctx.a == -.5", R"({"a":-0.5})", true},
      {"ctx.a == 007", R"({"a":7})", true},
      {"ctx.a != 1", R"({"a":1})", false},
      {"ctx.a != 1", R"({"a":2})", true},
      {"ctx.a != 1", R"({})", true},
  });
}

TEST_CASE("guard: relational operators need numbers on both sides", "[guard]") {
  check_cases({
      {"ctx.a > 5", R"({"a":6})", true},
      {"ctx.a > 5", R"({"a":5})", false},
      {"ctx.a >= 5", R"({"a":5})", true},
      {"ctx.a >= 5", R"({"a":4.999})", false},
      {"ctx.a < 5", R"({"a":4})", true},
      {"ctx.a < 5", R"({"a":5})", false},
      {"ctx.a <= 5", R"({"a":5})", true},
      {"ctx.a <= 5", R"({"a":5.5})", false},
      {"ctx.a > -1.5", R"({"a":-1})", true},
      {"ctx.a < .5", R"({"a":0.25})", true},
      {"ctx.a > 5", R"({"a":"6"})", false},
      {"ctx.a < 5", R"({"a":"4"})", false},
      {"ctx.a > 0", R"({"a":true})", false},
      {"ctx.a < 1", R"({"a":null})", false},
      {"ctx.a < 1", R"({})", false},
      {"ctx.a < 1", R"({"a":[]})", false},
      {"ctx.a > 0", R"({"a":18446744073709551615})", true},
      {"ctx.a < 0", R"({"a":-9223372036854775808})", true},
      {"ctx.a>5", R"({"a":6})", true},
      {"ctx.a<=5", R"({"a":5})", true},
      {"ctx.a\t>=\n5\r", R"({"a":5})", true},
  });
}

TEST_CASE("guard: .length of arrays and strings unless a real key exists", "[guard]") {
  check_cases({
      {"ctx.items.length == 3", R"({"items":[1,2,3]})", true},
      {"ctx.items.length > 0", R"({"items":[]})", false},
      {"ctx.items.length == 0", R"({"items":[]})", true},
      {"ctx.items.length", R"({"items":[]})", false},
      {"ctx.items.length", R"({"items":[null]})", true},
      {"ctx.s.length == 5", R"({"s":"h\u00e9llo"})", true},     // code points, not bytes
      {"ctx.s.length == 2", R"({"s":"\ud83d\ude00x"})", true},  // one 4-byte code point + x
      {"ctx.s.length == 0", R"({"s":""})", true},
      {"ctx.o.length == 42", R"({"o":{"length":42}})", true},  // a real key wins
      {"ctx.o.length == \"x\"", R"({"o":{"length":"x"}})", true},
      {"ctx.o.length == null", R"({"o":{"a":1}})", true},  // objects have no length
      {"ctx.n.length == null", R"({"n":5})", true},
      {"ctx.b.length == null", R"({"b":true})", true},
      {"ctx.items.length.x == null", R"({"items":[1]})", true},
      {"ctx.items.length.length == null", R"({"items":[1]})", true},
      {"ctx.length == null", R"({})", true},
      {"ctx.length == 1", R"({"length":1})", true},
      {"ctx.s.length != 3", R"({"s":"abc"})", false},
      {"ctx.items.length >= 2 && ctx.items.length < 4", R"({"items":[1,2,3]})", true},
  });
}

TEST_CASE("guard: arrays cannot be indexed, segments are object keys", "[guard]") {
  check_cases({
      {"ctx.items.0 == 1", R"({"items":[1]})", false},
      {"ctx.items.0 == 1", R"({"items":{"0":1}})", true},
      {"ctx.a_b.C9 == 2", R"({"a_b":{"C9":2}})", true},
      {"ctx._ == 1", R"({"_":1})", true},
  });
}

TEST_CASE("guard: logical operators and precedence", "[guard]") {
  check_cases({
      {"ctx.a && ctx.b", R"({"a":true,"b":true})", true},
      {"ctx.a && ctx.b", R"({"a":true,"b":false})", false},
      {"ctx.a || ctx.b", R"({"a":false,"b":true})", true},
      {"ctx.a || ctx.b", R"({"a":false,"b":false})", false},
      {"!ctx.a", R"({"a":false})", true},
      {"!ctx.a", R"({})", true},
      {"!!ctx.a", R"({"a":1})", true},
      {"! ctx.a", R"({"a":1})", false},
      // `!ctx.a == 1` is `!(ctx.a == 1)`.
      {"!ctx.a == 1", R"({"a":1})", false},
      {"!ctx.a == 1", R"({"a":2})", true},
      // `a || b && c` is `a || (b && c)`.
      {"ctx.a || ctx.b && ctx.c", R"({"a":true,"b":false,"c":false})", true},
      {"ctx.a && ctx.b || ctx.c", R"({"a":false,"b":false,"c":true})", true},
      {"(ctx.a || ctx.b) && ctx.c", R"({"a":true,"b":false,"c":false})", false},
      // `!` binds tighter than `&&`.
      {"!ctx.a && ctx.b", R"({"a":false,"b":false})", false},
      {"!(ctx.a && ctx.b)", R"({"a":false,"b":false})", true},
      {"ctx.a || ctx.b || ctx.c || ctx.d", R"({"d":1})", true},
      {"ctx.a && ctx.b && ctx.c && ctx.d", R"({"a":1,"b":1,"c":1,"d":0})", false},
      {"((ctx.a))", R"({"a":1})", true},
      {" ( ctx.a == 1 ) ", R"({"a":1})", true},
      {"\n\tctx.amount > 0 && !ctx.blocked\r\n", R"({"amount":5})", true},
      {"ctx.amount > 0 && !ctx.blocked", R"({"amount":5,"blocked":true})", false},
      {"ctx.a==1&&ctx.b!=2||!ctx.c", R"({"a":1,"b":2,"c":0})", true},
  });
}

TEST_CASE("guard: keywords are whole words", "[guard]") {
  check_cases({
      {"ctx.a==true&&ctx.b==false", R"({"a":true,"b":false})", true},
      {"(ctx.a==null)", R"({})", true},
      {"ctx.a == null||ctx.b", R"({"a":1,"b":1})", true},
  });
}

TEST_CASE("guard: source text is kept verbatim", "[guard]") {
  const std::string text = "  ctx.a  ==  \"x\"  ";
  auto parsed = parse_guard(text);
  REQUIRE(std::holds_alternative<GuardExpr>(parsed));
  CHECK(std::get<GuardExpr>(parsed).source() == text);
}

TEST_CASE("guard: a default-constructed expression is false", "[guard]") {
  CHECK_FALSE(GuardExpr{}.evaluate(ctx_of("{}")));
}

TEST_CASE("guard: parse errors of §20.6 with their positions", "[guard]") {
  check_errors({
      {"", "empty guard expression", 0},
      {"   ", "empty guard expression", kAnyPosition},
      {" \t\r\n", "empty guard expression", kAnyPosition},
      {"amount > 5", "expected 'ctx.' path", 0},
      {"1 == ctx.a", "expected 'ctx.' path", 0},
      {"ctx .a", "expected 'ctx.' path", 0},
      {"ctx", "expected 'ctx.' path", 0},
      {"ctxa.b", "expected 'ctx.' path", 0},
      {"CTX.a", "expected 'ctx.' path", 0},
      {"  x", "expected 'ctx.' path", 2},
      {"ctx.", "empty path segment", 4},
      {"ctx.a..b", "empty path segment", 6},
      {"ctx.a.", "empty path segment", 6},
      {"ctx. a", "empty path segment", 4},
      {"ctx.a == 'x'", "unexpected character '''", 9},
      {"ctx.a == @", "unexpected character '@'", 9},
      {"ctx.a == é", "unexpected character 'é'", 9},
      {"ctx.a == ✓", "unexpected character '✓'", 9},
      {"ctx.a == \"x", "unterminated string", 9},
      {"ctx.a == \"x\\\"", "unterminated string", 9},
      {"ctx.a == \"x\\", "unterminated string", 9},
      {"ctx.a == \"\\n\"", "unsupported escape '\\n'", 10},
      {"ctx.a == \"ab\\u0041\"", "unsupported escape '\\u'", 12},
      {"ctx.a == \"\\é\"", "unsupported escape '\\é'", 10},
      {"ctx.a > \"x\"", "relational operator requires a number", 8},
      {"ctx.a > true", "relational operator requires a number", 8},
      {"ctx.a > null", "relational operator requires a number", 8},
      {"ctx.a >", "relational operator requires a number", 7},
      {"ctx.a <= ctx.b", "relational operator requires a number", 9},
      {"ctx.a == -", "invalid number", 9},
      {"ctx.a == .", "invalid number", 9},
      {"ctx.a == -.", "invalid number", 9},
      {"ctx.a == - 1", "invalid number", 9},
      {"ctx.a > -", "invalid number", 8},
      {"ctx.a == " + std::string(400, '9'), "number out of range", 9},
      {"ctx.a < -" + std::string(400, '1') + ".5", "number out of range", 8},
      {"ctx.a == trueish", "invalid literal 'trueish'", 9},
      {"ctx.a == True", "invalid literal 'True'", 9},
      {"ctx.a == nul", "invalid literal 'nul'", 9},
      {"ctx.a == false_", "invalid literal 'false_'", 9},
      {"ctx.a == ctx.b", "invalid literal 'ctx'", 9},
      {"ctx.a ==", "unexpected end of input", 8},
      {"(ctx.a", "expected ')'", 6},
      {"(ctx.a x", "expected ')'", 7},
      {"((ctx.a)", "expected ')'", 8},
      {"ctx.a = 1", "unexpected trailing input", 6},
      {"ctx.a ) x", "unexpected trailing input", 6},
      {"ctx.a == 1e3", "unexpected trailing input", 10},
      {"ctx.a == 1E3", "unexpected trailing input", 10},
      {"ctx.a == +1", "unexpected character '+'", 9},
      {"ctx.a == 1 == 2", "unexpected trailing input", 11},
      {"ctx.a < 1 < 2", "unexpected trailing input", 10},
      {"ctx.a == 1.2.3", "unexpected trailing input", 12},
      {"ctx.größe", "unexpected trailing input", 6},
      {"ctx.a & ctx.b", "unexpected trailing input", 6},
      {"ctx.a | ctx.b", "unexpected trailing input", 6},
      {"ctx.a =! 1", "unexpected trailing input", 6},
      {"ctx.a b", "unexpected trailing input", 6},
      {"ctx.a == \"x\" \"y\"", "unexpected trailing input", 13},
      {"ctx.a &&", "expected 'ctx.' path", 8},
      {"ctx.a || ", "expected 'ctx.' path", 9},
      {"&& ctx.a", "expected 'ctx.' path", 0},
      {"!", "expected 'ctx.' path", 1},
      {"()", "expected 'ctx.' path", 1},
      {"( )", "expected 'ctx.' path", 2},
      {"1 == ctx.a", "expected 'ctx.' path", 0},
      {"é", "expected 'ctx.' path", 0},
      {"ctx.é", "empty path segment", 4},
      {std::string("ctx.a\0", 6), "unexpected trailing input", 5},
      {std::string("ctx.a == \"x\0", 12), "unterminated string", 9},
  });
}

TEST_CASE("guard: nesting limit counts ( and ! together", "[guard]") {
  const std::size_t n = kMaxGuardNesting;
  auto parses = [](const std::string& text) { return std::holds_alternative<GuardExpr>(parse_guard(text)); };

  CHECK(parses(std::string(n, '(') + "ctx.a" + std::string(n, ')')));
  CHECK(parses(std::string(n, '!') + "ctx.a"));
  std::string mixed;
  for (std::size_t i = 0; i < n / 2; ++i)
    mixed += "!(";
  CHECK(parses(mixed + "ctx.a" + std::string(n / 2, ')')));
  // Siblings do not add up: depth is what is open at once.
  std::string siblings;
  for (std::size_t i = 0; i < 3; ++i) {
    if (i > 0) siblings += " && ";
    siblings += std::string(n, '(') + "ctx.a" + std::string(n, ')');
  }
  CHECK(parses(siblings));

  check_errors({
      {std::string(n + 1, '(') + "ctx.a" + std::string(n + 1, ')'), "expression nested too deeply", n},
      {std::string(n + 1, '!') + "ctx.a", "expression nested too deeply", n},
      {mixed + "!(" + "ctx.a" + std::string(n / 2 + 1, ')'), "expression nested too deeply", n},
      {std::string(n, '(') + "!ctx.a" + std::string(n, ')'), "expression nested too deeply", n},
      {std::string(100000, '('), "expression nested too deeply", n},
      {std::string(100000, '!'), "expression nested too deeply", n},
      {"ctx.a && " + std::string(n + 1, '('), "expression nested too deeply", 9 + n},
  });
}

TEST_CASE("guard: the deepest allowed nesting evaluates", "[guard]") {
  const std::size_t n = kMaxGuardNesting;
  CHECK(holds(std::string(n, '(') + "ctx.a" + std::string(n, ')'), R"({"a":1})"));
  CHECK(holds(std::string(n, '!') + "ctx.a", R"({"a":1})"));            // even count: identity
  CHECK_FALSE(holds(std::string(n - 1, '!') + "ctx.a", R"({"a":1})"));  // odd count: negation
}

TEST_CASE("guard: long chains do not deepen the tree", "[guard]") {
  std::string text = "ctx.x0";
  for (int i = 1; i < 50000; ++i)
    text += " || ctx.x" + std::to_string(i);
  CHECK(holds(text, R"({"x49999":1})"));
  CHECK_FALSE(holds(text, R"({"y":1})"));

  std::string conj = "ctx.a";
  for (int i = 0; i < 50000; ++i)
    conj += " && ctx.a";
  CHECK(holds(conj, R"({"a":1})"));
}

TEST_CASE("guard: underflowing numbers are zero, not an error", "[guard]") {
  CHECK(holds("ctx.a == 0." + std::string(400, '0') + "1", R"({"a":0})"));
  CHECK(holds("ctx.a == -0." + std::string(400, '0') + "1", R"({"a":0})"));
  // A subnormal still converts exactly.
  CHECK(holds("ctx.a > 0." + std::string(320, '0') + "1", R"({"a":1e-300})"));
  CHECK(holds("ctx.a < 0." + std::string(300, '0') + "1", R"({"a":0})"));
  // The largest finite double is fine; one digit more is not.
  CHECK(holds("ctx.a > 1" + std::string(307, '0'), R"({"a":1e308})"));
  CHECK(holds("ctx.a == 1" + std::string(308, '0'), R"({"a":1e308})"));
  check_errors({{"ctx.a == 1" + std::string(309, '0'), "number out of range", 9}});
}

TEST_CASE("guard: number conversion is correctly rounded", "[guard]") {
  // 0.1 must be the double nearest to 1/10, as JSON decoding produces it.
  check_cases({
      {"ctx.a == 0.1", R"({"a":0.1})", true},
      {"ctx.a > 0.1", R"({"a":0.1})", false},
      {"ctx.a < 0.1", R"({"a":0.1})", false},
      {"ctx.a >= 123456.789", R"({"a":123456.789})", true},
      {"ctx.a <= 123456.789", R"({"a":123456.789})", true},
      {"ctx.a > 9007199254740993", R"({"a":9007199254740992})", false},  // both round to 2^53
      {"ctx.a >= "
       "17976931348623157000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
       "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
       "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
       "0",
       R"({"a":1.7976931348623157e308})", true},
  });
}
