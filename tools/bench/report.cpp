#include "tools/bench/report.hpp"

#include "protocol/json_text.hpp"

#include <cmath>
#include <cstdio>

namespace rstmdb::bench {
namespace {

// Rounds to `decimals` places. Dividing by a power of ten (not multiplying by 0.1) yields the
// double nearest the decimal, so the JSON shows 32819.2 rather than 32819.200000000004.
double round_to(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

double ops_per_sec(const OpResult& r, double duration_s) {
  return duration_s > 0 ? static_cast<double>(r.count) / duration_s : 0.0;
}

boost::json::value optional_string(const std::optional<std::string>& s) {
  if (s) return boost::json::value(*s);
  return nullptr;
}

boost::json::object op_json(const OpResult& r, double duration_s) {
  const LatencyHistogram& h = r.latency;
  boost::json::object lat;
  lat["min"] = h.min();
  lat["mean"] = round_to(h.mean(), 1);
  lat["p50"] = h.value_at_quantile(0.50);
  lat["p90"] = h.value_at_quantile(0.90);
  lat["p99"] = h.value_at_quantile(0.99);
  lat["p999"] = h.value_at_quantile(0.999);
  lat["max"] = h.max();

  boost::json::object o;
  o["op"] = r.op;
  o["count"] = r.count;
  o["errors"] = r.errors;
  o["ops_per_sec"] = round_to(ops_per_sec(r, duration_s), 1);
  o["latency_us"] = std::move(lat);
  return o;
}

void append_row(std::string& out, const OpResult& r, double duration_s) {
  const LatencyHistogram& h = r.latency;
  const auto ms = [](double us) { return us / 1000.0; };
  char line[256];
  std::snprintf(
      line, sizeof line, "%-18s %10llu %7llu %11.1f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %9.3f\n",
      r.op.c_str(), static_cast<unsigned long long>(r.count), static_cast<unsigned long long>(r.errors),
      ops_per_sec(r, duration_s), ms(static_cast<double>(h.min())), ms(h.mean()),
      ms(static_cast<double>(h.value_at_quantile(0.50))), ms(static_cast<double>(h.value_at_quantile(0.90))),
      ms(static_cast<double>(h.value_at_quantile(0.99))), ms(static_cast<double>(h.value_at_quantile(0.999))),
      ms(static_cast<double>(h.max())));
  out += line;
}

}  // namespace

void OpResult::merge(const OpResult& other) {
  count += other.count;
  errors += other.errors;
  latency.merge(other.latency);
}

double RunReport::error_rate() const noexcept {
  return total.count ? static_cast<double>(total.errors) / static_cast<double>(total.count) : 0.0;
}

std::string report_json(const RunReport& report) {
  boost::json::object root;
  root["tool"] = "rstmdb-bench";
  root["version"] = RSTMDB_VERSION;
  root["started_at"] = report.started_at;
  root["duration_s"] = round_to(report.duration_s, 3);
  root["durability"] = optional_string(report.durability);
  root["config"] = report.config;

  boost::json::object server;
  server["server_name"] = optional_string(report.server.server_name);
  server["server_version"] = optional_string(report.server.server_version);
  server["implementation"] = optional_string(report.server.implementation);
  root["server"] = std::move(server);

  boost::json::array ops;
  for (const OpResult& r : report.ops)
    ops.push_back(op_json(r, report.duration_s));
  root["ops"] = std::move(ops);
  root["total"] = op_json(report.total, report.duration_s);

  boost::json::object codes;
  for (const auto& [code, n] : report.errors_by_code)
    codes[code] = n;
  root["errors_by_code"] = std::move(codes);
  return protocol::to_json(root);
}

std::string report_table(const RunReport& report) {
  std::string out;
  char head[256];
  std::snprintf(head, sizeof head, "%-18s %10s %7s %11s %8s %8s %8s %8s %8s %8s %9s\n", "op", "count",
                "errors", "ops/s", "min", "mean", "p50", "p90", "p99", "p99.9", "max");
  out += head;
  for (const OpResult& r : report.ops)
    append_row(out, r, report.duration_s);
  append_row(out, report.total, report.duration_s);
  char tail[160];
  std::snprintf(tail, sizeof tail, "latency in ms over successful requests; measured %.3f s\n",
                report.duration_s);
  out += tail;
  if (report.errors_by_code.empty()) {
    out += "errors: none\n";
  } else {
    out += "errors:";
    for (const auto& [code, n] : report.errors_by_code) {
      out += ' ';
      out += code;
      out += '=';
      out += std::to_string(n);
    }
    out += '\n';
  }
  return out;
}

}  // namespace rstmdb::bench
