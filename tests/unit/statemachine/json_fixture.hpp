// Shared by the statemachine tests: JSON test input parsed the way requests are.
#pragma once

#include "protocol/json_text.hpp"

#include <boost/json/value.hpp>
#include <catch2/catch.hpp>

#include <string_view>

namespace rstmdb::statemachine::testing {

// Parses `text` with the server's own JSON reader; fails the test if it is not valid JSON.
inline boost::json::value json_of(std::string_view text) {
  boost::json::value v;
  rstmdb::protocol::JsonParseError error;
  INFO("json: " << text);
  REQUIRE(rstmdb::protocol::parse_json(text, v, error));
  return v;
}

}  // namespace rstmdb::statemachine::testing
