#include "server/params.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using rstmdb::protocol::ErrorCode;
using rstmdb::server::Params;
using rstmdb::server::RequestError;

namespace {

boost::json::object object_of(const char* text) {
  return boost::json::parse(text).as_object();
}

// Runs `fn`, expecting a RequestError; returns its message after checking the common shape.
template <typename Fn>
std::string error_of(Fn fn, const char* field) {
  try {
    fn();
  } catch (const RequestError& e) {
    CHECK(e.error().code == ErrorCode::BadRequest);
    CHECK(e.error().details.at("field").as_string() == field);
    return e.error().message;
  }
  FAIL("no RequestError");
  return {};
}

}  // namespace

TEST_CASE("params: missing, null and wrong types give the operations.md §1.1 messages") {
  const auto o =
      object_of(R"({"s":"x","n":7,"neg":-1,"big":4294967296,"f":1.5,"b":true,"z":null,"o":{},"a":["x",1]})");
  const Params p(o);
  CHECK(p.required_string("s") == "x");
  CHECK(error_of([&] { p.required_string("z"); }, "z") == "invalid request: missing field 'z'");
  CHECK(error_of([&] { p.required_string("nope"); }, "nope") == "invalid request: missing field 'nope'");
  CHECK(error_of([&] { p.required_string("n"); }, "n") ==
        "invalid request: invalid type for field 'n': expected string");
  CHECK(p.required_u32("n") == 7);
  CHECK(error_of([&] { p.required_u32("neg"); }, "neg") ==
        "invalid request: invalid type for field 'neg': expected u32");
  CHECK(error_of([&] { p.required_u32("f"); }, "f") ==
        "invalid request: invalid type for field 'f': expected u32");
  CHECK(error_of([&] { p.required_u32("big"); }, "big") ==
        "invalid request: invalid value for field 'big': must be at most 4294967295");
  CHECK(p.optional_u64("big") == 4294967296u);
  CHECK(p.optional_bool("b") == true);
  CHECK_FALSE(p.optional_bool("z"));
  CHECK(p.optional_object("o")->empty());
  CHECK(error_of([&] { p.optional_string_array("a"); }, "a") ==
        "invalid request: invalid type for field 'a': expected array of strings");
}

TEST_CASE("params: the canonical spelling wins over its alias") {
  const auto both = object_of(R"({"instance_id":"canonical","id":"alias"})");
  CHECK(Params(both).required_string("instance_id", "id") == "canonical");
  const auto alias_only = object_of(R"({"id":"alias"})");
  CHECK(Params(alias_only).required_string("instance_id", "id") == "alias");
  // A null canonical key counts as absent, so the alias is used.
  const auto null_canonical = object_of(R"({"instance_id":null,"id":"alias"})");
  CHECK(Params(null_canonical).required_string("instance_id", "id") == "alias");
}
