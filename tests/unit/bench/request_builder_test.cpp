#include "tools/bench/request_builder.hpp"

#include "protocol/envelope.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cctype>
#include <set>
#include <string>

using namespace rstmdb::bench;

namespace {

// Every request must be a valid envelope; returns its params.
boost::json::object params_of(const std::string& payload, std::string_view op, std::string_view id) {
  auto parsed = rstmdb::protocol::parse_request(payload);
  if (auto* e = std::get_if<rstmdb::protocol::EnvelopeError>(&parsed)) {
    FAIL("not a valid request: " << payload << ": " << e->error.message);
  }
  const auto& req = std::get<rstmdb::protocol::Request>(parsed);
  CHECK(req.op == op);
  CHECK(req.id == id);
  return req.params;
}

}  // namespace

TEST_CASE("request builder hot-path requests are valid envelopes", "[request_builder]") {
  const RequestBuilder b("bench-m", 16);
  std::array<char, 160> buf{};

  std::string out;
  b.append(out, RequestKind::ApplyEvent, "17", b.working_instance_id(buf, 42));
  auto p = params_of(out, "APPLY_EVENT", "17");
  CHECK(p.at("instance_id").as_string() == "bench-m-w42");
  CHECK(p.at("event").as_string() == "NEXT");
  CHECK(p.at("payload").as_object().at("data").as_string().size() == 16);

  out.clear();
  b.append(out, RequestKind::CreateInstance, "1", b.created_instance_id(buf, 3, 9));
  p = params_of(out, "CREATE_INSTANCE", "1");
  CHECK(p.at("instance_id").as_string() == "bench-m-c3-9");
  CHECK(p.at("machine").as_string() == "bench-m");
  CHECK(p.at("version").as_int64() == kMachineVersion);

  out.clear();
  b.append(out, RequestKind::WalRead, "2", "123");
  p = params_of(out, "WAL_READ", "2");
  CHECK(p.at("from_offset").as_int64() == 123);
  CHECK(p.at("limit").as_int64() == kListPageSize);

  const std::pair<RequestKind, std::string_view> plain[] = {
      {RequestKind::Ping, "PING"},
      {RequestKind::Info, "INFO"},
      {RequestKind::WalStats, "WAL_STATS"},
      {RequestKind::ListMachines, "LIST_MACHINES"},
      {RequestKind::GetMachine, "GET_MACHINE"},
      {RequestKind::ListInstances, "LIST_INSTANCES"},
  };
  for (const auto& [kind, op] : plain) {
    out.clear();
    b.append(out, kind, "5", "ignored");
    params_of(out, op, "5");
  }
  for (const auto& [kind, op] : {std::pair{RequestKind::GetInstance, "GET_INSTANCE"},
                                 std::pair{RequestKind::DeleteInstance, "DELETE_INSTANCE"},
                                 std::pair{RequestKind::SnapshotInstance, "SNAPSHOT_INSTANCE"}}) {
    out.clear();
    b.append(out, kind, "6", "x-1");
    CHECK(params_of(out, op, "6").at("instance_id").as_string() == "x-1");
  }
}

TEST_CASE("request builder setup requests", "[request_builder]") {
  auto p = params_of(RequestBuilder::hello("1"), "HELLO", "1");
  CHECK(p.at("protocol_version").as_int64() == 1);
  CHECK(p.at("wire_modes").as_array().at(0).as_string() == "binary_json");
  CHECK(p.at("client_name").as_string() == "rstmdb-bench");

  p = params_of(RequestBuilder::auth("2", "to\"ken"), "AUTH", "2");
  CHECK(p.at("token").as_string() == "to\"ken");

  const RequestBuilder b("bench-m", 0);
  p = params_of(b.put_machine("3"), "PUT_MACHINE", "3");
  const auto& def = p.at("definition").as_object();
  CHECK(def.at("states").as_array().size() == kCycleStates);
  CHECK(def.at("initial").as_string() == "s0");
  const auto& t = def.at("transitions").as_array();
  REQUIRE(t.size() == kCycleStates);
  CHECK(t.at(4).as_object().at("from").as_string() == "s4");
  CHECK(t.at(4).as_object().at("to").as_string() == "s0");
  CHECK(t.at(4).as_object().at("event").as_string() == "NEXT");
}

TEST_CASE("bench requests: uuid create ids are UUID-shaped, distinct, and not in creation order") {
  const RequestBuilder b("bench-m", 8, rstmdb::bench::CreateIds::Uuid);
  std::array<char, 160> buf{};
  std::set<std::string> seen;
  std::size_t ascending = 0;
  std::string previous;
  for (std::uint32_t connection = 0; connection < 4; ++connection) {
    for (std::uint64_t seq = 0; seq < 2500; ++seq) {
      const std::string id(b.created_instance_id(buf, connection, seq));
      REQUIRE(id.size() == 36);
      for (std::size_t i = 0; i < id.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
          CHECK(id[i] == '-');
        } else {
          CHECK(std::isxdigit(static_cast<unsigned char>(id[i])) != 0);
        }
      }
      if (id > previous) ++ascending;
      previous = id;
      seen.insert(id);
    }
  }
  CHECK(seen.size() == 10'000);
  // Random order: about half of the successors are larger, far from all of them.
  CHECK(ascending > 4'000);
  CHECK(ascending < 6'000);
  std::string again(b.created_instance_id(buf, 2, 7));
  CHECK(again == std::string(b.created_instance_id(buf, 2, 7)));  // a function of (connection, seq)
}
