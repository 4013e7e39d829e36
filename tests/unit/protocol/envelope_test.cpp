#include "protocol/envelope.hpp"

#include "protocol/json_text.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <string>

using namespace rstmdb::protocol;
namespace json = boost::json;

namespace {

Request parse_ok(std::string_view payload) {
  auto r = parse_request(payload);
  INFO(payload);
  if (auto* e = std::get_if<EnvelopeError>(&r)) FAIL("unexpected envelope error: " << e->error.message);
  return std::get<Request>(std::move(r));
}

EnvelopeError parse_err(std::string_view payload) {
  auto r = parse_request(payload);
  INFO(payload);
  REQUIRE(std::holds_alternative<EnvelopeError>(r));
  EnvelopeError e = std::get<EnvelopeError>(std::move(r));
  CHECK(e.error.code == ErrorCode::BadRequest);
  CHECK(e.error.details.empty());
  return e;
}

}  // namespace

TEST_CASE("a well-formed request", "[envelope]") {
  Request r =
      parse_ok(R"({"type":"request","id":"42","op":"GET_INSTANCE","params":{"instance_id":"order-001"}})");
  CHECK(r.id == "42");
  CHECK(r.op == "GET_INSTANCE");
  CHECK(to_json(r.params) == R"({"instance_id":"order-001"})");
}

TEST_CASE("payload not valid UTF-8", "[envelope]") {
  auto e = parse_err("{\"type\":\"request\",\"id\":\"1\",\"op\":\"PING\",\"x\":\"\xff\"}");
  CHECK(e.id.empty());
  CHECK(e.error.message == "invalid request: payload is not valid UTF-8");
  CHECK(parse_err("\xc0\x80").error.message == "invalid request: payload is not valid UTF-8");
}

TEST_CASE("malformed JSON", "[envelope]") {
  const std::string prefix = "invalid request: malformed JSON: ";
  for (std::string bad :
       {std::string(""), std::string("{"), std::string(R"({"id":"1","op":"PING"} x)"),
        std::string(R"({"id":"1","op":"PING",})"), std::string(R"({"id":"1","s":"\ud800"})"),
        std::string(129, '[') + std::string(129, ']'), std::string("  ")}) {
    auto e = parse_err(bad);
    CAPTURE(bad);
    CHECK(e.id.empty());
    CHECK(e.error.message.rfind(prefix, 0) == 0);
    CHECK(e.error.message.size() > prefix.size());
  }
  CHECK(parse_err("").error.message == "invalid request: malformed JSON: empty payload");
}

TEST_CASE("valid JSON that is not an object", "[envelope]") {
  for (std::string_view bad : {"[]", "1", R"("request")", "null", "true", R"([{"id":"1","op":"PING"}])"}) {
    auto e = parse_err(bad);
    CHECK(e.id.empty());
    CHECK(e.error.message == "invalid request: request must be a JSON object");
  }
}

TEST_CASE("missing or invalid id", "[envelope]") {
  for (std::string_view bad : {R"({"op":"PING"})", R"({"id":null,"op":"PING"})", R"({"id":true,"op":"PING"})",
                               R"({"id":[1],"op":"PING"})", R"({"id":{},"op":"PING"})", R"({})"}) {
    auto e = parse_err(bad);
    CHECK(e.id.empty());
    CHECK(e.error.message == "invalid request: missing or invalid field 'id'");
  }
  // The id is checked before op and params.
  CHECK(parse_err(R"({"params":7})").error.message == "invalid request: missing or invalid field 'id'");
}

TEST_CASE("ids: strings as sent, numbers echoed as strings (protocol.md §6.2)", "[envelope]") {
  CHECK(parse_ok(R"({"id":"","op":"PING"})").id == "");
  CHECK(parse_ok(R"({"id":"a \"quoted\" é","op":"PING"})").id == "a \"quoted\" é");
  CHECK(parse_ok(R"({"id":7,"op":"PING"})").id == "7");
  CHECK(parse_ok(R"({"id":-3,"op":"PING"})").id == "-3");
  CHECK(parse_ok(R"({"id":0,"op":"PING"})").id == "0");
  CHECK(parse_ok(R"({"id":-9223372036854775808,"op":"PING"})").id == "-9223372036854775808");
  CHECK(parse_ok(R"({"id":18446744073709551615,"op":"PING"})").id == "18446744073709551615");
  CHECK(parse_ok(R"({"id":1.5,"op":"PING"})").id == "1.5");
  CHECK(parse_ok(R"({"id":0.1,"op":"PING"})").id == "0.1");
  CHECK(parse_ok(R"({"id":1e2,"op":"PING"})").id == "100.0");
  CHECK(parse_ok(R"({"id":1e300,"op":"PING"})").id == "1e+300");
  CHECK(parse_ok(R"({"id":18446744073709551616,"op":"PING"})").id == "1.8446744073709552e+19");
  // Duplicate keys: the last one wins.
  CHECK(parse_ok(R"({"id":"first","id":"second","op":"PING"})").id == "second");
}

TEST_CASE("missing or invalid op keeps the request id", "[envelope]") {
  auto missing = parse_err(R"({"type":"request","id":"9"})");
  CHECK(missing.id == "9");
  CHECK(missing.error.message == "invalid request: missing field 'op'");
  for (std::string_view bad :
       {R"({"id":"9","op":null})", R"({"id":"9","op":1})", R"({"id":"9","op":["PING"]})"}) {
    auto e = parse_err(bad);
    CHECK(e.id == "9");
    CHECK(e.error.message == "invalid request: missing field 'op'");
  }
  CHECK(parse_err(R"({"id":12,"params":[]})").id == "12");
  CHECK(parse_err(R"({"id":12,"params":[]})").error.message == "invalid request: missing field 'op'");
}

TEST_CASE("op is passed through unchecked", "[envelope]") {
  CHECK(parse_ok(R"({"id":"1","op":"ping"})").op == "ping");
  CHECK(parse_ok(R"({"id":"1","op":"FROB"})").op == "FROB");
  CHECK(parse_ok(R"({"id":"1","op":""})").op == "");
}

TEST_CASE("params: absent or null means {}, other non-objects are rejected", "[envelope]") {
  CHECK(parse_ok(R"({"id":"1","op":"PING"})").params.empty());
  CHECK(parse_ok(R"({"id":"1","op":"PING","params":null})").params.empty());
  CHECK(parse_ok(R"({"id":"1","op":"PING","params":{}})").params.empty());
  Request r = parse_ok(R"({"id":"1","op":"APPLY_EVENT","params":{"payload":{"amount":99.99},"n":[1,2]}})");
  CHECK(to_json(r.params) == R"({"payload":{"amount":99.99},"n":[1,2]})");
  for (std::string_view bad :
       {R"({"id":"5","op":"PING","params":[]})", R"({"id":"5","op":"PING","params":"x"})",
        R"({"id":"5","op":"PING","params":1})", R"({"id":"5","op":"PING","params":false})"}) {
    auto e = parse_err(bad);
    CHECK(e.id == "5");
    CHECK(e.error.message == "invalid request: params must be an object");
  }
}

TEST_CASE("type and unknown keys are not checked", "[envelope]") {
  CHECK(parse_ok(R"({"id":"1","op":"PING"})").op == "PING");
  CHECK(parse_ok(R"({"type":"response","id":"1","op":"PING"})").op == "PING");
  CHECK(parse_ok(R"({"type":7,"id":"1","op":"PING","meta":{"x":1},"extra":[]})").op == "PING");
}

TEST_CASE("ok response envelopes are byte-exact (protocol.md §3.6, §6.3)", "[envelope]") {
  json::object pong;
  pong["pong"] = true;
  CHECK(encode_ok_response("1", pong) ==
        R"({"type":"response","id":"1","status":"ok","result":{"pong":true}})");
  CHECK(encode_ok_response("1", json::object{}) ==
        R"({"type":"response","id":"1","status":"ok","result":{}})");
  CHECK(encode_ok_response_raw("6", R"({"goodbye":true})") ==
        R"({"type":"response","id":"6","status":"ok","result":{"goodbye":true}})");
  CHECK(encode_ok_response("a\"b\n", pong) ==
        R"({"type":"response","id":"a\"b\n","status":"ok","result":{"pong":true}})");
  CHECK(encode_ok_response("", pong) ==
        R"({"type":"response","id":"","status":"ok","result":{"pong":true}})");
}

TEST_CASE("error response envelopes are byte-exact (protocol.md §6.3, §6.4)", "[envelope]") {
  Error e{ErrorCode::InstanceNotFound, "instance not found: order-001", {}};
  e.details["instance_id"] = "order-001";
  CHECK(
      encode_error_response("42", e) ==
      R"({"type":"response","id":"42","status":"error","error":{"code":"INSTANCE_NOT_FOUND","message":"instance not found: order-001","retryable":false,"details":{"instance_id":"order-001"}}})");

  CHECK(
      encode_error_response("5", bad_request("unknown operation: FROB")) ==
      R"({"type":"response","id":"5","status":"error","error":{"code":"BAD_REQUEST","message":"unknown operation: FROB","retryable":false}})");

  Error io{ErrorCode::WalIoError, "disk \"full\"", {}};
  CHECK(
      encode_error_response("", io) ==
      R"({"type":"response","id":"","status":"error","error":{"code":"WAL_IO_ERROR","message":"disk \"full\"","retryable":true}})");

  Error nested{ErrorCode::MachineNotFound, "machine not found: order v2", {}};
  nested.details["machine"] = "order";
  nested.details["version"] = 2;
  std::string obj;
  append_error_object(obj, nested);
  CHECK(
      obj ==
      R"({"code":"MACHINE_NOT_FOUND","message":"machine not found: order v2","retryable":false,"details":{"machine":"order","version":2}})");
}

TEST_CASE("error_to_json matches append_error_object", "[envelope]") {
  Error e = bad_request_field("invalid type for field 'limit': expected integer", "limit");
  std::string direct;
  append_error_object(direct, e);
  CHECK(to_json(error_to_json(e)) == direct);
  CHECK(
      direct ==
      R"({"code":"BAD_REQUEST","message":"invalid type for field 'limit': expected integer","retryable":false,"details":{"field":"limit"}})");
  Error plain = bad_request("x");
  CHECK_FALSE(error_to_json(plain).contains("details"));
  CHECK(error_to_json(Error{ErrorCode::InternalError, "boom", {}}).at("retryable") == true);
}

TEST_CASE("an envelope error answers with the right response", "[envelope]") {
  auto r = parse_request(R"({"id":"3","op":7})");
  REQUIRE(std::holds_alternative<EnvelopeError>(r));
  const auto& e = std::get<EnvelopeError>(r);
  CHECK(
      encode_error_response(e.id, e.error) ==
      R"({"type":"response","id":"3","status":"error","error":{"code":"BAD_REQUEST","message":"invalid request: missing field 'op'","retryable":false}})");
}
