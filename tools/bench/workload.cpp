#include "tools/bench/workload.hpp"

#include <algorithm>
#include <charconv>

namespace rstmdb::bench {
namespace {

constexpr std::array<std::string_view, kOpCount> kOpNames = {
    "apply_event",
    "get_instance",
    "create_instance",
    "list_instances",
    "snapshot_instance",
    "get_machine",
    "list_machines",
    "ping",
    "info",
    "wal_read",
    "wal_stats",
    "lifecycle",
};

std::string_view trim(std::string_view s) noexcept {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

}  // namespace

std::string_view op_name(Op op) noexcept {
  return kOpNames[static_cast<std::size_t>(op)];
}

std::optional<Op> op_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    if (iequals(name, kOpNames[i])) return static_cast<Op>(i);
  }
  return std::nullopt;
}

std::string op_name_list() {
  std::string out;
  for (std::string_view n : kOpNames) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

bool op_uses_working_set(Op op) noexcept {
  return op == Op::ApplyEvent || op == Op::GetInstance || op == Op::SnapshotInstance;
}

bool op_uses_machine(Op op) noexcept {
  return op_uses_working_set(op) || op == Op::CreateInstance || op == Op::Lifecycle ||
         op == Op::ListInstances || op == Op::GetMachine;
}

std::variant<WorkloadMix, std::string> WorkloadMix::parse(std::string_view text) {
  WorkloadMix mix;
  std::array<bool, kOpCount> seen{};
  if (trim(text).empty()) return std::string("empty workload");
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    if (item.empty()) return std::string("empty entry in workload");

    const std::size_t eq = item.find('=');
    const std::string_view name = trim(item.substr(0, eq));
    const auto op = op_from_name(name);
    if (!op) {
      return "unknown op '" + std::string(name) + "' (known: " + op_name_list() + ")";
    }
    if (seen[static_cast<std::size_t>(*op)]) return "op '" + std::string(op_name(*op)) + "' given twice";
    seen[static_cast<std::size_t>(*op)] = true;

    std::uint32_t weight = 1;
    if (eq != std::string_view::npos) {
      const std::string_view w = trim(item.substr(eq + 1));
      const auto [ptr, ec] = std::from_chars(w.data(), w.data() + w.size(), weight);
      if (w.empty() || ec != std::errc() || ptr != w.data() + w.size() || weight > kMaxWeight) {
        return "invalid weight '" + std::string(w) + "' for op '" + std::string(op_name(*op)) +
               "' (expected an integer 0.." + std::to_string(kMaxWeight) + ")";
      }
    }
    if (weight > 0) {
      mix.entries_.push_back({*op, weight});
      mix.total_ += weight;
      mix.cumulative_.push_back(mix.total_);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (mix.total_ == 0) return std::string("every weight in the workload is 0");
  return mix;
}

bool WorkloadMix::contains(Op op) const noexcept {
  return std::any_of(entries_.begin(), entries_.end(), [op](const MixEntry& e) { return e.op == op; });
}

Op WorkloadMix::pick(std::uint64_t random) const noexcept {
  if (entries_.size() == 1) return entries_.front().op;
  // Multiply-shift maps [0, 2^64) onto [0, total) without a division.
  const auto point = static_cast<std::uint64_t>((static_cast<unsigned __int128>(random) * total_) >> 64);
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), point);
  return entries_[static_cast<std::size_t>(it - cumulative_.begin())].op;
}

std::string WorkloadMix::to_string() const {
  std::string out;
  for (const MixEntry& e : entries_) {
    if (!out.empty()) out += ',';
    out += op_name(e.op);
    out += '=';
    out += std::to_string(e.weight);
  }
  return out;
}

}  // namespace rstmdb::bench
