// The results of one run: the human table and the JSON report of runtime.md §2.3.
#pragma once

#include "tools/bench/histogram.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rstmdb::bench {

// Counters and latency of one op (or of all ops together).
struct OpResult {
  std::string op;
  std::uint64_t count = 0;   // completed units, errors included
  std::uint64_t errors = 0;  // units that got an error response, timed out or lost their connection
  LatencyHistogram latency;  // successful units only, microseconds

  void merge(const OpResult& other);
};

// From INFO (HELLO as a fallback); absent fields stay empty and are reported as null.
struct ServerIdentity {
  std::optional<std::string> server_name;
  std::optional<std::string> server_version;
  std::optional<std::string> implementation;
};

// The stream checks of one subscriber (all counts are events).
struct StreamCheck {
  std::uint64_t received = 0;         // distinct, in order
  std::uint64_t in_window = 0;        // of those, arrived in the measured window
  std::uint64_t duplicates = 0;       // offset equal to the previous one
  std::uint64_t out_of_order = 0;     // offset below the previous one
  std::uint64_t wrong_instance = 0;   // instance differs from the acknowledged apply's
  std::uint64_t gaps = 0;             // acknowledged applies never received
  std::uint64_t unexpected = 0;       // received offsets the writers never acknowledged
  std::uint64_t before_response = 0;  // arrived before the writer read the response (delay 0)
  std::uint64_t unmatched = 0;        // response time no longer in the AckTable (no sample)

  std::uint64_t errors() const noexcept {
    return duplicates + out_of_order + wrong_instance + gaps + unexpected;
  }
  void merge(const StreamCheck& o) noexcept;
};

// The watch workload's results (docs/bench.md "Watch").
struct WatchReport {
  std::uint32_t subscribers = 0;            // reading ones
  std::uint32_t stalled = 0;                // WATCH_ALL, never read
  std::uint32_t stalled_connected = 0;      // of those, still connected after the drain
  std::uint32_t failed = 0;                 // reading subscribers lost before they finished
  std::uint64_t acknowledged = 0;           // applies acknowledged to the writers, warmup included
  StreamCheck check;                        // summed over the reading subscribers
  std::vector<double> per_subscriber_rate;  // events/s in the measured window, sorted
  LatencyHistogram latency;                 // writer's APPLY_EVENT response -> event arrival, us
  LatencyHistogram latency_from_send;       // writer's APPLY_EVENT send -> event arrival, us
  double drain_s = 0;                       // writers stopped -> every subscriber had every event

  std::uint64_t errors() const noexcept { return check.errors() + failed; }
};

struct RunReport {
  std::string started_at;  // ISO 8601 UTC, e.g. 2026-01-01T12:00:00Z
  double duration_s = 0;   // measured window
  std::optional<std::string> durability;
  boost::json::object config;  // the effective options (never the token)
  ServerIdentity server;
  std::vector<OpResult> ops;  // in workload order
  OpResult total;             // op "total"
  std::map<std::string, std::uint64_t> errors_by_code;
  std::optional<WatchReport> watch;  // with --subscribers / --stalled-subscribers

  double error_rate() const noexcept;
};

// {tool, version, started_at, duration_s, durability, config, server{...}, ops[...], total,
//  errors_by_code[, watch]} as one line of compact JSON (no trailing newline).
std::string report_json(const RunReport& report);

// One row per op plus total: count, errors, ops/s, latency in ms; then the error codes.
std::string report_table(const RunReport& report);

}  // namespace rstmdb::bench
