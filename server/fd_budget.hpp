// The file-descriptor budget of runtime.md §5.5:
//   budget = network.max_connections + storage.max_open_files (1024 if -1) + kReservedFds
// At startup the soft RLIMIT_NOFILE is raised to the hard limit (this process never uses
// select(), the only reason the soft limit defaults low); if the budget still does not fit,
// the effective connection limit is clamped so that connections cannot take the descriptors
// RocksDB and the process itself need, and that is logged once (WARN).
//
// The clamp makes EMFILE on accept the exception rather than the rule; the acceptor still
// backs off when it happens (server.cpp), because RocksDB's real use is not the estimate.
#pragma once

#include <cstdint>
#include <string>

namespace rstmdb::server {

// Descriptors kept for everything that is neither a connection nor a RocksDB file: the
// listener, epoll/eventfd/timerfd of the io_context, thread-pool pipes, the data-dir lock,
// stdio, the admin and metrics sockets, a reserve descriptor for shedding connections.
inline constexpr std::uint64_t kReservedFds = 64;
// storage.max_open_files = -1 (unlimited) counts as this many (runtime.md §5.5).
inline constexpr std::uint64_t kUnlimitedOpenFilesEstimate = 1024;

struct FdLimits {
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
};

struct FdBudget {
  std::uint64_t budget = 0;  // descriptors the configuration needs
  FdLimits before;           // RLIMIT_NOFILE found at startup
  FdLimits after;            // after raising the soft limit
  std::uint32_t configured_connections = 0;
  std::uint32_t effective_connections = 0;  // <= configured; at least 1
  bool clamped() const noexcept { return effective_connections < configured_connections; }
};

// Pure: what the budget allows under `limits` (the soft limit already raised).
FdBudget plan_fd_budget(std::uint32_t max_connections, std::int32_t max_open_files, FdLimits limits);

// Raises the soft RLIMIT_NOFILE to the hard limit (best effort) and plans with the result.
FdBudget apply_fd_budget(std::uint32_t max_connections, std::int32_t max_open_files);

// One line for the log: limits, budget and the effective connection limit.
std::string describe(const FdBudget& budget);

}  // namespace rstmdb::server
