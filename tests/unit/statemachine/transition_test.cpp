#include "statemachine/transition.hpp"

#include "protocol/json_text.hpp"
#include "statemachine/json_fixture.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

namespace {

using rstmdb::protocol::Error;
using rstmdb::protocol::ErrorCode;
using rstmdb::statemachine::MachineDefinition;
using rstmdb::statemachine::parse_machine_definition;
using rstmdb::statemachine::select_transition;
using rstmdb::statemachine::Transition;

using rstmdb::statemachine::testing::json_of;

MachineDefinition definition(std::string_view text) {
  auto parsed = parse_machine_definition(json_of(text));
  REQUIRE(std::holds_alternative<MachineDefinition>(parsed));
  return std::get<MachineDefinition>(std::move(parsed));
}

// The `to` of the chosen transition, or the error's code name prefixed with '!'.
std::string choose(const MachineDefinition& def, std::string_view state, std::string_view event,
                   std::string_view ctx) {
  auto result = select_transition(def, state, event, json_of(ctx).as_object());
  if (const auto* t = std::get_if<const Transition*>(&result)) {
    REQUIRE(*t != nullptr);
    return (*t)->to;
  }
  std::string out = "!";
  out += rstmdb::protocol::error_code_name(std::get<Error>(result).code);
  return out;
}

constexpr std::string_view kReview = R"({"states":["review","approved","manual","rejected","closed"],
  "initial":"review","transitions":[
    {"from":"review","event":"DECIDE","to":"approved","guard":"ctx.score >= 80"},
    {"from":"review","event":"DECIDE","to":"manual","guard":"ctx.score >= 50"},
    {"from":"review","event":"DECIDE","to":"rejected"},
    {"from":"review","event":"DECIDE","to":"closed"},
    {"from":["approved","manual"],"event":"CLOSE","to":"closed","guard":"ctx.done == true"},
    {"from":["approved","manual"],"event":"CLOSE","to":"review","guard":"ctx.reopen"},
    {"from":"closed","event":"NOOP","to":"closed"}]})";

}  // namespace

TEST_CASE("transition: the first candidate with no guard or a passing guard wins", "[transition]") {
  const auto def = definition(kReview);
  CHECK(choose(def, "review", "DECIDE", R"({"score":95})") == "approved");
  CHECK(choose(def, "review", "DECIDE", R"({"score":80})") == "approved");
  CHECK(choose(def, "review", "DECIDE", R"({"score":60})") == "manual");
  CHECK(choose(def, "review", "DECIDE", R"({"score":10})") == "rejected");
  // A guard-less candidate hides the later ones.
  CHECK(choose(def, "review", "DECIDE", R"({})") == "rejected");
  CHECK(choose(def, "approved", "CLOSE", R"({"done":true,"reopen":true})") == "closed");
  CHECK(choose(def, "manual", "CLOSE", R"({"done":false,"reopen":1})") == "review");
  // A self-transition is an ordinary transition.
  CHECK(choose(def, "closed", "NOOP", R"({})") == "closed");
}

TEST_CASE("transition: returns a pointer into the definition", "[transition]") {
  const auto def = definition(kReview);
  auto result = select_transition(def, "review", "DECIDE", json_of(R"({"score":60})").as_object());
  REQUIRE(std::holds_alternative<const Transition*>(result));
  CHECK(std::get<const Transition*>(result) == &def.transitions()[1]);
}

TEST_CASE("transition: no candidate is INVALID_TRANSITION", "[transition]") {
  const auto def = definition(kReview);
  CHECK(choose(def, "review", "CLOSE", "{}") == "!INVALID_TRANSITION");
  CHECK(choose(def, "rejected", "DECIDE", "{}") == "!INVALID_TRANSITION");
  CHECK(choose(def, "review", "decide", "{}") == "!INVALID_TRANSITION");
  CHECK(choose(def, "unknown state", "DECIDE", "{}") == "!INVALID_TRANSITION");

  auto result = select_transition(def, "rejected", "DECIDE", boost::json::object{});
  const auto& e = std::get<Error>(result);
  CHECK(e.code == ErrorCode::InvalidTransition);
  CHECK(e.message == "invalid transition: cannot apply 'DECIDE' in state 'rejected'");
  CHECK(e.details == boost::json::object{{"current_state", "rejected"}, {"event", "DECIDE"}});
}

TEST_CASE("transition: every guard false is GUARD_FAILED naming the first candidate", "[transition]") {
  const auto def = definition(kReview);
  auto result = select_transition(def, "manual", "CLOSE", json_of(R"({"done":false})").as_object());
  REQUIRE(std::holds_alternative<Error>(result));
  const auto& e = std::get<Error>(result);
  CHECK(e.code == ErrorCode::GuardFailed);
  CHECK(e.message == "guard failed for transition 'manual' -> 'closed' on event 'CLOSE'");
  CHECK(e.details ==
        boost::json::object{{"guard", "ctx.done == true"}, {"current_state", "manual"}, {"event", "CLOSE"}});
}

TEST_CASE("transition: guards see exactly the ctx they are given", "[transition]") {
  const auto def = definition(
      R"({"states":["created","paid"],"initial":"created","transitions":[{"from":"created","event":"PAY","to":"paid","guard":"ctx.amount > 0 && !ctx.blocked"}]})");
  CHECK(choose(def, "created", "PAY", R"({"amount":99.99})") == "paid");
  CHECK(choose(def, "created", "PAY", R"({"amount":99.99,"blocked":true})") == "!GUARD_FAILED");
  CHECK(choose(def, "created", "PAY", R"({"amount":0})") == "!GUARD_FAILED");
  CHECK(choose(def, "paid", "PAY", R"({"amount":1})") == "!INVALID_TRANSITION");
}
