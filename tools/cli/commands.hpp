// The commands of rstmdb-cli (runtime.md §2.2), as parsed from the command line or a REPL
// line. Plain data; parsing is in command_line.hpp, execution in executor.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace rstmdb::cli {

struct ReplCommand {};
struct PingCommand {};
struct InfoCommand {};
struct PutMachineCommand {
  std::string name;
  std::uint32_t version = 0;
  std::string definition;  // inline JSON, or @FILE (@- = stdin); read when the command runs
};
struct GetMachineCommand {
  std::string name;
  std::optional<std::uint32_t> version;  // absent: the latest version
};
struct ListMachinesCommand {};
struct CreateInstanceCommand {
  std::string machine;
  std::uint32_t version = 0;
  std::optional<std::string> id;
  std::optional<std::string> ctx;  // JSON or @FILE
  std::optional<std::string> idempotency_key;
};
struct GetInstanceCommand {
  std::string id;
};
// LIST_INSTANCES defaults (operations.md §7).
inline constexpr std::uint32_t kDefaultListLimit = 100;
struct ListInstancesCommand {
  std::optional<std::string> machine;
  std::optional<std::string> state;
  std::uint32_t limit = kDefaultListLimit;
  std::uint32_t offset = 0;
};
struct ApplyEventCommand {
  std::string instance;
  std::string event;
  std::optional<std::string> payload;  // JSON or @FILE
  std::optional<std::string> expected_state;
  std::optional<std::uint64_t> expected_wal_offset;
  std::optional<std::string> event_id;
  std::optional<std::string> idempotency_key;
};
struct DeleteInstanceCommand {
  std::string id;
  std::optional<std::string> idempotency_key;
};
struct SnapshotInstanceCommand {
  std::string id;
};
struct WalReadCommand {
  std::uint64_t from = 0;
  std::optional<std::uint32_t> limit;  // absent: the server's default (100)
};
struct WalStatsCommand {};
struct CompactCommand {
  bool force = false;
};
struct BatchCommand {
  bool atomic = false;
  std::string file;  // FILE, @FILE, or - for stdin
};
struct FlushAllCommand {};  // only parsed with --yes
struct WatchInstanceCommand {
  std::string id;
  bool include_ctx = true;
  std::optional<std::uint64_t> from_offset;
};
struct WatchAllCommand {
  std::vector<std::string> machines, from_states, to_states, events;
  bool include_ctx = true;
  std::optional<std::uint64_t> from_offset;
};
struct UnwatchCommand {
  std::string subscription_id;
};
struct HashTokenCommand {
  std::string token;  // "-": read from stdin
};

using Command =
    std::variant<ReplCommand, PingCommand, InfoCommand, PutMachineCommand, GetMachineCommand,
                 ListMachinesCommand, CreateInstanceCommand, GetInstanceCommand, ListInstancesCommand,
                 ApplyEventCommand, DeleteInstanceCommand, SnapshotInstanceCommand, WalReadCommand,
                 WalStatsCommand, CompactCommand, BatchCommand, FlushAllCommand, WatchInstanceCommand,
                 WatchAllCommand, UnwatchCommand, HashTokenCommand>;

}  // namespace rstmdb::cli
