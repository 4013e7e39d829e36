#include "tools/bench/response_scan.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace rstmdb::bench;

TEST_CASE("scan ok response", "[response_scan]") {
  ResponseSummary s;
  REQUIRE(scan_response(R"({"type":"response","id":"1","status":"ok","result":{"pong":true}})", s));
  CHECK(s.is_response());
  CHECK(s.has_id);
  CHECK(s.id == "1");
  CHECK(s.ok());
  CHECK(s.error_code.empty());
}

TEST_CASE("scan error response", "[response_scan]") {
  ResponseSummary s;
  REQUIRE(scan_response(
      R"({"type":"response","id":"42","status":"error","error":{"code":"INSTANCE_NOT_FOUND","message":"instance not found: x","retryable":false,"details":{"instance_id":"x"}}})",
      s));
  CHECK(s.id == "42");
  CHECK_FALSE(s.ok());
  CHECK(s.status == "error");
  CHECK(s.error_code == "INSTANCE_NOT_FOUND");
}

TEST_CASE("scan ignores key order, whitespace and nested look-alikes", "[response_scan]") {
  ResponseSummary s;
  // Result comes first and contains keys named like envelope keys.
  REQUIRE(scan_response(
      " { \"result\" : {\"status\":\"error\",\"id\":\"9\",\"ctx\":{\"s\":\"}{\\\"\",\"a\":[1,{\"b\":null}]}} "
      ",\n"
      "   \"status\" : \"ok\", \"id\" : \"7\", \"type\":\"response\" } ",
      s));
  CHECK(s.id == "7");
  CHECK(s.ok());

  REQUIRE(scan_response(
      R"({"error":{"details":{"code":"NOPE"},"code":"CONFLICT"},"status":"error","id":"3"})", s));
  CHECK(s.error_code == "CONFLICT");
  CHECK(s.id == "3");
  CHECK(s.is_response());  // type absent counts as a response
}

TEST_CASE("scan recognises events", "[response_scan]") {
  ResponseSummary s;
  REQUIRE(scan_response(R"({"type":"event","subscription_id":"sub-1","instance_id":"a"})", s));
  CHECK_FALSE(s.is_response());
  REQUIRE(scan_response(R"({"type":"end","subscription_id":"sub-1","reason":"lagged"})", s));
  CHECK_FALSE(s.is_response());
}

TEST_CASE("scan rejects malformed input", "[response_scan]") {
  ResponseSummary s;
  CHECK_FALSE(scan_response("", s));
  CHECK_FALSE(scan_response("[]", s));
  CHECK_FALSE(scan_response(R"({"id":"1")", s));
  CHECK_FALSE(scan_response(R"({"result":{"a":"unterminated}})", s));
  CHECK_FALSE(scan_response(R"({"result":{"a":1},"id")", s));
  CHECK_FALSE(scan_response(R"({"result":{"a":[1,2})", s));
  CHECK_FALSE(scan_response(R"({id:"1"})", s));
}

TEST_CASE("scan handles non-string id and status values", "[response_scan]") {
  ResponseSummary s;
  REQUIRE(scan_response(R"({"id":7,"status":"ok"})", s));
  CHECK_FALSE(s.has_id);
  CHECK(s.ok());
  REQUIRE(scan_response(R"({"id":"1","status":null})", s));
  CHECK_FALSE(s.has_status);
  CHECK_FALSE(s.ok());
}
