#include "storage/records.hpp"

namespace rstmdb::storage {

namespace {

constexpr unsigned char kFlagDeleted = 0x01;
constexpr unsigned char kFlagHasLastEventId = 0x02;
constexpr unsigned char kKnownFlags = kFlagDeleted | kFlagHasLastEventId;

// A u64 needs at most 10 LEB128 bytes; the 10th may only carry the top bit.
constexpr int kMaxVarintBytes = 10;

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_zigzag(std::string& out, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  put_varint(out, (u << 1) ^ (v < 0 ? ~std::uint64_t{0} : std::uint64_t{0}));
}

void put_string(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

// Reads from a fixed input; every getter fails (and keeps failing) instead of over-reading.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool byte(unsigned char& out) {
    if (in_.empty()) return false;
    out = static_cast<unsigned char>(in_.front());
    in_.remove_prefix(1);
    return true;
  }

  bool varint(std::uint64_t& out) {
    std::uint64_t v = 0;
    for (int i = 0; i < kMaxVarintBytes; ++i) {
      unsigned char b = 0;
      if (!byte(b)) return false;
      if (i == kMaxVarintBytes - 1 && b > 0x01) return false;  // would overflow 64 bits
      v |= static_cast<std::uint64_t>(b & 0x7F) << (7 * i);
      if ((b & 0x80) == 0) {
        out = v;
        return true;
      }
    }
    return false;
  }

  bool u32(std::uint32_t& out) {
    std::uint64_t v = 0;
    if (!varint(v) || v > UINT32_MAX) return false;
    out = static_cast<std::uint32_t>(v);
    return true;
  }

  bool zigzag(std::int64_t& out) {
    std::uint64_t u = 0;
    if (!varint(u)) return false;
    out = static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }

  bool string(std::string& out) {
    std::uint64_t n = 0;
    // Checking the length against what is left also bounds the allocation.
    if (!varint(n) || n > in_.size()) return false;
    out.assign(in_.data(), static_cast<std::size_t>(n));
    in_.remove_prefix(static_cast<std::size_t>(n));
    return true;
  }

  bool version() {
    unsigned char v = 0;
    return byte(v) && v == kRecordFormatV1;
  }

  bool at_end() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string encode_instance(const InstanceRecord& r) {
  std::string out;
  out.reserve(32 + r.machine.size() + r.state.size() + r.ctx_json.size() +
              (r.last_event_id ? r.last_event_id->size() : 0));
  out.push_back(static_cast<char>(kRecordFormatV1));
  put_string(out, r.machine);
  put_varint(out, r.version);
  put_string(out, r.state);
  put_string(out, r.ctx_json);
  unsigned char flags = 0;
  if (r.deleted) flags |= kFlagDeleted;
  if (r.last_event_id) flags |= kFlagHasLastEventId;
  out.push_back(static_cast<char>(flags));
  if (r.last_event_id) put_string(out, *r.last_event_id);
  put_varint(out, r.last_wal_offset);
  put_zigzag(out, r.created_at);
  put_zigzag(out, r.updated_at);
  return out;
}

bool decode_instance(std::string_view bytes, InstanceRecord& out) {
  Reader in(bytes);
  InstanceRecord r;
  unsigned char flags = 0;
  if (!in.version() || !in.string(r.machine) || !in.u32(r.version) || !in.string(r.state) ||
      !in.string(r.ctx_json) || !in.byte(flags) || (flags & ~kKnownFlags) != 0) {
    return false;
  }
  r.deleted = (flags & kFlagDeleted) != 0;
  if ((flags & kFlagHasLastEventId) != 0) {
    std::string id;
    if (!in.string(id)) return false;
    r.last_event_id = std::move(id);
  }
  if (!in.varint(r.last_wal_offset) || !in.zigzag(r.created_at) || !in.zigzag(r.updated_at) || !in.at_end()) {
    return false;
  }
  out = std::move(r);
  return true;
}

std::string encode_machine(const MachineRecord& r) {
  std::string out;
  out.reserve(16 + r.definition_json.size() + r.checksum.size());
  out.push_back(static_cast<char>(kRecordFormatV1));
  put_string(out, r.definition_json);
  put_string(out, r.checksum);
  put_zigzag(out, r.created_at);
  return out;
}

bool decode_machine(std::string_view bytes, MachineRecord& out) {
  Reader in(bytes);
  MachineRecord r;
  if (!in.version() || !in.string(r.definition_json) || !in.string(r.checksum) || !in.zigzag(r.created_at) ||
      !in.at_end()) {
    return false;
  }
  out = std::move(r);
  return true;
}

std::string encode_idempotency(const IdempotencyRecord& r) {
  std::string out;
  out.reserve(16 + r.result_json.size());
  out.push_back(static_cast<char>(kRecordFormatV1));
  put_zigzag(out, r.created_at);
  put_string(out, r.result_json);
  return out;
}

bool decode_idempotency(std::string_view bytes, IdempotencyRecord& out) {
  Reader in(bytes);
  IdempotencyRecord r;
  if (!in.version() || !in.zigzag(r.created_at) || !in.string(r.result_json) || !in.at_end()) return false;
  out = std::move(r);
  return true;
}

}  // namespace rstmdb::storage
