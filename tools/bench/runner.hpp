// One benchmark run from start to report:
//  1. control connection: HELLO (+AUTH), INFO, PUT_MACHINE of a uniquely named cycle machine;
//  2. all load connections connect and pre-create their share of the working set, pipelined;
//  3. load for --warmup seconds unmeasured, then --duration seconds (or --requests units)
//     measured; then every connection drains its in-flight requests;
//  4. per-thread counters are merged into the report.
#pragma once

#include "tools/bench/options.hpp"
#include "tools/bench/report.hpp"

#include <atomic>
#include <string>
#include <vector>

namespace rstmdb::bench {

struct RunOutcome {
  RunReport report;
  std::vector<std::string> failures;  // connections lost during the load, with reasons
  bool interrupted = false;           // stopped early by SIGINT/SIGTERM
};

// Progress goes to stderr. Throws BenchError when setup fails or is interrupted.
// `interrupted` is polled; setting it ends the load early (the partial result is reported).
RunOutcome run_benchmark(const BenchOptions& options, const std::atomic<bool>& interrupted);

}  // namespace rstmdb::bench
