// The bench's operations and the weighted mix of them given with -w/--workload.
//
// Mix syntax: comma-separated `op[=weight]` entries, e.g. "apply_event=70,get_instance=30".
// Op names are case-insensitive; a missing weight means 1; weights are integers 0..1000000
// and at least one must be positive. An op may appear only once.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rstmdb::bench {

// One unit of work. Every op but Lifecycle is one request; Lifecycle is the upstream load-test
// shape: CREATE_INSTANCE, kLifecycleApplies x APPLY_EVENT, GET_INSTANCE, DELETE_INSTANCE, each
// sent after the previous answer, measured as one unit.
enum class Op : std::uint8_t {
  ApplyEvent,
  GetInstance,
  CreateInstance,
  ListInstances,
  SnapshotInstance,
  GetMachine,
  ListMachines,
  Ping,
  Info,
  WalRead,
  WalStats,
  Lifecycle,
};
inline constexpr std::size_t kOpCount = static_cast<std::size_t>(Op::Lifecycle) + 1;

inline constexpr unsigned kLifecycleApplies = 4;

// "apply_event", "get_instance", ... "lifecycle".
std::string_view op_name(Op op) noexcept;
// Case-insensitive inverse of op_name.
std::optional<Op> op_from_name(std::string_view name) noexcept;
// All op names, comma-separated, for help and error texts.
std::string op_name_list();

// True for ops that address a random instance of the pre-created working set.
bool op_uses_working_set(Op op) noexcept;
// True for ops that need the bench's machine to exist (working set or created instances).
bool op_uses_machine(Op op) noexcept;

struct MixEntry {
  Op op;
  std::uint32_t weight;
};

class WorkloadMix {
 public:
  static constexpr std::uint32_t kMaxWeight = 1'000'000;

  // Parses the -w syntax above. On failure returns a one-line reason.
  static std::variant<WorkloadMix, std::string> parse(std::string_view text);

  // Entries with a positive weight, in the order given.
  const std::vector<MixEntry>& entries() const noexcept { return entries_; }
  std::uint64_t total_weight() const noexcept { return total_; }
  bool contains(Op op) const noexcept;

  // Maps a uniformly distributed 64-bit number to an op with probability weight/total.
  Op pick(std::uint64_t random) const noexcept;

  // Normalised text, e.g. "apply_event=70,get_instance=30".
  std::string to_string() const;

 private:
  std::vector<MixEntry> entries_;
  std::vector<std::uint64_t> cumulative_;  // running sums of the weights
  std::uint64_t total_ = 0;
};

}  // namespace rstmdb::bench
