// Typed data operations, as the server hands them to the engine after parameter parsing
// (operations.md §2-18). Parsing lives in server/; semantics live in the engine.
#pragma once

#include "protocol/error.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rstmdb::engine {

struct PutMachine {
  std::string machine;
  std::uint32_t version = 0;
  boost::json::value definition;
  std::optional<std::string> checksum;
};

struct GetMachine {
  std::string machine;
  std::uint32_t version = 0;
};

struct CreateInstance {
  std::optional<std::string> instance_id;  // generated (UUID v4) when absent
  std::string machine;
  std::uint32_t version = 0;
  boost::json::object initial_ctx;
  std::optional<std::string> idempotency_key;  // "" already mapped to absent
};

struct GetInstance {
  std::string instance_id;
};

struct DeleteInstance {
  std::string instance_id;
  std::optional<std::string> idempotency_key;
};

struct ApplyEvent {
  std::string instance_id;
  std::string event;
  boost::json::object payload;
  std::optional<std::string> expected_state;
  std::optional<std::uint64_t> expected_wal_offset;
  std::optional<std::string> event_id;
  std::optional<std::string> idempotency_key;
};

// One BATCH element: its op name (for messages) and either the parsed command or the error
// parsing it produced (which fails the element when its turn comes).
struct BatchElement {
  std::string op;
  std::variant<PutMachine, GetMachine, CreateInstance, GetInstance, DeleteInstance, ApplyEvent,
               protocol::Error>
      command;
};

struct Batch {
  bool atomic = false;
  std::vector<BatchElement> elements;
};

struct SnapshotInstance {
  std::string instance_id;
};

struct FlushAll {};

struct Compact {
  bool force_snapshot = false;
};

struct ListMachines {
  std::uint32_t limit = 0;  // 0 = no limit
  std::optional<std::string> cursor;
};

struct ListInstances {
  std::optional<std::string> machine;
  std::optional<std::string> state;
  std::uint32_t limit = 100;
  std::uint32_t offset = 0;           // matches skipped (after the cursor, if any): costs O(offset)
  std::optional<std::string> cursor;  // a previous page's next_cursor: resumes in O(limit)
};

struct WalRead {
  std::uint64_t from_offset = 0;
  std::uint32_t limit = 100;  // clamped to kMaxWalReadLimit
};

// Log I/O counters since process start (WAL_STATS io_stats).
struct IoStats {
  std::uint64_t bytes_written = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t writes = 0;
  std::uint64_t reads = 0;
  std::uint64_t fsyncs = 0;
  std::uint64_t commits = 0;  // RocksDB batches written (writes / commits = group size)
};

inline constexpr std::uint32_t kMaxWalReadLimit = 10000;
inline constexpr std::size_t kMaxBatchOps = 100;

// An applied event, handed to the commit hook (the subscription hub) after its commit
// (operations.md §26). The payload and ctx are not copied on the sequencer: they are ranges of
// the change-log entry's text, which the pipeline moves into `entry_json` once the group is
// written (the batch already holds its own copy).
struct CommittedEvent {
  std::uint64_t offset = 0;
  std::string instance_id;
  std::string machine;
  std::uint32_t version = 0;
  std::string event;
  std::string from_state;
  std::string to_state;
  std::string entry_json;                        // the apply_event entry (compact JSON), filled at commit
  std::size_t payload_pos = 0, payload_len = 0;  // the payload object within entry_json
  std::size_t ctx_pos = 0, ctx_len = 0;          // the ctx after the merge, within entry_json

  std::string_view payload() const { return std::string_view(entry_json).substr(payload_pos, payload_len); }
  std::string_view ctx() const { return std::string_view(entry_json).substr(ctx_pos, ctx_len); }
};

// One committed group as the commit hook sees it: every group that appended entries, in
// offset order, so a listener can tell a commit without events from one it missed.
struct CommitNotice {
  std::uint64_t last_offset = 0;       // the group's last entry
  std::vector<CommittedEvent> events;  // its applied events, in offset order
};

// Where an instance stands (WATCH_INSTANCE's result, operations.md §15).
struct InstancePosition {
  std::string state;
  std::uint64_t last_wal_offset = 0;
};

// A result already serialized as a compact JSON object (large read results are built as
// text, splicing stored JSON without re-parsing it).
struct RawJson {
  std::string text;
};

// What an operation answers: its result object or an error.
using Result = std::variant<boost::json::object, RawJson, protocol::Error>;
using ResultCallback = std::function<void(Result)>;

}  // namespace rstmdb::engine
