// server/request_parsing: params → engine commands, shared by every front end.
#include "server/request_parsing.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <string>

namespace json = boost::json;
using rstmdb::protocol::ErrorCode;
using rstmdb::server::Params;
using rstmdb::server::RequestError;
namespace server = rstmdb::server;
namespace engine = rstmdb::engine;

namespace {

json::object object_of(const char* text) {
  return json::parse(text).as_object();
}

// The message of the RequestError `fn` throws (FAIL if none).
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const RequestError& e) {
    CHECK(e.error().code == ErrorCode::BadRequest);
    return e.error().message;
  }
  FAIL("no RequestError");
  return {};
}

}  // namespace

TEST_CASE("request parsing: APPLY_EVENT takes every field, the id alias, and \"\" as no idempotency key") {
  const auto o =
      object_of(R"({"id":"i-1","event":"go","payload":{"n":1},"expected_state":"a","expected_wal_offset":7,)"
                R"("event_id":"e","idempotency_key":""})");
  const auto c = server::parse_apply_event(Params(o));
  CHECK(c.instance_id == "i-1");
  CHECK(c.event == "go");
  CHECK(c.payload.at("n").as_int64() == 1);
  CHECK(c.expected_state == "a");
  CHECK(c.expected_wal_offset == 7u);
  CHECK(c.event_id == "e");
  CHECK_FALSE(c.idempotency_key.has_value());
  const auto missing = object_of(R"({"instance_id":"i-1"})");
  CHECK(error_of([&] { server::parse_apply_event(Params(missing)); }) ==
        "invalid request: missing field 'event'");
}

TEST_CASE("request parsing: CREATE_INSTANCE's context alias and optional id") {
  const auto o = object_of(R"({"machine":"m","version":2,"context":{"k":"v"},"idempotency_key":"k1"})");
  const auto c = server::parse_create_instance(Params(o));
  CHECK_FALSE(c.instance_id.has_value());
  CHECK(c.machine == "m");
  CHECK(c.version == 2u);
  CHECK(c.initial_ctx.at("k").as_string() == "v");
  CHECK(c.idempotency_key == "k1");
}

TEST_CASE("request parsing: list and log reads get the documented defaults") {
  const json::object empty;
  const auto li = server::parse_list_instances(Params(empty));
  CHECK(li.limit == 100u);
  CHECK(li.offset == 0u);
  CHECK_FALSE(li.machine.has_value());
  CHECK_FALSE(li.cursor.has_value());
  CHECK(server::parse_list_machines(Params(empty)).limit == 0u);
  const auto wr = server::parse_wal_read(Params(empty));
  CHECK(wr.from_offset == 0u);
  CHECK(wr.limit == 100u);
  CHECK_FALSE(server::parse_compact(Params(empty)).force_snapshot);
  const auto forced = object_of(R"({"force_snapshot":true})");
  CHECK(server::parse_compact(Params(forced)).force_snapshot);
}

TEST_CASE("request parsing: from_offset as a number, a decimal string, or the camelCase alias") {
  CHECK(server::parse_from_offset(Params(object_of(R"({"from_offset":42})"))) == 42u);
  CHECK(server::parse_from_offset(Params(object_of(R"({"from_offset":"18446744073709551615"})"))) ==
        18446744073709551615ull);
  CHECK(server::parse_from_offset(Params(object_of(R"({"fromOffset":"5"})"))) == 5u);
  for (const char* bad : {R"({"from_offset":"12a"})", R"({"from_offset":""})", R"({"from_offset":"-1"})",
                          R"({"from_offset":"18446744073709551616"})"}) {
    const auto o = object_of(bad);
    CHECK(error_of([&] { server::parse_from_offset(Params(o)); }) ==
          "invalid request: invalid value for field 'from_offset': expected a decimal offset");
  }
}

TEST_CASE("request parsing: a bad BATCH element is that element's error, the batch still parses") {
  const auto o = object_of(R"({"mode":"atomic","ops":[{"op":"GET_INSTANCE","params":{"instance_id":"a"}},)"
                           R"({"op":"WAL_READ","params":{}},{"op":"NOPE"},{"params":{}},7,)"
                           R"({"op":"APPLY_EVENT","params":{"instance_id":"a"}}]})");
  const auto b = server::parse_batch(Params(o));
  CHECK(b.atomic);
  REQUIRE(b.elements.size() == 6);
  CHECK(std::get<engine::GetInstance>(b.elements[0].command).instance_id == "a");
  auto message = [&](std::size_t i) {
    return std::get<rstmdb::protocol::Error>(b.elements[i].command).message;
  };
  CHECK(message(1) == "operation WAL_READ is not allowed in a batch");
  CHECK(std::get<rstmdb::protocol::Error>(b.elements[2].command).code == ErrorCode::BadRequest);
  CHECK(message(3) == "invalid request: missing field 'op'");
  CHECK(message(4) == "invalid request: batch operation must be an object");
  CHECK(message(5) == "invalid request: missing field 'event'");
}

TEST_CASE("request parsing: BATCH as a whole rejects a bad mode, missing or non-array ops, too many ops") {
  CHECK(
      error_of([] { server::parse_batch(Params(object_of(R"({"mode":"all","ops":[]})"))); }) ==
      "invalid request: invalid value for field 'mode': expected \"atomic\" or \"best_effort\", got \"all\"");
  CHECK(error_of([] { server::parse_batch(Params(object_of(R"({})"))); }) ==
        "invalid request: missing field 'ops'");
  CHECK(error_of([] { server::parse_batch(Params(object_of(R"({"ops":{}})"))); }) ==
        "invalid request: invalid type for field 'ops': expected array");
  json::array ops;
  for (std::size_t i = 0; i <= engine::kMaxBatchOps; ++i)
    ops.push_back(json::object{{"op", "GET_INSTANCE"}, {"params", json::object{{"instance_id", "a"}}}});
  const json::object too_many{{"ops", ops}};
  CHECK(error_of([&] { server::parse_batch(Params(too_many)); }) ==
        "invalid request: batch size " + std::to_string(engine::kMaxBatchOps + 1) + " exceeds limit " +
            std::to_string(engine::kMaxBatchOps));
  ops.pop_back();
  const json::object at_limit{{"ops", ops}};
  CHECK(server::parse_batch(Params(at_limit)).elements.size() == engine::kMaxBatchOps);
}
