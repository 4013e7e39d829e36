#include "statemachine/definition.hpp"

#include "protocol/json_text.hpp"
#include "statemachine/json_fixture.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace {

using rstmdb::protocol::Error;
using rstmdb::protocol::ErrorCode;
using rstmdb::statemachine::canonical_definition_json;
using rstmdb::statemachine::definition_checksum;
using rstmdb::statemachine::MachineDefinition;
using rstmdb::statemachine::parse_machine_definition;

using rstmdb::statemachine::testing::json_of;

MachineDefinition valid(std::string_view text) {
  auto parsed = parse_machine_definition(json_of(text));
  const auto* error = std::get_if<Error>(&parsed);
  INFO("definition: " << text << "  error: " << (error ? error->message : std::string("-")));
  REQUIRE(error == nullptr);
  return std::get<MachineDefinition>(std::move(parsed));
}

Error invalid(std::string_view text) {
  auto parsed = parse_machine_definition(json_of(text));
  INFO("definition: " << text);
  REQUIRE(std::holds_alternative<Error>(parsed));
  return std::get<Error>(std::move(parsed));
}

std::string canonical(std::string_view text) {
  return canonical_definition_json(json_of(text).as_object());
}

std::vector<std::uint32_t> candidates(const MachineDefinition& def, std::string_view state,
                                      std::string_view event) {
  const auto span = def.candidates(state, event);
  return {span.begin(), span.end()};
}

constexpr std::string_view kRow1 =
    R"({"states":["created","paid"],"initial":"created","transitions":[{"from":"created","event":"PAY","to":"paid"}]})";
constexpr std::string_view kRow1Canonical =
    R"({"states":["created","paid"],"initial":"created","transitions":[{"from":["created"],"event":"PAY","to":"paid"}]})";

}  // namespace

TEST_CASE("definition: checksum test vectors of §19.4", "[definition]") {
  struct Vector {
    std::string_view submitted;
    std::string_view canonical;
    std::string_view checksum;
  };
  const std::vector<Vector> vectors = {
      {kRow1, kRow1Canonical, "26adbd14"},
      {R"({"transitions":[{"to":"paid","event":"PAY","from":["created"]}],"initial":"created","states":["created","paid"]})",
       kRow1Canonical, "26adbd14"},
      {R"({"states":["created","paid"],"initial":"created","transitions":[{"from":"created","event":"PAY","to":"paid","guard":null}],"meta":null})",
       kRow1Canonical, "26adbd14"},
      {R"({"meta":{"b":"x","a":1},"initial":"created","states":["created","paid","shipped"],"transitions":[{"from":"created","event":"PAY","to":"paid"},{"event":"SHIP","from":["paid"],"guard":"ctx.ready","to":"shipped","note":"ignored"}],"extra":true})",
       R"({"states":["created","paid","shipped"],"initial":"created","transitions":[{"from":["created"],"event":"PAY","to":"paid"},{"from":["paid"],"event":"SHIP","to":"shipped","guard":"ctx.ready"}],"meta":{"a":1,"b":"x"}})",
       "338dabb0"},
      {R"({"states":["a"],"initial":"a","transitions":[],"meta":{"z":{"y":2,"x":[3,{"k":"\u00e9\n"}]},"a":"q\"/"}})",
       "{\"states\":[\"a\"],\"initial\":\"a\",\"transitions\":[],\"meta\":{\"a\":\"q\\\"/"
       "\",\"z\":{\"x\":[3,{\"k\":"
       "\"\xc3\xa9\\n\"}],\"y\":2}}}",
       "b49dcf6a"},
  };
  for (const auto& v : vectors) {
    INFO("submitted: " << v.submitted);
    CHECK(canonical(v.submitted) == v.canonical);
    CHECK(definition_checksum(v.canonical) == v.checksum);
    CHECK(valid(v.submitted).checksum() == v.checksum);
  }
}

TEST_CASE("definition: checksum is 8 lowercase zero-padded hex digits of CRC32C", "[definition]") {
  CHECK(definition_checksum("123456789") == "e3069283");
  CHECK(definition_checksum("") == "00000000");
  for (const char* text : {"a", "abc", "{}", kRow1.data()}) {
    const std::string sum = definition_checksum(text);
    CHECK(sum.size() == 8);
    CHECK(sum.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
}

TEST_CASE("definition: canonical form normalisations", "[definition]") {
  // The same definition written in different ways has the same canonical text.
  const std::vector<std::string_view> same = {
      kRow1,
      R"({"states":["created","paid"],"initial":"created","transitions":[{"from":["created"],"event":"PAY","to":"paid"}]})",
      R"({"x":{"deep":[1,2]},"states":["created","paid"],"initial":"created","transitions":[{"guard":null,"to":"paid","event":"PAY","from":"created","y":1}]})",
      R"({"states":["cr\u0065ated","paid"],"initial":"created","transitions":[{"from":"created","event":"PAY","to":"paid"}],"meta":null})",
  };
  for (const auto text : same) {
    INFO(text);
    CHECK(canonical(text) == kRow1Canonical);
  }
  // Array order and duplicates in `states` and `from` are kept.
  CHECK(
      canonical(
          R"({"states":["b","a","b"],"initial":"a","transitions":[{"from":["b","a","b"],"event":"E","to":"a"}]})") ==
      R"({"states":["b","a","b"],"initial":"a","transitions":[{"from":["b","a","b"],"event":"E","to":"a"}]})");
  // An empty `from` stays empty; the guard text is written as given.
  CHECK(
      canonical(
          R"({"states":["a"],"initial":"a","transitions":[{"from":[],"event":"E","to":"a","guard":" ctx.x\t"}]})") ==
      R"({"states":["a"],"initial":"a","transitions":[{"from":[],"event":"E","to":"a","guard":" ctx.x\t"}]})");
  // Meta of any type; keys sorted by byte order (uppercase before lowercase, ASCII before UTF-8).
  CHECK(
      canonical(
          R"({"states":["a"],"initial":"a","transitions":[],"meta":[{"b":1,"B":2,"\u00e9":3,"a":4,"":5}]})") ==
      "{\"states\":[\"a\"],\"initial\":\"a\",\"transitions\":[],\"meta\":[{\"\":5,\"B\":2,\"a\":4,\"b\":1,"
      "\"\xc3\xa9\":3}]}");
  CHECK(canonical(R"({"states":["a"],"initial":"a","transitions":[],"meta":"text"})") ==
        R"({"states":["a"],"initial":"a","transitions":[],"meta":"text"})");
  CHECK(canonical(R"({"states":["a"],"initial":"a","transitions":[],"meta":{}})") ==
        R"({"states":["a"],"initial":"a","transitions":[],"meta":{}})");
  CHECK(canonical(R"({"states":["a"],"initial":"a","transitions":[],"meta":[true,false,null,[]]})") ==
        R"({"states":["a"],"initial":"a","transitions":[],"meta":[true,false,null,[]]})");
  // Control characters and escapes in names.
  CHECK(canonical(R"({"states":["a\u0001\t/"],"initial":"a\u0001\t/","transitions":[]})") ==
        R"({"states":["a\u0001\t/"],"initial":"a\u0001\t/","transitions":[]})");
  // Different definitions have different checksums.
  CHECK(
      valid(kRow1).checksum() !=
      valid(
          R"({"states":["created","paid"],"initial":"created","transitions":[{"from":"created","event":"PAY","to":"paid","guard":"ctx.a"}]})")
          .checksum());
}

TEST_CASE("definition: number layout inside meta", "[definition]") {
  const std::vector<std::pair<std::string_view, std::string_view>> numbers = {
      {"100", "100"},
      {"100.0", "100.0"},
      {"1e2", "100.0"},
      {"0.1", "0.1"},
      {"0.00001", "0.00001"},
      {"123456.789", "123456.789"},
      {"0.000001", "1e-6"},
      {"1e16", "1e+16"},
      {"1e15", "1000000000000000.0"},
      {"1.5e300", "1.5e+300"},
      {"-3.25e-10", "-3.25e-10"},
      {"18446744073709551616", "1.8446744073709552e+19"},
      {"-0", "-0.0"},
      {"0", "0"},
      {"0.0", "0.0"},
      {"-1", "-1"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"18446744073709551615", "18446744073709551615"},
      {"-1.5", "-1.5"},
      {"2.5E-3", "0.0025"},
  };
  for (const auto& [in, out] : numbers) {
    INFO("number: " << in);
    const std::string text =
        R"({"states":["a"],"initial":"a","transitions":[],"meta":{"n":)" + std::string(in) + "}}";
    CHECK(canonical(text) ==
          R"({"states":["a"],"initial":"a","transitions":[],"meta":{"n":)" + std::string(out) + "}}");
  }
}

TEST_CASE("definition: validation rules run in the order of §19.2", "[definition]") {
  struct Case {
    std::string_view definition;
    std::string_view reason;
  };
  const std::vector<Case> cases = {
      // 1
      {R"([])", "definition must be an object"},
      {R"(null)", "definition must be an object"},
      {R"("x")", "definition must be an object"},
      // 2 (before everything else)
      {R"({})", "'states' must be a non-empty array of strings"},
      {R"({"states":[],"initial":"zz","transitions":5})", "'states' must be a non-empty array of strings"},
      {R"({"states":"a","initial":"a","transitions":[]})", "'states' must be a non-empty array of strings"},
      {R"({"states":null,"initial":"a","transitions":[]})", "'states' must be a non-empty array of strings"},
      {R"({"states":["a",1],"initial":"a","transitions":[]})",
       "'states' must be a non-empty array of strings"},
      {R"({"states":["a",null],"initial":"a","transitions":[]})",
       "'states' must be a non-empty array of strings"},
      // 3
      {R"({"states":["a"],"initial":"b","transitions":5})", "initial state 'b' not in states list"},
      {R"({"states":["a"],"initial":"A","transitions":[]})", "initial state 'A' not in states list"},
      {R"({"states":["a"],"transitions":[]})", "'initial' must be a string"},
      {R"({"states":["a"],"initial":null,"transitions":[]})", "'initial' must be a string"},
      {R"({"states":["a"],"initial":["a"],"transitions":[]})", "'initial' must be a string"},
      // 4
      {R"({"states":["a"],"initial":"a"})", "'transitions' must be an array"},
      {R"({"states":["a"],"initial":"a","transitions":null})", "'transitions' must be an array"},
      {R"({"states":["a"],"initial":"a","transitions":{}})", "'transitions' must be an array"},
      // 5
      {R"({"states":["a"],"initial":"a","transitions":[1]})", "transition 0: must be an object"},
      {R"({"states":["a"],"initial":"a","transitions":[null]})", "transition 0: must be an object"},
      // 6 before 7 and 8
      {R"({"states":["a"],"initial":"a","transitions":[{"from":5,"to":"zz"}]})",
       "transition 0: 'event' must be a string"},
      {R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":null,"to":"a"}]})",
       "transition 0: 'event' must be a string"},
      // 7 before 8
      {R"({"states":["a"],"initial":"a","transitions":[{"from":5,"event":"E","to":"zz"}]})",
       "transition 0: target state 'zz' not in states list"},
      {R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":"E"}]})",
       "transition 0: 'to' must be a string"},
      {R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":"E","to":1}]})",
       "transition 0: 'to' must be a string"},
      // 8: shape first, then membership in order
      {R"({"states":["a"],"initial":"a","transitions":[{"event":"E","to":"a"}]})",
       "transition 0: 'from' must be a string or an array of strings"},
      {R"({"states":["a"],"initial":"a","transitions":[{"from":null,"event":"E","to":"a"}]})",
       "transition 0: 'from' must be a string or an array of strings"},
      {R"({"states":["a"],"initial":"a","transitions":[{"from":{"a":1},"event":"E","to":"a"}]})",
       "transition 0: 'from' must be a string or an array of strings"},
      {R"({"states":["a"],"initial":"a","transitions":[{"from":["zz",5],"event":"E","to":"a"}]})",
       "transition 0: 'from' must be a string or an array of strings"},
      {R"({"states":["a"],"initial":"a","transitions":[{"from":"zz","event":"E","to":"a"}]})",
       "transition 0: source state 'zz' not in states list"},
      {R"({"states":["a","b"],"initial":"a","transitions":[{"from":["a","y","z"],"event":"E","to":"b"}]})",
       "transition 0: source state 'y' not in states list"},
      // 9
      {R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":"E","to":"a","guard":5}]})",
       "transition 0: 'guard' must be a string or null"},
      {R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":"E","to":"a","guard":true}]})",
       "transition 0: 'guard' must be a string or null"},
      // Rules 5-9 run per transition: transition 1's rule 9 comes before transition 2's rule 5.
      {R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":"E","to":"a"},{"from":"a","event":"E","to":"a","guard":[]},7]})",
       "transition 1: 'guard' must be a string or null"},
      {R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":"E","to":"a"},{"from":"a","event":"E","to":"b"}]})",
       "transition 1: target state 'b' not in states list"},
  };
  for (const auto& c : cases) {
    const Error e = invalid(c.definition);
    INFO("definition: " << c.definition);
    CHECK(e.code == ErrorCode::BadRequest);
    CHECK(e.message == "invalid machine definition: " + std::string(c.reason));
    CHECK(e.details == boost::json::object{{"field", "definition"}});
  }
}

TEST_CASE("definition: a guard that does not parse is reported with its transition and byte",
          "[definition]") {
  const Error e = invalid(
      R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":"E","to":"a","guard":"ctx.a"},{"from":"a","event":"E","to":"a","guard":"ctx.a == 'x'"},5]})");
  CHECK(e.code == ErrorCode::BadRequest);
  CHECK(e.message == "invalid guard expression in transition 1: unexpected character ''' at byte 9");
  CHECK(e.details == boost::json::object{{"field", "definition"}, {"transition_index", 1}});

  const Error empty = invalid(
      R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":"E","to":"a","guard":""}]})");
  CHECK(empty.message == "invalid guard expression in transition 0: empty guard expression at byte 0");
  CHECK(empty.details == boost::json::object{{"field", "definition"}, {"transition_index", 0}});

  // The guard's escapes are JSON-decoded first: positions are bytes of the decoded text.
  const Error escaped = invalid(
      R"({"states":["a"],"initial":"a","transitions":[{"from":"a","event":"E","to":"a","guard":"ctx.\u00e9"}]})");
  CHECK(escaped.message == "invalid guard expression in transition 0: empty path segment at byte 4");
}

TEST_CASE("definition: accepted shapes", "[definition]") {
  const auto def = valid(
      R"({"states":["created","paid","shipped","cancelled"],"initial":"created","transitions":[
           {"from":"created","event":"PAY","to":"paid","guard":"ctx.amount > 0 && !ctx.blocked"},
           {"from":["created","paid"],"event":"CANCEL","to":"cancelled"},
           {"from":"paid","event":"SHIP","to":"shipped","guard":null}],
          "meta":{"description":"Order lifecycle"}, "unknown":[1,2]})");
  CHECK(def.states() == std::vector<std::string>{"created", "paid", "shipped", "cancelled"});
  CHECK(def.initial() == "created");
  REQUIRE(def.transitions().size() == 3);
  CHECK(def.transitions()[0].from == std::vector<std::string>{"created"});
  CHECK(def.transitions()[0].event == "PAY");
  CHECK(def.transitions()[0].to == "paid");
  REQUIRE(def.transitions()[0].guard.has_value());
  CHECK(def.transitions()[0].guard->source() == "ctx.amount > 0 && !ctx.blocked");
  CHECK(def.transitions()[1].from == std::vector<std::string>{"created", "paid"});
  CHECK_FALSE(def.transitions()[1].guard.has_value());
  CHECK_FALSE(def.transitions()[2].guard.has_value());
  CHECK(def.has_state("cancelled"));
  CHECK_FALSE(def.has_state("Cancelled"));
  CHECK_FALSE(def.has_state(""));

  // Empty transitions, duplicate states, arbitrary names.
  const auto odd = valid(R"({"states":["", "a b", "", "\u00e9"],"initial":"","transitions":[]})");
  CHECK(odd.initial().empty());
  CHECK(odd.has_state("a b"));
  CHECK(odd.has_state("\xc3\xa9"));
  CHECK(odd.transitions().empty());
  CHECK(odd.candidates("", "").empty());
}

TEST_CASE("definition: candidates per (state, event) in definition order", "[definition]") {
  const auto def =
      valid(R"({"states":["review","approved","manual","rejected","x"],"initial":"review","transitions":[
      {"from":"review","event":"DECIDE","to":"approved","guard":"ctx.score >= 80"},
      {"from":["x","review"],"event":"OTHER","to":"x"},
      {"from":"review","event":"DECIDE","to":"manual","guard":"ctx.score >= 50"},
      {"from":["review","review","x"],"event":"DECIDE","to":"rejected"},
      {"from":[],"event":"DECIDE","to":"x"},
      {"from":"x","event":"decide","to":"x"}]})");
  CHECK(candidates(def, "review", "DECIDE") == std::vector<std::uint32_t>{0, 2, 3});
  CHECK(candidates(def, "x", "DECIDE") == std::vector<std::uint32_t>{3});
  CHECK(candidates(def, "review", "OTHER") == std::vector<std::uint32_t>{1});
  CHECK(candidates(def, "x", "OTHER") == std::vector<std::uint32_t>{1});
  CHECK(candidates(def, "x", "decide") == std::vector<std::uint32_t>{5});
  CHECK(candidates(def, "review", "decide").empty());
  CHECK(candidates(def, "approved", "DECIDE").empty());
  CHECK(candidates(def, "nowhere", "DECIDE").empty());
  // A name that is a concatenation of two others must not collide.
  CHECK(candidates(def, "reviewDECIDE", "").empty());
  CHECK(candidates(def, "", "reviewDECIDE").empty());
}

TEST_CASE("definition: copies and moves keep the candidate index usable", "[definition]") {
  auto def = valid(kRow1);
  const MachineDefinition copy = def;
  const MachineDefinition moved = std::move(def);
  CHECK(candidates(copy, "created", "PAY") == std::vector<std::uint32_t>{0});
  CHECK(candidates(moved, "created", "PAY") == std::vector<std::uint32_t>{0});
  CHECK(copy.checksum() == "26adbd14");
}
