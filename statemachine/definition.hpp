// Machine definitions (operations.md §19): validation, the compiled form APPLY_EVENT runs
// on, and the canonical form behind the checksum.
//
// A definition is validated and compiled once, at PUT_MACHINE (or when a stored version is
// loaded); the result is immutable, so one MachineDefinition can serve any number of threads.
// The definition as submitted is not kept here: GET_MACHINE returns the caller's own copy.
#pragma once

#include "protocol/error.hpp"
#include "statemachine/guard.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace rstmdb::statemachine {

struct Transition {
  // `from` in array form: a string `from` becomes one element. Order and duplicates are kept
  // as submitted; an empty list never matches.
  std::vector<std::string> from;
  std::string event;
  std::string to;
  // nullopt when `guard` was absent or null. Otherwise guard->source() is the guard text.
  std::optional<GuardExpr> guard;
};

class MachineDefinition {
 public:
  // `states` as submitted (duplicates tolerated), never empty.
  const std::vector<std::string>& states() const noexcept { return states_; }
  // Always one of states().
  const std::string& initial() const noexcept { return initial_; }
  // In definition order; the transition index is the index into this vector.
  const std::vector<Transition>& transitions() const noexcept { return transitions_; }
  // CRC32C of the canonical form (§19.4): 8 lowercase hex digits.
  const std::string& checksum() const noexcept { return checksum_; }

  bool has_state(std::string_view state) const noexcept;

  // Indices into transitions() of the transitions whose `from` contains `state` and whose
  // `event` equals `event`, in definition order, each index once (§9 step 7). Empty when
  // there are none. Hashes the two names once and allocates nothing. The span stays valid as
  // long as this object.
  std::span<const std::uint32_t> candidates(std::string_view state, std::string_view event) const noexcept;

 private:
  friend std::variant<MachineDefinition, protocol::Error> parse_machine_definition(
      const boost::json::value& definition);

  struct Key {
    std::string state;
    std::string event;
  };
  struct KeyView {
    std::string_view state;
    std::string_view event;
  };
  // Transparent, so candidates() can look up string_views without building a Key.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(const KeyView& k) const noexcept;
    std::size_t operator()(const Key& k) const noexcept { return (*this)(KeyView{k.state, k.event}); }
  };
  struct KeyEqual {
    using is_transparent = void;
    bool operator()(const KeyView& a, const KeyView& b) const noexcept {
      return a.state == b.state && a.event == b.event;
    }
    bool operator()(const Key& a, const Key& b) const noexcept {
      return a.state == b.state && a.event == b.event;
    }
    bool operator()(const KeyView& a, const Key& b) const noexcept {
      return a.state == b.state && a.event == b.event;
    }
    bool operator()(const Key& a, const KeyView& b) const noexcept {
      return a.state == b.state && a.event == b.event;
    }
  };
  // [begin, end) in candidate_indices_.
  struct Range {
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
  };

  std::vector<std::string> states_;
  std::vector<std::string> sorted_states_;  // unique, for has_state()
  std::string initial_;
  std::vector<Transition> transitions_;
  std::string checksum_;
  std::unordered_map<Key, Range, KeyHash, KeyEqual> candidate_ranges_;
  std::vector<std::uint32_t> candidate_indices_;
};

// Validates `definition` in the order of §19.2 and compiles it. The first failure is
// BAD_REQUEST with details {"field":"definition"} and the message
//   `invalid machine definition: <reason>`, or, for a guard that does not parse,
//   `invalid guard expression in transition <i>: <reason> at byte <pos>` with details
//   {"field":"definition","transition_index":i}.
// Reasons beyond §19.2's table: `'initial' must be a string`, `transition <i>: 'to' must be a
// string`, `transition <i>: 'guard' must be a string or null`.
// Unknown keys are ignored. Never throws on any JSON value.
std::variant<MachineDefinition, protocol::Error> parse_machine_definition(
    const boost::json::value& definition);

// The canonical form of §19.4 as compact JSON text. Precondition: `definition` passed
// parse_machine_definition (otherwise the text is unspecified, but nothing worse happens).
// Recursion is bounded by the nesting of `meta`, which JSON decoding limits.
std::string canonical_definition_json(const boost::json::object& definition);

// CRC32C of `canonical_json` as 8 lowercase hex digits, zero-padded.
std::string definition_checksum(std::string_view canonical_json);

}  // namespace rstmdb::statemachine
