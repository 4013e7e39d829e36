#include "server/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace rstmdb::server {

namespace {

// /proc/<pid>/stat fields, numbered as in proc(5), counting the pid as 1.
constexpr int kFieldUtime = 14;
constexpr int kFieldStime = 15;
constexpr int kFieldNumThreads = 20;
constexpr int kFieldStartTime = 22;
constexpr int kFieldVsize = 23;
constexpr int kFieldRss = 24;

std::optional<double> to_number(std::string_view s) {
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return static_cast<double>(v);
}

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<double> count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double n = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the descriptor opendir() itself holds
}

void add(std::vector<prometheus::MetricFamily>& out, const char* name, const char* help,
         prometheus::MetricType type, const std::optional<double>& value) {
  if (!value) return;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = *value;
  } else {
    m.gauge.value = *value;
  }
  out.push_back(prometheus::MetricFamily{name, help, type, {std::move(m)}});
}

}  // namespace

void parse_proc_stat(std::string_view pid_stat, std::string_view system_stat, double ticks_per_second,
                     double page_bytes, ProcessStats& out) {
  // Field 3 starts after the last ')': the command (field 2) may contain anything.
  const auto close = pid_stat.rfind(')');
  if (close != std::string_view::npos && ticks_per_second > 0) {
    std::optional<double> utime, stime, threads, start, vsize, rss;
    int field = 3;
    std::size_t pos = close + 1;
    while (pos < pid_stat.size() && field <= kFieldRss) {
      while (pos < pid_stat.size() && pid_stat[pos] == ' ')
        ++pos;
      const std::size_t end = std::min(pid_stat.find_first_of(" \n", pos), pid_stat.size());
      const auto token = pid_stat.substr(pos, end - pos);
      if (token.empty()) break;
      switch (field) {
        case kFieldUtime:
          utime = to_number(token);
          break;
        case kFieldStime:
          stime = to_number(token);
          break;
        case kFieldNumThreads:
          threads = to_number(token);
          break;
        case kFieldStartTime:
          start = to_number(token);
          break;
        case kFieldVsize:
          vsize = to_number(token);
          break;
        case kFieldRss:
          rss = to_number(token);
          break;
        default:
          break;
      }
      ++field;
      pos = end;
    }
    if (utime && stime) out.cpu_seconds = (*utime + *stime) / ticks_per_second;
    out.threads = threads;
    out.virtual_memory_bytes = vsize;
    if (rss) out.resident_memory_bytes = *rss * page_bytes;
    // /proc/stat: "btime <seconds since the epoch>" — when the system booted.
    std::optional<double> boot;
    for (std::size_t line = 0; line < system_stat.size();) {
      const std::size_t eol = std::min(system_stat.find('\n', line), system_stat.size());
      const auto text = system_stat.substr(line, eol - line);
      if (text.starts_with("btime ")) boot = to_number(text.substr(6));
      line = eol + 1;
    }
    if (boot && start) out.start_time_seconds = *boot + *start / ticks_per_second;
  }
}

ProcessStats read_process_stats() {
  ProcessStats stats;
  parse_proc_stat(read_file("/proc/self/stat"), read_file("/proc/stat"),
                  static_cast<double>(::sysconf(_SC_CLK_TCK)), static_cast<double>(::sysconf(_SC_PAGESIZE)),
                  stats);
  stats.open_fds = count_open_fds();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    stats.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return stats;
}

std::vector<prometheus::MetricFamily> collect_process_metrics() {
  const ProcessStats s = read_process_stats();
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  add(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
      MetricType::Counter, s.cpu_seconds);
  add(out, "process_open_fds", "Number of open file descriptors", MetricType::Gauge, s.open_fds);
  add(out, "process_max_fds", "Maximum number of open file descriptors", MetricType::Gauge, s.max_fds);
  add(out, "process_virtual_memory_bytes", "Virtual memory size in bytes", MetricType::Gauge,
      s.virtual_memory_bytes);
  add(out, "process_resident_memory_bytes", "Resident memory size in bytes", MetricType::Gauge,
      s.resident_memory_bytes);
  add(out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds",
      MetricType::Gauge, s.start_time_seconds);
  add(out, "process_threads", "Number of OS threads in the process", MetricType::Gauge, s.threads);
  return out;
}

}  // namespace rstmdb::server
