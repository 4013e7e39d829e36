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

boost::json::object latency_json(const LatencyHistogram& h) {
  boost::json::object lat;
  lat["min"] = h.min();
  lat["mean"] = round_to(h.mean(), 1);
  lat["p50"] = h.value_at_quantile(0.50);
  lat["p90"] = h.value_at_quantile(0.90);
  lat["p99"] = h.value_at_quantile(0.99);
  lat["p999"] = h.value_at_quantile(0.999);
  lat["max"] = h.max();
  return lat;
}

boost::json::object op_json(const OpResult& r, double duration_s) {
  boost::json::object lat = latency_json(r.latency);
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

// Nearest-rank median of a sorted list; 0 when empty.
double median(const std::vector<double>& sorted) {
  return sorted.empty() ? 0.0 : sorted[(sorted.size() - 1) / 2];
}

boost::json::object watch_json(const WatchReport& w, double duration_s) {
  const StreamCheck& c = w.check;
  boost::json::object o;
  o["subscribers"] = w.subscribers;
  o["stalled_subscribers"] = w.stalled;
  o["stalled_connected_at_end"] = w.stalled_connected;
  o["acknowledged_applies"] = w.acknowledged;
  o["events"] = c.in_window;
  o["events_per_sec"] = round_to(duration_s > 0 ? static_cast<double>(c.in_window) / duration_s : 0.0, 1);
  boost::json::object per;
  per["min"] = round_to(w.per_subscriber_rate.empty() ? 0.0 : w.per_subscriber_rate.front(), 1);
  per["median"] = round_to(median(w.per_subscriber_rate), 1);
  per["max"] = round_to(w.per_subscriber_rate.empty() ? 0.0 : w.per_subscriber_rate.back(), 1);
  o["per_subscriber_events_per_sec"] = std::move(per);
  o["latency_us"] = latency_json(w.latency);
  o["latency_from_send_us"] = latency_json(w.latency_from_send);
  o["arrived_before_response"] = c.before_response;
  o["unmatched"] = c.unmatched;
  o["verified_events"] = c.received;
  o["gaps"] = c.gaps;
  o["duplicates"] = c.duplicates;
  o["out_of_order"] = c.out_of_order;
  o["wrong_instance"] = c.wrong_instance;
  o["unexpected"] = c.unexpected;
  o["failed_subscribers"] = w.failed;
  o["errors"] = w.errors();
  o["drain_s"] = round_to(w.drain_s, 3);
  return o;
}

void append_watch(std::string& out, const WatchReport& w, double duration_s) {
  const StreamCheck& c = w.check;
  const auto ms = [](std::uint64_t us) { return static_cast<double>(us) / 1000.0; };
  char line[512];
  std::snprintf(line, sizeof line,
                "\nwatch: %u subscriber(s) reading, %u stalled; WATCH_ALL live on the bench machine\n",
                w.subscribers, w.stalled);
  out += line;
  if (w.subscribers > 0) {
    std::snprintf(line, sizeof line,
                  "delivered %llu events in the window, %.1f events/s in total; per subscriber events/s "
                  "min %.1f median %.1f max %.1f\n",
                  static_cast<unsigned long long>(c.in_window),
                  duration_s > 0 ? static_cast<double>(c.in_window) / duration_s : 0.0,
                  w.per_subscriber_rate.empty() ? 0.0 : w.per_subscriber_rate.front(),
                  median(w.per_subscriber_rate),
                  w.per_subscriber_rate.empty() ? 0.0 : w.per_subscriber_rate.back());
    out += line;
    const auto latency_line = [&](const char* label, const LatencyHistogram& hist) {
      std::snprintf(
          line, sizeof line,
          "event latency ms (%s min %.3f mean %.3f p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f\n", label,
          ms(hist.min()), hist.mean() / 1000.0, ms(hist.value_at_quantile(0.50)),
          ms(hist.value_at_quantile(0.90)), ms(hist.value_at_quantile(0.99)),
          ms(hist.value_at_quantile(0.999)), ms(hist.max()));
      out += line;
    };
    latency_line("APPLY_EVENT response -> event):", w.latency);
    latency_line("APPLY_EVENT sent -> event):    ", w.latency_from_send);
    std::snprintf(
        line, sizeof line,
        "  %llu arrived before the writer read the response (counted as 0), %llu too late to match\n",
        static_cast<unsigned long long>(c.before_response), static_cast<unsigned long long>(c.unmatched));
    out += line;
    std::snprintf(line, sizeof line,
                  "verified %llu events against %llu acknowledged applies x %u subscribers (drain %.3f s): "
                  "gaps %llu, duplicates %llu, out of order %llu, wrong instance %llu, unexpected %llu, "
                  "failed subscribers %u\n",
                  static_cast<unsigned long long>(c.received),
                  static_cast<unsigned long long>(w.acknowledged), w.subscribers, w.drain_s,
                  static_cast<unsigned long long>(c.gaps), static_cast<unsigned long long>(c.duplicates),
                  static_cast<unsigned long long>(c.out_of_order),
                  static_cast<unsigned long long>(c.wrong_instance),
                  static_cast<unsigned long long>(c.unexpected), w.failed);
    out += line;
  }
  if (w.stalled > 0) {
    std::snprintf(line, sizeof line, "stalled subscribers still connected at the end: %u of %u\n",
                  w.stalled_connected, w.stalled);
    out += line;
  }
}

}  // namespace

void StreamCheck::merge(const StreamCheck& o) noexcept {
  received += o.received;
  in_window += o.in_window;
  duplicates += o.duplicates;
  out_of_order += o.out_of_order;
  wrong_instance += o.wrong_instance;
  gaps += o.gaps;
  unexpected += o.unexpected;
  before_response += o.before_response;
  unmatched += o.unmatched;
}

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
  if (report.watch) root["watch"] = watch_json(*report.watch, report.duration_s);
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
  if (report.watch) append_watch(out, *report.watch, report.duration_s);
  return out;
}

}  // namespace rstmdb::bench
