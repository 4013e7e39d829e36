#include "statemachine/context.hpp"

#include "protocol/json_text.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

namespace {

using rstmdb::statemachine::merge_context;

boost::json::object object_of(std::string_view text) {
  boost::json::value v;
  rstmdb::protocol::JsonParseError error;
  REQUIRE(rstmdb::protocol::parse_json(text, v, error));
  REQUIRE(v.is_object());
  return v.get_object();
}

// Merged ctx as compact JSON text, so that key order is checked too.
std::string merged(std::string_view ctx, std::string_view payload) {
  auto c = object_of(ctx);
  merge_context(c, object_of(payload));
  return rstmdb::protocol::to_json(c);
}

}  // namespace

TEST_CASE("context: shallow top-level overwrite (§21)", "[context]") {
  struct Case {
    std::string_view ctx, payload, expected;
  };
  const Case cases[] = {
      {R"({"a":1,"n":{"x":1,"y":2}})", R"({"n":{"x":5},"b":null})", R"({"a":1,"n":{"x":5},"b":null})"},
      {R"({})", R"({})", R"({})"},
      {R"({"a":1})", R"({})", R"({"a":1})"},
      {R"({})", R"({"a":1,"b":2})", R"({"a":1,"b":2})"},
      // Existing keys keep their position; new keys are appended in payload order.
      {R"({"a":1,"b":2,"c":3})", R"({"z":0,"b":"two","y":[1]})", R"({"a":1,"b":"two","c":3,"z":0,"y":[1]})"},
      // null is stored, not a deletion.
      {R"({"a":1,"b":2})", R"({"a":null})", R"({"a":null,"b":2})"},
      // Nested values are replaced whole, of any type.
      {R"({"n":{"x":1,"y":2}})", R"({"n":[]})", R"({"n":[]})"},
      {R"({"n":[1,2,3]})", R"({"n":{"k":true}})", R"({"n":{"k":true}})"},
      {R"({"s":"x"})", R"({"s":1.5})", R"({"s":1.5})"},
  };
  for (const auto& c : cases) {
    INFO("ctx: " << c.ctx << " payload: " << c.payload);
    CHECK(merged(c.ctx, c.payload) == c.expected);
  }
}

TEST_CASE("context: the payload is copied, not shared", "[context]") {
  auto ctx = object_of(R"({"a":1})");
  {
    auto payload = object_of(R"({"n":{"deep":[1,2]}})");
    merge_context(ctx, payload);
    payload["n"].as_object()["deep"].as_array().clear();
  }
  CHECK(rstmdb::protocol::to_json(ctx) == R"({"a":1,"n":{"deep":[1,2]}})");
}
