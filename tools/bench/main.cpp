// rstmdb-bench: pipelined load generator for rstmdb-compatible servers (runtime.md §2.3,
// docs/bench.md).
#include "tools/bench/connection.hpp"
#include "tools/bench/local_server.hpp"
#include "tools/bench/options.hpp"
#include "tools/bench/report.hpp"
#include "tools/bench/runner.hpp"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string_view>
#include <vector>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "used from a signal handler");

extern "C" void on_stop_signal(int) {
  g_interrupted.store(true);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a server that goes away must give EPIPE, not kill the bench
}

std::string headline(const rstmdb::bench::BenchOptions& o, const rstmdb::bench::RunReport& r) {
  const auto& s = r.server;
  std::string h = "rstmdb-bench " RSTMDB_VERSION ": " + o.server_text + " (" +
                  s.implementation.value_or(s.server_name.value_or("unknown")) + " " +
                  s.server_version.value_or("?") + "), durability " + r.durability.value_or("not given") +
                  "\n";
  h += "workload " + o.workload.to_string() + "; " + std::to_string(o.connections) +
       " connection(s) x pipeline " + std::to_string(o.pipeline);
  if (o.rate) {
    char rate[64];
    std::snprintf(rate, sizeof rate, ", open loop at %.0f/s", *o.rate);
    h += rate;
  } else {
    h += ", closed loop";
  }
  h += "\n\n";
  return h;
}

// Returns false if the report could not be written.
bool write_json(const std::string& path, const std::string& json) {
  if (path == "-") {
    std::fwrite(json.data(), 1, json.size(), stdout);
    std::fputc('\n', stdout);
    return std::fflush(stdout) == 0;
  }
  std::ofstream out(path, std::ios::trunc);
  out << json << '\n';
  out.close();
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rstmdb::bench;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  ParseResult parsed = parse_options(args, [](const char* name) { return std::getenv(name); });
  if (std::holds_alternative<HelpRequested>(parsed)) {
    std::fputs(usage_text().c_str(), stdout);
    return kExitOk;
  }
  if (const auto* err = std::get_if<UsageError>(&parsed)) {
    std::fprintf(stderr, "rstmdb-bench: %s\nTry 'rstmdb-bench --help'.\n", err->message.c_str());
    return kExitUsage;
  }
  BenchOptions options = std::get<BenchOptions>(std::move(parsed));
  install_signal_handlers();

  std::unique_ptr<LocalServer> local;
  RunOutcome outcome;
  try {
    if (options.local_server) {
      // Writers, subscribers and the control connection.
      local = LocalServer::start(*options.local_server, options.durability,
                                 std::uint64_t{options.connections} + options.watch_connections() + 1);
      options.server = {"127.0.0.1", local->port()};
      options.server_text = local->address();
    }
    outcome = run_benchmark(options, g_interrupted);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rstmdb-bench: %s\n", e.what());
    if (local) local->stop();
    return kExitFailure;
  }
  // A server that stops uncleanly is reported by stop() but does not void the measurement.
  if (local) local->stop();

  const RunReport& report = outcome.report;
  const bool json_to_stdout = options.json_path && *options.json_path == "-";
  std::FILE* table_out = json_to_stdout ? stderr : stdout;
  const std::string table = headline(options, report) + report_table(report);
  std::fputs(table.c_str(), table_out);
  std::fflush(table_out);

  int code = kExitOk;
  if (options.json_path && !write_json(*options.json_path, report_json(report))) {
    std::fprintf(stderr, "rstmdb-bench: cannot write the JSON report to %s\n", options.json_path->c_str());
    code = kExitFailure;
  }
  for (const std::string& f : outcome.failures)
    std::fprintf(stderr, "rstmdb-bench: %s\n", f.c_str());
  if (!outcome.failures.empty()) code = kExitFailure;
  if (outcome.interrupted) {
    std::fprintf(stderr, "rstmdb-bench: interrupted; the report covers the run up to then\n");
    code = kExitFailure;
  }
  if (report.watch && report.watch->errors() > 0) {
    std::fprintf(stderr, "rstmdb-bench: the subscribers' streams failed verification (%llu error(s))\n",
                 static_cast<unsigned long long>(report.watch->errors()));
    code = kExitFailure;
  }
  if (report.total.count == 0) {
    std::fprintf(stderr, "rstmdb-bench: no request completed in the measured window\n");
    code = kExitFailure;
  }
  if (report.error_rate() > options.max_error_rate) {
    std::fprintf(stderr, "rstmdb-bench: error rate %.4f%% is above --max-error-rate %.4f%%\n",
                 report.error_rate() * 100, options.max_error_rate * 100);
    code = kExitFailure;
  }
  return code;
}
