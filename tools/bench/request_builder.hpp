// Request payloads of the bench, built from text pieces prepared once per run so the hot
// path only concatenates: head + id + middle + argument + tail (no JSON DOM).
//
// Every request is `{"type":"request","id":"<id>","op":"<OP>","params":{...}}` with the
// params shapes of operations.md. The bench machine is a 5-state cycle (s0..s4; event NEXT
// moves s_i to s_(i+1 mod 5); no guards), so APPLY_EVENT on any live instance succeeds.
#pragma once

#include "tools/bench/options.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::bench {

inline constexpr unsigned kCycleStates = 5;
inline constexpr std::string_view kCycleEvent = "NEXT";
inline constexpr std::uint32_t kMachineVersion = 1;
// Page sizes of the list/read ops: small, so they measure the op rather than bulk transfer.
inline constexpr std::uint32_t kListPageSize = 10;

// One wire request. The argument after the middle piece is, per kind: the instance id
// (instance ops), the from_offset (WalRead) or nothing.
enum class RequestKind : std::uint8_t {
  Ping,
  Info,
  GetMachine,
  ListMachines,
  CreateInstance,
  GetInstance,
  ListInstances,
  ApplyEvent,
  SnapshotInstance,
  DeleteInstance,
  WalRead,
  WalStats,
};
inline constexpr std::size_t kRequestKindCount = static_cast<std::size_t>(RequestKind::WalStats) + 1;

class RequestBuilder {
 public:
  // `machine`: the bench machine name (letters, digits, '-' and '_' only; used unescaped).
  // `payload_bytes`: length of the string field in APPLY_EVENT payloads.
  // `create_ids`: how created_instance_id names new instances.
  RequestBuilder(std::string machine, std::uint32_t payload_bytes,
                 CreateIds create_ids = CreateIds::Sequential);

  const std::string& machine() const noexcept { return machine_; }

  // Appends the payload of one request to `out`. `arg` is the instance id or the decimal
  // from_offset, as the kind needs; ignored otherwise.
  void append(std::string& out, RequestKind kind, std::string_view id, std::string_view arg) const;

  // Setup requests (not on the hot path).
  static std::string hello(std::string_view id);
  static std::string auth(std::string_view id, std::string_view token);
  static std::string simple(std::string_view id, std::string_view op);  // no params
  std::string put_machine(std::string_view id) const;
  // WATCH_ALL of the bench machine's events, live (no from_offset), include_ctx default (true).
  std::string watch_all(std::string_view id) const;

  // k of a working-set id "<machine>-w<k>" (raw JSON string contents), or nullopt.
  std::optional<std::uint64_t> working_index(std::string_view instance_id) const noexcept;

  // The cycle machine definition.
  static std::string machine_definition();

  // Working-set instance k: "<machine>-w<k>"; instances created during the run:
  // "<machine>-c<connection>-<seq>", or with CreateIds::Uuid a UUID (8-4-4-4-12 lower-case
  // hex) that is a bijection of (connection, seq), so unique within a run but in random key
  // order. Written into `buf`, returned as a view of it.
  template <std::size_t N>
  std::string_view working_instance_id(std::array<char, N>& buf, std::uint64_t k) const;
  template <std::size_t N>
  std::string_view created_instance_id(std::array<char, N>& buf, std::uint32_t connection,
                                       std::uint64_t seq) const;

 private:
  std::string machine_;
  CreateIds create_ids_;
  std::array<std::string, kRequestKindCount> middle_;
  std::array<std::string, kRequestKindCount> tail_;
};

// Decimal text of `v` in `buf` (at least 20 chars).
std::string_view format_u64(char* buf, std::uint64_t v) noexcept;

template <std::size_t N>
std::string_view RequestBuilder::working_instance_id(std::array<char, N>& buf, std::uint64_t k) const {
  static_assert(N >= 128);
  std::size_t n = machine_.copy(buf.data(), N - 24);
  buf[n++] = '-';
  buf[n++] = 'w';
  n += format_u64(buf.data() + n, k).size();
  return {buf.data(), n};
}

// The UUID text of (connection, seq) into `out` (36 chars): splitmix64 of the packed pair is a
// bijection, so distinct pairs (seq < 2^40) give distinct ids.
void format_uuid(char* out, std::uint32_t connection, std::uint64_t seq) noexcept;

template <std::size_t N>
std::string_view RequestBuilder::created_instance_id(std::array<char, N>& buf, std::uint32_t connection,
                                                     std::uint64_t seq) const {
  static_assert(N >= 128);
  if (create_ids_ == CreateIds::Uuid) {
    format_uuid(buf.data(), connection, seq);
    return {buf.data(), 36};
  }
  std::size_t n = machine_.copy(buf.data(), N - 46);
  buf[n++] = '-';
  buf[n++] = 'c';
  n += format_u64(buf.data() + n, connection).size();
  buf[n++] = '-';
  n += format_u64(buf.data() + n, seq).size();
  return {buf.data(), n};
}

}  // namespace rstmdb::bench
