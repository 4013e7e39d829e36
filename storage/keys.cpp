#include "storage/keys.hpp"

namespace rstmdb::storage {

namespace {

// Escape and terminator bytes of an ordered component (keys.hpp).
constexpr char kEscape = '\x00';
constexpr char kEscapedZero = '\xFF';
constexpr char kTerminator = '\x01';

std::uint64_t read_be(const char* p, int width) {
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

void append_u32_be(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

void append_u64_be(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

bool read_u32_be(std::string_view& in, std::uint32_t& out) {
  if (in.size() < 4) return false;
  out = static_cast<std::uint32_t>(read_be(in.data(), 4));
  in.remove_prefix(4);
  return true;
}

bool read_u64_be(std::string_view& in, std::uint64_t& out) {
  if (in.size() < 8) return false;
  out = read_be(in.data(), 8);
  in.remove_prefix(8);
  return true;
}

std::string u64_value(std::uint64_t v) {
  std::string out;
  out.reserve(8);
  append_u64_be(out, v);
  return out;
}

std::optional<std::uint64_t> decode_u64_value(std::string_view v) {
  std::uint64_t out = 0;
  if (v.size() != 8 || !read_u64_be(v, out)) return std::nullopt;
  return out;
}

void append_ordered(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  for (char c : s) {
    out.push_back(c);
    if (c == kEscape) out.push_back(kEscapedZero);
  }
  out.push_back(kEscape);
  out.push_back(kTerminator);
}

bool read_ordered(std::string_view& in, std::string& out) {
  out.clear();
  std::size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    if (c != kEscape) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= in.size()) return false;
    const char next = in[i + 1];
    if (next == kTerminator) {
      in.remove_prefix(i + 2);
      return true;
    }
    if (next != kEscapedZero) return false;
    out.push_back(kEscape);
    i += 2;
  }
  return false;
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  // Trailing 0xFF bytes cannot be incremented; every key with the prefix is below the prefix
  // with them dropped and the last remaining byte incremented.
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF)
    end.pop_back();
  if (end.empty()) return end;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

std::string offset_key(std::uint64_t offset) {
  return u64_value(offset);
}

std::uint64_t decode_offset_key(std::string_view key) {
  return decode_u64_value(key).value_or(0);
}

std::string machine_prefix(std::string_view name) {
  std::string out;
  append_ordered(out, name);
  return out;
}

std::string machine_key(std::string_view name, std::uint32_t version) {
  std::string out = machine_prefix(name);
  append_u32_be(out, version);
  return out;
}

bool decode_machine_key(std::string_view key, std::string& name, std::uint32_t& version) {
  return read_ordered(key, name) && read_u32_be(key, version) && key.empty();
}

std::string index_by_machine_prefix(std::string_view machine) {
  std::string out(1, kIndexByMachine);
  append_ordered(out, machine);
  return out;
}

std::string index_by_machine_state_prefix(std::string_view machine, std::string_view state) {
  std::string out(1, kIndexByMachineState);
  append_ordered(out, machine);
  append_ordered(out, state);
  return out;
}

std::string index_by_machine(std::string_view machine, std::string_view id) {
  return index_by_machine_prefix(machine).append(id);
}

std::string index_by_machine_state(std::string_view machine, std::string_view state, std::string_view id) {
  return index_by_machine_state_prefix(machine, state).append(id);
}

bool decode_index_key(std::string_view key, IndexKey& out) {
  if (key.empty()) return false;
  out = IndexKey{};
  out.kind = key.front();
  key.remove_prefix(1);
  switch (out.kind) {
    case kIndexByMachine:
      if (!read_ordered(key, out.machine)) return false;
      break;
    case kIndexByMachineState:
      if (!read_ordered(key, out.machine) || !read_ordered(key, out.state)) return false;
      break;
    default:
      return false;
  }
  out.id.assign(key);
  return true;
}

std::string idempotency_create_key(std::string_view key) {
  std::string out(1, kIdempotencyCreate);
  out.append(key);
  return out;
}

std::string idempotency_instance_prefix(char scope, std::string_view instance_id) {
  std::string out(1, scope);
  append_ordered(out, instance_id);
  return out;
}

std::string idempotency_apply_key(std::string_view instance_id, std::string_view key) {
  return idempotency_instance_prefix(kIdempotencyApply, instance_id).append(key);
}

std::string idempotency_delete_key(std::string_view instance_id, std::string_view key) {
  return idempotency_instance_prefix(kIdempotencyDelete, instance_id).append(key);
}

std::string count_machine_prefix(std::string_view machine) {
  std::string out;
  append_ordered(out, machine);
  return out;
}

std::string count_key(std::string_view machine, std::string_view state) {
  std::string out = count_machine_prefix(machine);
  append_ordered(out, state);
  return out;
}

bool decode_count_key(std::string_view key, std::string& machine, std::string& state) {
  return read_ordered(key, machine) && read_ordered(key, state) && key.empty();
}

}  // namespace rstmdb::storage
