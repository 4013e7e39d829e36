#include "tools/bench/report.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <string>

using namespace rstmdb::bench;

TEST_CASE("report JSON shape", "[report]") {
  RunReport r;
  r.started_at = "2026-01-01T00:00:00Z";
  r.duration_s = 2;
  r.durability = "never";
  r.config["connections"] = 4;
  r.server.server_name = "rstmdb";
  r.server.implementation = "rstmdb-cpp";
  OpResult op;
  op.op = "apply_event";
  op.count = 10;
  op.errors = 1;
  for (int i = 1; i <= 9; ++i)
    op.latency.record(static_cast<std::uint64_t>(i) * 100);
  r.ops.push_back(op);
  r.total.op = "total";
  r.total.merge(op);
  r.errors_by_code["INSTANCE_NOT_FOUND"] = 1;

  const boost::json::value v = boost::json::parse(report_json(r));
  const auto& o = v.as_object();
  CHECK(o.at("tool").as_string() == "rstmdb-bench");
  CHECK(o.at("durability").as_string() == "never");
  CHECK(o.at("server").as_object().at("server_version").is_null());
  CHECK(o.at("server").as_object().at("implementation").as_string() == "rstmdb-cpp");
  const auto& first = o.at("ops").as_array().at(0).as_object();
  CHECK(first.at("op").as_string() == "apply_event");
  CHECK(first.at("count").as_int64() == 10);
  CHECK(first.at("ops_per_sec").as_double() == 5.0);
  const auto& lat = first.at("latency_us").as_object();
  CHECK(lat.at("min").as_int64() == 100);
  CHECK(lat.at("p50").as_int64() == 500);
  CHECK(lat.at("max").as_int64() == 900);
  CHECK(lat.at("mean").as_double() == 500.0);
  for (const char* k : {"p90", "p99", "p999"})
    CHECK(lat.contains(k));
  CHECK(o.at("total").as_object().at("errors").as_int64() == 1);
  CHECK(o.at("errors_by_code").as_object().at("INSTANCE_NOT_FOUND").as_int64() == 1);
  CHECK(r.error_rate() == Approx(0.1));

  const std::string table = report_table(r);
  CHECK(table.find("apply_event") != std::string::npos);
  CHECK(table.find("total") != std::string::npos);
  CHECK(table.find("INSTANCE_NOT_FOUND=1") != std::string::npos);
}
