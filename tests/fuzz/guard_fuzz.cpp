// libFuzzer target: arbitrary bytes as guard text (operations.md §20; docs/fuzzing.md).
// Oracles: an error lies within the input (and, for UTF-8 input, on a character boundary with
// a UTF-8 reason); what compiles keeps its source, evaluates the same twice, and evaluates the
// same inside parentheses and to the opposite under `!( )`.
#include "statemachine/guard.hpp"

#include "protocol/json_text.hpp"

#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using rstmdb::statemachine::GuardExpr;
using rstmdb::statemachine::GuardParseError;
using rstmdb::statemachine::parse_guard;

const std::vector<boost::json::object>& contexts() {
  static const std::vector<boost::json::object> all = [] {
    std::vector<boost::json::object> v;
    for (
        const char* text : {
            R"({})",
            R"({"a":1,"b":"x","c":true,"d":null,"items":[1,2,3],"s":"h\u00e9llo","n":{"a":{"b":2.5},"length":7}})",
            R"({"a":-0.0,"b":"","c":false,"items":[],"big":18446744073709551615,"neg":-9223372036854775808})",
            R"({"ctx":{"a":1},"length":2,"_":[{}],"0":0.5,"x":{"y":{"z":"\"\\"}}})",
        }) {
      v.push_back(boost::json::parse(text).as_object());
    }
    return v;
  }();
  return all;
}

void check(bool invariant) {
  if (!invariant) std::abort();
}

// The wrapped text must compile unless the wrapping itself crossed the nesting limit.
const GuardExpr* compile_wrapped(const std::string& text, std::variant<GuardExpr, GuardParseError>& slot) {
  slot = parse_guard(text);
  if (const auto* error = std::get_if<GuardParseError>(&slot)) {
    check(error->reason == "expression nested too deeply");
    return nullptr;
  }
  return &std::get<GuardExpr>(slot);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_guard(text);
  if (const auto* error = std::get_if<GuardParseError>(&parsed)) {
    check(error->position <= size && !error->reason.empty());
    if (rstmdb::protocol::is_valid_utf8(text)) {
      check(error->position == size || (static_cast<unsigned char>(text[error->position]) & 0xC0) != 0x80);
      check(rstmdb::protocol::is_valid_utf8(error->reason));
    }
    return 0;
  }
  const auto& expr = std::get<GuardExpr>(parsed);
  check(expr.source() == text);

  std::variant<GuardExpr, GuardParseError> paren_slot;
  std::variant<GuardExpr, GuardParseError> not_slot;
  const GuardExpr* paren = compile_wrapped("(" + std::string(text) + ")", paren_slot);
  const GuardExpr* negated = compile_wrapped("!(" + std::string(text) + ")", not_slot);
  for (const auto& ctx : contexts()) {
    const bool value = expr.evaluate(ctx);
    check(expr.evaluate(ctx) == value);
    if (paren != nullptr) check(paren->evaluate(ctx) == value);
    if (negated != nullptr) check(negated->evaluate(ctx) == !value);
  }
  return 0;
}
