// The standard process_* series (the names every Prometheus client exports, and upstream's
// dashboard reads) from /proc/self, read at each scrape; prometheus-cpp has no collector of its
// own for them.
//   process_cpu_seconds_total        counter  user + system CPU time
//   process_open_fds                 gauge    entries of /proc/self/fd
//   process_max_fds                  gauge    soft RLIMIT_NOFILE
//   process_virtual_memory_bytes     gauge    /proc/self/stat vsize
//   process_resident_memory_bytes    gauge    /proc/self/stat rss x page size
//   process_start_time_seconds       gauge    Unix time the process started (boot time + starttime)
//   process_threads                  gauge    /proc/self/stat num_threads
// A value that cannot be read (no /proc) is left out rather than reported as 0.
#pragma once

#include <prometheus/metric_family.h>

#include <optional>
#include <string_view>
#include <vector>

namespace rstmdb::server {

struct ProcessStats {
  std::optional<double> cpu_seconds;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
  std::optional<double> virtual_memory_bytes;
  std::optional<double> resident_memory_bytes;
  std::optional<double> start_time_seconds;
  std::optional<double> threads;
};

// Parses the text of /proc/<pid>/stat (whose second field, the command in parentheses, may hold
// spaces and parentheses) and of /proc/stat (for btime) into `out`; ticks_per_second and
// page_bytes as sysconf reports them. Fields that do not parse stay empty.
void parse_proc_stat(std::string_view pid_stat, std::string_view system_stat, double ticks_per_second,
                     double page_bytes, ProcessStats& out);

// Reads /proc/self now.
ProcessStats read_process_stats();

std::vector<prometheus::MetricFamily> collect_process_metrics();

}  // namespace rstmdb::server
