// The watch workload's I/O-free parts: AckTable, AckSet, StreamVerifier, the event and result
// scanners, the WATCH_ALL request, the options and the report.
#include "tools/bench/ack_table.hpp"
#include "tools/bench/options.hpp"
#include "tools/bench/report.hpp"
#include "tools/bench/request_builder.hpp"
#include "tools/bench/response_scan.hpp"
#include "tools/bench/stream_verifier.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

using namespace rstmdb::bench;

TEST_CASE("ack table: found, not yet, overwritten", "[watch]") {
  AckTable t;
  AckTable::Ack a;
  CHECK(t.lookup(7, a) == AckTable::Lookup::NotYet);
  t.record(7, {42, 900, 1'000});
  REQUIRE(t.lookup(7, a) == AckTable::Lookup::Found);
  CHECK(a.instance == 42);
  CHECK(a.sent_ns == 900);
  CHECK(a.response_ns == 1'000);
  // The same slot, one lap later.
  t.record(7 + AckTable::kCapacity, {43, 1'900, 2'000});
  CHECK(t.lookup(7, a) == AckTable::Lookup::Overwritten);
  REQUIRE(t.lookup(7 + AckTable::kCapacity, a) == AckTable::Lookup::Found);
  CHECK(a.instance == 43);
  CHECK(t.lookup(7 + 2 * AckTable::kCapacity, a) == AckTable::Lookup::NotYet);
}

TEST_CASE("ack table: concurrent writers and a reader never see a torn entry", "[watch]") {
  AckTable t;
  constexpr std::uint64_t kPerWriter = 200'000;
  std::atomic<bool> go{false};
  const auto writer = [&](std::uint64_t first) {
    while (!go.load()) {
    }
    for (std::uint64_t o = first; o < first + 2 * kPerWriter; o += 2)
      t.record(o, {o * 3, static_cast<std::int64_t>(o * 5), static_cast<std::int64_t>(o * 7)});
  };
  std::thread w1(writer, 1), w2(writer, 2);
  go.store(true);
  std::uint64_t torn = 0;
  for (std::uint64_t o = 1; o < 2 * kPerWriter; ++o) {
    AckTable::Ack a;
    if (t.lookup(o, a) == AckTable::Lookup::Found) {
      if (a.instance != o * 3 || a.sent_ns != static_cast<std::int64_t>(o * 5) ||
          a.response_ns != static_cast<std::int64_t>(o * 7))
        ++torn;
    }
  }
  w1.join();
  w2.join();
  CHECK(torn == 0);
  AckTable::Ack a;
  REQUIRE(t.lookup(2 * kPerWriter, a) == AckTable::Lookup::Found);
  CHECK(a.instance == 6 * kPerWriter);
}

TEST_CASE("ack set: order-free, distinguishes different sets of one size", "[watch]") {
  AckSet x, y, z;
  for (std::uint64_t o : {5, 9, 12})
    x.add(o);
  for (std::uint64_t o : {12, 5, 9})
    y.add(o);
  for (std::uint64_t o : {5, 9, 13})
    z.add(o);
  CHECK(x == y);
  CHECK_FALSE(x == z);
  CHECK(x.max_offset == 12);
  AckSet m;
  AckSet part;
  part.add(9);
  m.add(5);
  m.merge(part);
  m.add(12);
  CHECK(m == x);
}

namespace {
AckSet acked(std::initializer_list<std::uint64_t> offsets) {
  AckSet s;
  for (std::uint64_t o : offsets)
    s.add(o);
  return s;
}
}  // namespace

TEST_CASE("stream verifier: a complete in-order stream passes", "[watch]") {
  StreamVerifier v(10);
  const AckSet final = acked({11, 12, 14});  // 13 is another machine's entry: not delivered
  for (std::uint64_t o : {11, 12, 14})
    CHECK(v.accept(o));
  REQUIRE(v.caught_up(final));
  v.finish(final);
  CHECK(v.check().received == 3);
  CHECK(v.check().errors() == 0);
}

TEST_CASE("stream verifier: gaps, duplicates, out of order and foreign offsets are errors", "[watch]") {
  const AckSet final = acked({11, 12, 13, 14});
  SECTION("a missing offset is a gap") {
    StreamVerifier v(10);
    v.accept(11);
    v.accept(12);
    CHECK_FALSE(v.caught_up(final));
    v.accept(14);
    REQUIRE(v.caught_up(final));
    v.finish(final);
    CHECK(v.check().gaps == 1);
    CHECK(v.check().errors() == 1);
  }
  SECTION("a repeated offset is a duplicate, not received twice") {
    StreamVerifier v(10);
    CHECK(v.accept(11));
    CHECK_FALSE(v.accept(11));
    for (std::uint64_t o : {12, 13, 14})
      v.accept(o);
    v.finish(final);
    CHECK(v.check().duplicates == 1);
    CHECK(v.check().received == 4);
    CHECK(v.check().gaps == 0);
    CHECK(v.check().errors() == 1);
  }
  SECTION("a smaller offset is out of order") {
    StreamVerifier v(10);
    v.accept(12);
    CHECK_FALSE(v.accept(11));
    CHECK(v.check().out_of_order == 1);
  }
  SECTION("an offset at or below the subscribe offset is not accepted") {
    StreamVerifier v(10);
    CHECK_FALSE(v.accept(10));
    CHECK(v.check().duplicates == 1);
  }
  SECTION("the right count with a foreign offset is unexpected") {
    StreamVerifier v(10);
    for (std::uint64_t o : {11, 12, 13, 15})  // 15 never acknowledged, 14 missing
      v.accept(o);
    REQUIRE(v.caught_up(final));
    v.finish(final);
    CHECK(v.check().unexpected == 1);
    CHECK(v.check().errors() == 1);
  }
}

TEST_CASE("scan_event reads an event's header and an end", "[watch]") {
  EventSummary e;
  REQUIRE(scan_event(
      R"({"type":"event","subscription_id":"sub-1","instance_id":"m-w7","machine":"m","version":1,"wal_offset":123,"from_state":"s0","to_state":"s1","event":"NEXT","payload":{"data":"x"},"ctx":{"data":"x"}})",
      e));
  CHECK(e.type == "event");
  CHECK(e.subscription_id == "sub-1");
  CHECK(e.instance_id == "m-w7");
  CHECK(e.has_wal_offset);
  CHECK(e.wal_offset == 123);
  REQUIRE(scan_event(R"({"type":"end","subscription_id":"sub-1","reason":"lagged"})", e));
  CHECK(e.type == "end");
  CHECK(e.reason == "lagged");
  CHECK_FALSE(e.has_wal_offset);
  // Key order does not matter; a non-integer offset is malformed.
  REQUIRE(scan_event(R"({"wal_offset":5,"instance_id":"a","subscription_id":"s","type":"event"})", e));
  CHECK(e.wal_offset == 5);
  CHECK_FALSE(scan_event(R"({"type":"event","wal_offset":5.5,"instance_id":"a"})", e));
  CHECK_FALSE(scan_event(R"({"type":"event","wal_offset":-1})", e));
  CHECK_FALSE(scan_event(R"({"type":"event",)", e));
}

TEST_CASE("scan_result_offset reads result.wal_offset only", "[watch]") {
  std::uint64_t off = 0;
  REQUIRE(scan_result_offset(
      R"({"type":"response","id":"3","status":"ok","result":{"from_state":"s0","to_state":"s1","ctx":{"wal_offset":1},"wal_offset":77,"applied":true}})",
      off));
  CHECK(off == 77);
  CHECK_FALSE(
      scan_result_offset(R"({"type":"response","id":"3","status":"ok","result":{"applied":true}})", off));
  CHECK_FALSE(scan_result_offset(R"({"type":"response","id":"3","status":"ok","wal_offset":4})", off));
  CHECK_FALSE(scan_result_offset(R"({"type":"response","result":{"wal_offset":"4"}})", off));
}

TEST_CASE("WATCH_ALL request and working-set ids", "[watch]") {
  const RequestBuilder b("bench-x", 8);
  const boost::json::value v = boost::json::parse(b.watch_all("9"));
  const auto& o = v.as_object();
  CHECK(o.at("op").as_string() == "WATCH_ALL");
  CHECK(o.at("id").as_string() == "9");
  const auto& p = o.at("params").as_object();
  CHECK(p.at("machines").as_array().size() == 1);
  CHECK(p.at("machines").as_array().at(0).as_string() == "bench-x");
  CHECK_FALSE(p.contains("from_offset"));  // live only

  std::array<char, 160> buf{};
  CHECK(b.working_index(b.working_instance_id(buf, 1234)) == 1234u);
  CHECK(b.working_index("bench-x-w0") == 0u);
  CHECK_FALSE(b.working_index("bench-x-w"));
  CHECK_FALSE(b.working_index("bench-y-w1"));
  CHECK_FALSE(b.working_index("bench-x-c1-2"));
  CHECK_FALSE(b.working_index("bench-x-w1x"));
}

namespace {
ParseResult parse_args(std::vector<std::string_view> args) {
  return parse_options(args, [](const char*) -> const char* { return nullptr; });
}
}  // namespace

TEST_CASE("watch options", "[watch][options]") {
  auto r = parse_args({"--subscribers", "1000", "--stalled-subscribers", "1", "--subscriber-threads", "2"});
  REQUIRE(std::holds_alternative<BenchOptions>(r));
  const auto& o = std::get<BenchOptions>(r);
  CHECK(o.subscribers == 1000);
  CHECK(o.stalled_subscribers == 1);
  CHECK(o.subscriber_threads == 2);
  CHECK(o.watch_connections() == 1001);

  const auto error = [](std::vector<std::string_view> args) {
    auto res = parse_args(std::move(args));
    REQUIRE(std::holds_alternative<UsageError>(res));
    return std::get<UsageError>(res).message;
  };
  CHECK_THAT(error({"--subscribers", "10001"}), Catch::Contains("0..10000"));
  CHECK_THAT(error({"--subscribers", "6000", "--stalled-subscribers", "5000"}),
             Catch::Contains("at most 10000"));
  CHECK_THAT(error({"--subscribers", "1", "-w", "get_instance"}), Catch::Contains("need apply_event"));
  CHECK_THAT(error({"--stalled-subscribers", "1", "-w", "apply_event,lifecycle"}),
             Catch::Contains("lifecycle"));
  CHECK_THAT(error({"--subscriber-threads", "0"}), Catch::Contains("1..256"));
  // Without subscribers any workload goes, as before.
  CHECK(std::holds_alternative<BenchOptions>(parse_args({"-w", "get_instance"})));
}

TEST_CASE("report: watch section in JSON and table", "[watch][report]") {
  RunReport r;
  r.duration_s = 2;
  WatchReport w;
  w.subscribers = 3;
  w.stalled = 1;
  w.stalled_connected = 1;
  w.acknowledged = 100;
  w.check.received = 300;
  w.check.in_window = 240;
  w.per_subscriber_rate = {30, 40, 50};
  w.latency.record(1000);
  w.latency.record(3000);
  w.latency_from_send.record(5000);
  r.watch = w;
  const boost::json::value v = boost::json::parse(report_json(r));
  const auto& o = v.as_object().at("watch").as_object();
  CHECK(o.at("subscribers").as_int64() == 3);
  CHECK(o.at("events_per_sec").as_double() == 120.0);
  CHECK(o.at("per_subscriber_events_per_sec").as_object().at("min").as_double() == 30.0);
  CHECK(o.at("per_subscriber_events_per_sec").as_object().at("median").as_double() == 40.0);
  CHECK(o.at("latency_us").as_object().at("max").as_int64() == 3000);
  CHECK(o.at("latency_from_send_us").as_object().at("p50").as_int64() == 5000);
  CHECK(o.at("errors").as_int64() == 0);
  const std::string table = report_table(r);
  CHECK_THAT(table, Catch::Contains("3 subscriber(s) reading, 1 stalled"));
  CHECK_THAT(table, Catch::Contains("gaps 0"));

  r.watch->check.gaps = 2;
  r.watch->failed = 1;
  CHECK(r.watch->errors() == 3);
  CHECK(boost::json::parse(report_json(r)).as_object().at("watch").as_object().at("gaps").as_int64() == 2);
  // Without the watch workload the report has no watch key.
  r.watch.reset();
  CHECK_FALSE(boost::json::parse(report_json(r)).as_object().contains("watch"));
}
