#include "server/fd_budget.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>

using rstmdb::server::apply_fd_budget;
using rstmdb::server::describe;
using rstmdb::server::FdLimits;
using rstmdb::server::plan_fd_budget;

TEST_CASE("the budget is max_connections + max_open_files + 64 (runtime.md §5.5)") {
  auto b = plan_fd_budget(1000, 1024, FdLimits{100000, 100000});
  CHECK(b.budget == 2088);
  CHECK(b.effective_connections == 1000);
  CHECK_FALSE(b.clamped());
  // -1 (unlimited) counts as 1024
  CHECK(plan_fd_budget(10, -1, FdLimits{100000, 100000}).budget == 10 + 1024 + 64);
}

TEST_CASE("a short soft limit clamps the connection limit to what is left") {
  auto b = plan_fd_budget(1000, 100, FdLimits{1024, 1024});
  CHECK(b.budget == 1164);
  CHECK(b.clamped());
  CHECK(b.effective_connections == 1024 - 100 - 64);
  CHECK(describe(b).find("RLIMIT_NOFILE soft 1024, hard 1024; budget 1164") != std::string::npos);
}

TEST_CASE("the clamp never goes below one connection") {
  auto b = plan_fd_budget(1000, 1024, FdLimits{1024, 1024});
  CHECK(b.effective_connections == 1);
  CHECK(plan_fd_budget(5, 20, FdLimits{50, 50}).effective_connections == 1);
}

TEST_CASE("an exactly fitting limit is not clamped") {
  CHECK_FALSE(plan_fd_budget(100, 100, FdLimits{264, 264}).clamped());
  CHECK(plan_fd_budget(100, 100, FdLimits{263, 263}).effective_connections == 99);
}

TEST_CASE("apply_fd_budget raises the soft limit to the hard limit") {
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max < 512) {
    WARN("skipped: needs a finite hard limit of at least 512");
    return;
  }
  struct rlimit low = saved;
  low.rlim_cur = 256;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  auto b = apply_fd_budget(10, 20);
  struct rlimit now {};
  ::getrlimit(RLIMIT_NOFILE, &now);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  CHECK(b.before.soft == 256);
  CHECK(now.rlim_cur == saved.rlim_max);
  CHECK(b.after.soft == saved.rlim_max);
  CHECK(describe(b).find("(raised from 256)") != std::string::npos);
}
