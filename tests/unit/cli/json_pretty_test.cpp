#include "tools/cli/json_pretty.hpp"

#include "protocol/json_text.hpp"

#include <catch2/catch.hpp>

using namespace rstmdb::cli;

namespace {

std::string pretty(std::string_view text) {
  boost::json::value v;
  rstmdb::protocol::JsonParseError err;
  REQUIRE(rstmdb::protocol::parse_json(text, v, err));
  return pretty_json(v);
}

}  // namespace

TEST_CASE("serde_json's pretty layout", "[json_pretty]") {
  CHECK(pretty(R"({"a":1,"b":[true,null],"c":{},"d":[],"e":{"f":"x"}})") ==
        "{\n"
        "  \"a\": 1,\n"
        "  \"b\": [\n"
        "    true,\n"
        "    null\n"
        "  ],\n"
        "  \"c\": {},\n"
        "  \"d\": [],\n"
        "  \"e\": {\n"
        "    \"f\": \"x\"\n"
        "  }\n"
        "}");
}

TEST_CASE("scalars and escapes as the protocol writes them", "[json_pretty]") {
  CHECK(pretty("{}") == "{}");
  CHECK(pretty("[]") == "[]");
  CHECK(pretty("99.99") == "99.99");
  CHECK(pretty("1e2") == "100.0");
  CHECK(pretty(R"("tab\there \u00e9 /")") == "\"tab\\there \xc3\xa9 /\"");
  CHECK(pretty(R"({"k":"\u0001"})") == "{\n  \"k\": \"\\u0001\"\n}");
}
