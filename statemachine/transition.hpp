// Transition selection for APPLY_EVENT (operations.md §9 steps 7-8, §19.3).
#pragma once

#include "protocol/error.hpp"
#include "statemachine/definition.hpp"

#include <boost/json/object.hpp>

#include <string_view>
#include <variant>

namespace rstmdb::statemachine {

// Chooses the transition `event` takes an instance in `state` with context `ctx` (the
// pre-merge ctx: guards never see the payload).
//
// Success: a pointer (never null) to the first candidate, in definition order, that has no
// guard or whose guard holds. It points into `def` and lives as long as `def`.
// Failure, when no transition leaves `state` on `event`:
//   INVALID_TRANSITION `invalid transition: cannot apply '<event>' in state '<state>'`,
//   details {"current_state","event"};
// when there are candidates but every guard is false:
//   GUARD_FAILED `guard failed for transition '<state>' -> '<to>' on event '<event>'`, details
//   {"guard","current_state","event"}, where <to> and "guard" come from the first candidate.
//
// Allocates only to build an error. Thread-safe for concurrent calls on the same `def`.
std::variant<const Transition*, protocol::Error> select_transition(const MachineDefinition& def,
                                                                   std::string_view state,
                                                                   std::string_view event,
                                                                   const boost::json::object& ctx);

}  // namespace rstmdb::statemachine
