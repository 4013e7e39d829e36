#include "server/fd_budget.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace rstmdb::server {

namespace {

std::uint64_t rlim_value(rlim_t v) {
  return v == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(v);
}

FdLimits read_limits() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return {};
  return FdLimits{rlim_value(rl.rlim_cur), rlim_value(rl.rlim_max)};
}

std::string limit_text(std::uint64_t v) {
  return v == UINT64_MAX ? "unlimited" : std::to_string(v);
}

}  // namespace

FdBudget plan_fd_budget(std::uint32_t max_connections, std::int32_t max_open_files, FdLimits limits) {
  FdBudget b;
  const std::uint64_t storage_fds =
      max_open_files < 0 ? kUnlimitedOpenFilesEstimate : static_cast<std::uint64_t>(max_open_files);
  b.budget = max_connections + storage_fds + kReservedFds;
  b.before = limits;
  b.after = limits;
  b.configured_connections = max_connections;
  b.effective_connections = max_connections;
  if (limits.soft < b.budget) {
    const std::uint64_t others = storage_fds + kReservedFds;
    const std::uint64_t room = limits.soft > others ? limits.soft - others : 0;
    // At least one connection, or the server could not be reached at all; the WARN says why
    // that one may still fail.
    b.effective_connections = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(room, 1, max_connections));
  }
  return b;
}

FdBudget apply_fd_budget(std::uint32_t max_connections, std::int32_t max_open_files) {
  const FdLimits before = read_limits();
  FdLimits after = before;
  if (before.soft < before.hard) {
    const std::uint64_t storage_fds =
        max_open_files < 0 ? kUnlimitedOpenFilesEstimate : static_cast<std::uint64_t>(max_open_files);
    const std::uint64_t budget = max_connections + storage_fds + kReservedFds;
    // The hard limit first; it can be refused when it is above fs.nr_open (or unlimited), and
    // then the budget itself, if that is more than the current soft limit.
    for (const std::uint64_t target : {before.hard, std::min(budget, before.hard)}) {
      if (target <= before.soft || target == UINT64_MAX) continue;
      struct rlimit rl {};
      rl.rlim_cur = static_cast<rlim_t>(target);
      rl.rlim_max = before.hard == UINT64_MAX ? RLIM_INFINITY : static_cast<rlim_t>(before.hard);
      if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) {
        after = read_limits();
        break;
      }
    }
  }
  FdBudget b = plan_fd_budget(max_connections, max_open_files, after);
  b.before = before;
  return b;
}

std::string describe(const FdBudget& b) {
  std::string out = "RLIMIT_NOFILE soft " + limit_text(b.after.soft);
  if (b.after.soft != b.before.soft) out += " (raised from " + limit_text(b.before.soft) + ")";
  out += ", hard " + limit_text(b.after.hard) + "; budget " + std::to_string(b.budget) +
         " (network.max_connections " + std::to_string(b.configured_connections) +
         " + storage.max_open_files + " + std::to_string(kReservedFds) + " reserved)";
  return out;
}

}  // namespace rstmdb::server
