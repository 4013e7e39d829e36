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

struct RunReport {
  std::string started_at;  // ISO 8601 UTC, e.g. 2026-01-01T12:00:00Z
  double duration_s = 0;   // measured window
  std::optional<std::string> durability;
  boost::json::object config;  // the effective options (never the token)
  ServerIdentity server;
  std::vector<OpResult> ops;  // in workload order
  OpResult total;             // op "total"
  std::map<std::string, std::uint64_t> errors_by_code;

  double error_rate() const noexcept;
};

// {tool, version, started_at, duration_s, durability, config, server{...}, ops[...], total,
//  errors_by_code} as one line of compact JSON (no trailing newline).
std::string report_json(const RunReport& report);

// One row per op plus total: count, errors, ops/s, latency in ms; then the error codes.
std::string report_table(const RunReport& report);

}  // namespace rstmdb::bench
