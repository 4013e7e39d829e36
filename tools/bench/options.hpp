// rstmdb-bench command line (runtime.md §2.3; connection flags as rstmdb-cli, §2.2).
#pragma once

#include "tools/bench/workload.hpp"
#include "tools/client/server_address.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace rstmdb::bench {

using client::kDefaultPort;
using client::kDefaultServer;
using client::parse_server_address;
using client::ServerAddress;
// The server's default network.max_in_flight; a deeper pipeline would only queue client-side.
inline constexpr std::uint32_t kMaxPipeline = 1024;
inline constexpr std::uint32_t kMaxConnections = 10'000;
inline constexpr std::uint32_t kMaxThreads = 256;
// WATCH_ALL subscriber connections (live and stalled together): far above the 1 000,
// below what one process's descriptors and one hub round sensibly hold.
inline constexpr std::uint32_t kMaxSubscribers = 10'000;
// Keeps every payload far below the server's frame limit (protocol.md §4).
inline constexpr std::uint32_t kMaxPayloadBytes = 1024 * 1024;

// How CREATE_INSTANCE (and lifecycle) name new instances.
enum class CreateIds {
  Sequential,  // "<machine>-c<connection>-<seq>": consecutive keys per connection
  Uuid,        // a UUID-shaped id derived from (connection, seq): keys spread at random
};

struct BenchOptions {
  std::string server_text{kDefaultServer};  // as given, for the report
  ServerAddress server{"127.0.0.1", kDefaultPort};
  std::optional<std::string> token;  // never printed or reported
  WorkloadMix workload;              // default: apply_event
  std::uint32_t connections = 16;
  std::uint32_t pipeline = 1;
  double duration_s = 30;
  std::optional<std::uint64_t> requests;  // -n: stop after this many measured units instead
  double warmup_s = 5;
  std::optional<double> rate;  // --rate: open loop, units per second over all connections
  std::uint32_t instances = 10'000;
  std::uint32_t payload_bytes = 64;
  CreateIds create_ids = CreateIds::Sequential;
  std::optional<std::string> durability;  // normalised fsync policy text
  std::optional<std::string> local_server;
  std::optional<std::string> json_path;  // "-" = stdout
  double max_error_rate = 0;
  std::uint32_t threads = 0;  // 0: one per CPU, at most one per connection
  double timeout_s = 30;      // per request; also bounds the drain after the run
  // Watch workload (docs/bench.md "Watch"): WATCH_ALL connections alongside the writers.
  std::uint32_t subscribers = 0;          // read and verify every event
  std::uint32_t stalled_subscribers = 0;  // WATCH_ALL, then never read
  std::uint32_t subscriber_threads = 1;   // I/O threads multiplexing the subscriber sockets

  std::uint32_t watch_connections() const noexcept { return subscribers + stalled_subscribers; }
};

struct HelpRequested {};
struct UsageError {
  std::string message;
};
using ParseResult = std::variant<BenchOptions, HelpRequested, UsageError>;

// Environment lookup (getenv in production); returns nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

// `args` excludes argv[0]. RSTMDB_SERVER and RSTMDB_TOKEN apply unless the flag is given.
ParseResult parse_options(std::span<const std::string_view> args, const EnvLookup& env);

// Lower-cased canonical form of an fsync policy (runtime.md §1.4): every_write, never,
// every_n:N, every_ms:N (N >= 1), or nullopt when invalid.
std::optional<std::string> normalise_fsync_policy(std::string_view text);

std::string usage_text();

}  // namespace rstmdb::bench
