#include "server/process_metrics.hpp"

#include <catch2/catch.hpp>

using rstmdb::server::parse_proc_stat;
using rstmdb::server::ProcessStats;

TEST_CASE("process metrics: /proc/self/stat with spaces and parentheses in the command",
          "[server][metrics]") {
  // Fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime(14) stime(15) cutime cstime priority nice num_threads(20) itrealvalue
  // starttime(22) vsize(23) rss(24) ...
  const std::string stat =
      "1234 (rst md) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 5000 123456789 300 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
  const std::string system = "cpu  1 2 3\nbtime 1700000000\nprocesses 10\n";
  ProcessStats s;
  parse_proc_stat(stat, system, 100, 4096, s);
  REQUIRE(s.cpu_seconds);
  CHECK(*s.cpu_seconds == Approx(4.0));
  REQUIRE(s.threads);
  CHECK(*s.threads == 7);
  REQUIRE(s.start_time_seconds);
  CHECK(*s.start_time_seconds == Approx(1700000050.0));
  REQUIRE(s.virtual_memory_bytes);
  CHECK(*s.virtual_memory_bytes == 123456789);
  REQUIRE(s.resident_memory_bytes);
  CHECK(*s.resident_memory_bytes == 300 * 4096);
}

TEST_CASE("process metrics: text that does not parse leaves fields empty", "[server][metrics]") {
  ProcessStats s;
  parse_proc_stat("garbage", "", 100, 4096, s);
  CHECK(!s.cpu_seconds);
  CHECK(!s.threads);
  CHECK(!s.start_time_seconds);
  parse_proc_stat("1 (a) S 1 2", "btime x\n", 100, 4096, s);
  CHECK(!s.threads);
  CHECK(!s.start_time_seconds);
}

TEST_CASE("process metrics: this process, read from /proc", "[server][metrics]") {
  const ProcessStats s = rstmdb::server::read_process_stats();
  REQUIRE(s.open_fds);
  CHECK(*s.open_fds >= 3);
  REQUIRE(s.threads);
  CHECK(*s.threads >= 1);
  REQUIRE(s.resident_memory_bytes);
  CHECK(*s.resident_memory_bytes > 0);
}
