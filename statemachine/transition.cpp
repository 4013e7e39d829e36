#include "statemachine/transition.hpp"

#include <string>

namespace rstmdb::statemachine {

std::variant<const Transition*, protocol::Error> select_transition(const MachineDefinition& def,
                                                                   std::string_view state,
                                                                   std::string_view event,
                                                                   const boost::json::object& ctx) {
  const auto candidates = def.candidates(state, event);
  const auto& transitions = def.transitions();
  for (const std::uint32_t index : candidates) {
    const Transition& t = transitions[index];
    if (!t.guard || t.guard->evaluate(ctx)) return &t;
  }

  protocol::Error error;
  if (candidates.empty()) {
    error.code = protocol::ErrorCode::InvalidTransition;
    error.message = "invalid transition: cannot apply '";
    error.message.append(event).append("' in state '").append(state).append("'");
  } else {
    // Every candidate has a guard here: a guard-less one would have been chosen.
    const Transition& first = transitions[candidates.front()];
    error.code = protocol::ErrorCode::GuardFailed;
    error.message = "guard failed for transition '";
    error.message.append(state)
        .append("' -> '")
        .append(first.to)
        .append("' on event '")
        .append(event)
        .append("'");
    error.details["guard"] = first.guard ? std::string_view(first.guard->source()) : std::string_view();
  }
  error.details["current_state"] = state;
  error.details["event"] = event;
  return error;
}

}  // namespace rstmdb::statemachine
