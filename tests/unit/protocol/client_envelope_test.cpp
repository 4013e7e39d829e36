#include "protocol/client_envelope.hpp"

#include "protocol/envelope.hpp"
#include "protocol/json_text.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <string>

using namespace rstmdb::protocol;
namespace json = boost::json;

namespace {

ServerMessage parse_ok(std::string_view payload) {
  auto r = parse_server_message(payload);
  INFO(payload);
  if (auto* m = std::get_if<MalformedMessage>(&r)) FAIL("unexpected malformed message: " << m->reason);
  return std::get<ServerMessage>(std::move(r));
}

std::string parse_bad(std::string_view payload) {
  auto r = parse_server_message(payload);
  INFO(payload);
  REQUIRE(std::holds_alternative<MalformedMessage>(r));
  return std::get<MalformedMessage>(r).reason;
}

}  // namespace

TEST_CASE("encode_request is the PING of protocol.md §3.6 byte for byte", "[client_envelope]") {
  CHECK(encode_request("1", "PING", {}) == R"({"type":"request","id":"1","op":"PING","params":{}})");
}

TEST_CASE("encode_request escapes ids and keeps param order", "[client_envelope]") {
  json::object params;
  params["instance_id"] = "a\"b";
  params["event"] = "PAY";
  params["payload"] = json::object{{"n", 1}};
  CHECK(
      encode_request("x\n", "APPLY_EVENT", params) ==
      R"({"type":"request","id":"x\n","op":"APPLY_EVENT","params":{"instance_id":"a\"b","event":"PAY","payload":{"n":1}}})");
  // The server's own parser reads it back.
  auto back = parse_request(encode_request("7", "GET_INSTANCE", json::object{{"instance_id", "o-1"}}));
  REQUIRE(std::holds_alternative<Request>(back));
  CHECK(std::get<Request>(back).id == "7");
  CHECK(std::get<Request>(back).op == "GET_INSTANCE");
}

TEST_CASE("an ok response, as the server encodes it", "[client_envelope]") {
  const std::string payload = encode_ok_response("12", json::object{{"pong", true}});
  auto m = parse_ok(payload);
  REQUIRE(std::holds_alternative<ResponseMessage>(m));
  const auto& r = std::get<ResponseMessage>(m);
  CHECK(r.id == "12");
  CHECK(r.ok);
  CHECK(to_json(r.result) == R"({"pong":true})");
  CHECK(r.error_code().empty());
}

TEST_CASE("an ok response without result reads as {}", "[client_envelope]") {
  auto m = parse_ok(R"({"type":"response","id":"1","status":"ok"})");
  CHECK(std::get<ResponseMessage>(m).result.empty());
}

TEST_CASE("an error response keeps the whole error object", "[client_envelope]") {
  Error e{ErrorCode::InstanceNotFound, "instance not found: o-1", json::object{{"instance_id", "o-1"}}};
  auto m = parse_ok(encode_error_response("3", e));
  const auto& r = std::get<ResponseMessage>(m);
  CHECK_FALSE(r.ok);
  CHECK(r.error_code() == "INSTANCE_NOT_FOUND");
  CHECK(r.error_message() == "instance not found: o-1");
  CHECK(
      to_json(r.error) ==
      R"({"code":"INSTANCE_NOT_FOUND","message":"instance not found: o-1","retryable":false,"details":{"instance_id":"o-1"}})");
}

TEST_CASE("events and end messages are stream messages", "[client_envelope]") {
  auto ev = parse_ok(R"({"type":"event","subscription_id":"sub-1","instance_id":"o","wal_offset":3})");
  REQUIRE(std::holds_alternative<StreamMessage>(ev));
  CHECK(std::get<StreamMessage>(ev).type == "event");
  CHECK(to_json(std::get<StreamMessage>(ev).body) ==
        R"({"type":"event","subscription_id":"sub-1","instance_id":"o","wal_offset":3})");
  auto end = parse_ok(R"({"type":"end","subscription_id":"sub-1","reason":"lagged"})");
  CHECK(std::get<StreamMessage>(end).type == "end");
  auto other = parse_ok(R"({"type":"future-thing"})");
  CHECK(std::get<StreamMessage>(other).type == "future-thing");
}

TEST_CASE("malformed server messages are named", "[client_envelope]") {
  CHECK(parse_bad("\xff") == "payload is not valid UTF-8");
  CHECK(parse_bad("{").rfind("malformed JSON: ", 0) == 0);
  CHECK(parse_bad("[1]") == "message is not a JSON object");
  CHECK(parse_bad(R"({"id":"1"})") == "missing field 'type'");
  CHECK(parse_bad(R"({"type":"response","id":1,"status":"ok"})") == "response without a string 'id'");
  CHECK(parse_bad(R"({"type":"response","id":"1","status":"fine"})") ==
        "response 'status' is neither \"ok\" nor \"error\"");
  CHECK(parse_bad(R"({"type":"response","id":"1","status":"ok","result":[]})") ==
        "response 'result' is not an object");
  CHECK(parse_bad(R"({"type":"response","id":"1","status":"error"})") ==
        "error response without an 'error' object");
  CHECK(parse_bad(R"({"type":"response","id":"1","status":"error","error":{"code":1,"message":"m"}})") ==
        "error object without string 'code' and 'message'");
}
