// The guard expression language (operations.md §20): compiled once when a definition is
// validated (PUT_MACHINE), evaluated on every APPLY_EVENT against the pre-merge ctx.
//
//   ctx.amount > 0 && !ctx.blocked
//   ctx.items.length >= 1 || ctx.tier == "gold"
//
// Parsing is total: any byte sequence either compiles or yields a GuardParseError whose
// position lies within the input; it never reads out of bounds, crashes, or recurses more
// than about 4 * kMaxGuardNesting frames. Evaluation is total too: it never throws, never
// allocates, and treats every type mismatch as false.
#pragma once

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rstmdb::statemachine {

// More than this many `(` and `!` open at once is a parse error ("expression nested too
// deeply"). It bounds the recursion of both the parser and the evaluator.
inline constexpr std::size_t kMaxGuardNesting = 128;

struct GuardParseError {
  // E.g. "unterminated string". Informative: clients must not match on it (§20.6).
  std::string reason;
  // 0-based byte offset into the guard text; always <= the text's size (== size means "at
  // the end of the input"). Never points inside a multi-byte UTF-8 character.
  std::size_t position = 0;
};

// A compiled guard. Copyable and movable; a const GuardExpr may be evaluated from any number
// of threads at once.
class GuardExpr {
 public:
  // The guard holds for `ctx` (§20.4 path lookup, §20.5 evaluation).
  bool evaluate(const boost::json::object& ctx) const noexcept;

  // The exact text the expression was compiled from (reported in GUARD_FAILED details).
  const std::string& source() const noexcept { return source_; }

 private:
  friend class GuardParser;
  friend std::variant<GuardExpr, GuardParseError> parse_guard(std::string_view text);

  enum class Op : std::uint8_t {
    Truthy,    // bare path
    EqNull,    // path == null (negate: !=)
    EqBool,    // path == true/false
    EqString,  // path == "s"
    EqNumber,  // path == n, |v - n| < DBL_EPSILON
    Gt,
    Ge,
    Lt,
    Le,
    Not,  // child = first
    And,  // children = children_[first, last)
    Or,
  };

  // Nodes are stored in post-order, so the root is the last node and every node's operands
  // come before it. And/Or are n-ary: a chain of `||` or `&&` is one node, so the tree depth
  // (and the evaluator's recursion) depends only on nesting, never on the length of a chain.
  struct Node {
    Op op = Op::Truthy;
    bool negate = false;      // `!=` instead of `==`
    bool boolean = false;     // EqBool operand
    double number = 0;        // EqNumber and relational operand
    std::uint32_t first = 0;  // path: segments_ range; Not: child; And/Or: children_ range
    std::uint32_t last = 0;
    std::string text;  // EqString operand, escapes decoded
  };

  bool eval(std::uint32_t index, const boost::json::object& ctx) const noexcept;

  std::string source_;
  std::vector<Node> nodes_;
  std::vector<std::string> segments_;
  std::vector<std::uint32_t> children_;
};

// Compiles `text` (the whole of it: trailing input is an error) per the grammar of §20.1.
// The text is expected to be valid UTF-8, as JSON decoding guarantees; other bytes are
// tolerated (never crash) but only produce useful results inside string literals.
std::variant<GuardExpr, GuardParseError> parse_guard(std::string_view text);

}  // namespace rstmdb::statemachine
