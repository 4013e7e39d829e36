// Binary record codecs for the values of the Instances, Machines and Idempotency column
// families. JSON is carried as opaque text; storage/ never parses it.
//
// Layout (v1, see docs/storage.md): one format-version byte (kRecordFormatV1), then the
// fields in declaration order. Strings are a LEB128 varint length followed by the bytes;
// unsigned integers are LEB128 varints; signed integers are zigzag LEB128 varints; the
// instance record has one flags byte (bit 0 deleted, bit 1 last_event_id present).
//
// Decoders accept exactly one well-formed record: any other input (truncated, trailing
// bytes, unknown version or flags, oversized lengths) returns false without reading past the
// input. On false the output object is left unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::storage {

inline constexpr unsigned char kRecordFormatV1 = 1;

struct InstanceRecord {
  std::string machine;
  std::uint32_t version = 0;
  std::string state;
  std::string ctx_json;  // compact JSON object text
  std::optional<std::string> last_event_id;
  std::uint64_t last_wal_offset = 0;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  bool deleted = false;

  bool operator==(const InstanceRecord&) const = default;
};

struct MachineRecord {
  std::string definition_json;  // as submitted
  std::string checksum;
  std::int64_t created_at = 0;

  bool operator==(const MachineRecord&) const = default;
};

struct IdempotencyRecord {
  std::int64_t created_at = 0;
  std::string result_json;

  bool operator==(const IdempotencyRecord&) const = default;
};

std::string encode_instance(const InstanceRecord& record);
bool decode_instance(std::string_view bytes, InstanceRecord& out);

std::string encode_machine(const MachineRecord& record);
bool decode_machine(std::string_view bytes, MachineRecord& out);

std::string encode_idempotency(const IdempotencyRecord& record);
bool decode_idempotency(std::string_view bytes, IdempotencyRecord& out);

}  // namespace rstmdb::storage
