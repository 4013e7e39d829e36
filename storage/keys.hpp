// Key encodings for the column families of store.hpp. Every encoding preserves byte order where
// the spec needs ordered scans: RocksDB compares keys bytewise, so a scan over a prefix returns
// keys in the order of their components.
//
// Building blocks:
//   u32/u64 BE    fixed width big-endian; byte order == numeric order.
//   ordered(s)    an arbitrary byte string as a key component: every 0x00 byte becomes
//                 0x00 0xFF, and the component ends with 0x00 0x01. The result is prefix-free
//                 and order-preserving: for a != b, ordered(a)+X compares like a vs b whatever
//                 follows (X, Y), because the terminator 0x00 0x01 sorts below any continuation
//                 (a non-zero byte, or an escaped zero 0x00 0xFF).
//
// Layouts (see docs/storage.md):
//   Machines     ordered(name) u32BE(version)
//   Instances    instance_id (raw)
//   Log          u64BE(offset)
//   Index        'm' ordered(machine) id
//                's' ordered(machine) ordered(state) id
//   Idempotency  'c' key                        (CREATE_INSTANCE)
//                'a' ordered(instance_id) key   (APPLY_EVENT)
//                'd' ordered(instance_id) key   (DELETE_INSTANCE)
//   Snapshots    instance_id (raw)
//   Meta         kMeta* names
//   Counts       ordered(machine) ordered(state)   → u64BE
//
// Decoders never read past their input and report malformed keys by returning false.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::storage {

// --- fixed-width integers ---------------------------------------------------------------------

void append_u32_be(std::string& out, std::uint32_t v);
void append_u64_be(std::string& out, std::uint64_t v);

// Consume 4 / 8 bytes from the front of `in`; false (and `in` untouched) if too short.
bool read_u32_be(std::string_view& in, std::uint32_t& out);
bool read_u64_be(std::string_view& in, std::uint64_t& out);

// An 8-byte big-endian value (Meta and Counts values).
std::string u64_value(std::uint64_t v);
// nullopt unless `v` is exactly 8 bytes.
std::optional<std::uint64_t> decode_u64_value(std::string_view v);

// --- ordered components -----------------------------------------------------------------------

void append_ordered(std::string& out, std::string_view s);
// Consumes one ordered component from the front of `in` into `out`. False on a malformed or
// unterminated component (`in` and `out` are then unspecified).
bool read_ordered(std::string_view& in, std::string& out);

// The smallest key greater than every key starting with `prefix`; "" when there is none (the
// prefix is empty or all 0xFF), meaning "no upper bound". Every prefix built by this header
// has an end.
std::string prefix_end(std::string_view prefix);

// --- Log --------------------------------------------------------------------------------------

std::string offset_key(std::uint64_t offset);
// 0 (never a valid offset) unless `key` is exactly 8 bytes.
std::uint64_t decode_offset_key(std::string_view key);

// --- Machines ---------------------------------------------------------------------------------

std::string machine_key(std::string_view name, std::uint32_t version);
// All versions of `name`, in ascending version order.
std::string machine_prefix(std::string_view name);
bool decode_machine_key(std::string_view key, std::string& name, std::uint32_t& version);

// --- Index ------------------------------------------------------------------------------------

inline constexpr char kIndexByMachine = 'm';
inline constexpr char kIndexByMachineState = 's';

std::string index_by_machine(std::string_view machine, std::string_view id);
std::string index_by_machine_state(std::string_view machine, std::string_view state, std::string_view id);
// The instance id of an index key is key.substr(prefix.size()) for the matching prefix.
std::string index_by_machine_prefix(std::string_view machine);
std::string index_by_machine_state_prefix(std::string_view machine, std::string_view state);

struct IndexKey {
  char kind = 0;  // kIndexBy*
  std::string machine;
  std::string state;  // empty for kIndexByMachine
  std::string id;
};
bool decode_index_key(std::string_view key, IndexKey& out);

// --- Idempotency ------------------------------------------------------------------------------

inline constexpr char kIdempotencyCreate = 'c';
inline constexpr char kIdempotencyApply = 'a';
inline constexpr char kIdempotencyDelete = 'd';

std::string idempotency_create_key(std::string_view key);
std::string idempotency_apply_key(std::string_view instance_id, std::string_view key);
std::string idempotency_delete_key(std::string_view instance_id, std::string_view key);
// Every record of `scope` (kIdempotencyApply or kIdempotencyDelete) for one instance; with
// prefix_end() this is the range to drop when the instance is deleted or re-created.
std::string idempotency_instance_prefix(char scope, std::string_view instance_id);

// --- Counts -----------------------------------------------------------------------------------

std::string count_key(std::string_view machine, std::string_view state);
// Every state of `machine`.
std::string count_machine_prefix(std::string_view machine);
bool decode_count_key(std::string_view key, std::string& machine, std::string& state);

// --- Meta -------------------------------------------------------------------------------------

inline constexpr std::string_view kMetaLatestOffset = "latest_offset";  // u64 BE
inline constexpr std::string_view kMetaOldestOffset = "oldest_offset";  // u64 BE

}  // namespace rstmdb::storage
