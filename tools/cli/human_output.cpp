#include "tools/cli/human_output.hpp"

#include "protocol/json_text.hpp"
#include "tools/cli/json_pretty.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

namespace rstmdb::cli::human {
namespace {

std::string str(const json::object& o, std::string_view key, std::string_view fallback = "") {
  if (const json::value* v = o.if_contains(key); v != nullptr && v->is_string()) {
    return std::string(v->get_string().data(), v->get_string().size());
  }
  return std::string(fallback);
}

std::optional<std::uint64_t> opt_u64(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

std::uint64_t u64(const json::object& o, std::string_view key) {
  return opt_u64(o, key).value_or(0);
}

std::string num(std::uint64_t v) {
  return std::to_string(v);
}

const json::object& object_at(const json::object& o, std::string_view key) {
  static const json::object empty;
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? v->get_object() : empty;
}

const json::array& array_at(const json::object& o, std::string_view key) {
  static const json::array empty;
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_array() ? v->get_array() : empty;
}

std::string pretty_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr ? "null" : pretty_json(*v);
}

std::string right(std::string text, std::size_t width) {
  if (text.size() < width) text.insert(0, width - text.size(), ' ');
  return text;
}

std::string left(std::string text, std::size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

// upstream repl.rs: B, KB, MB with two decimals (no GB step).
std::string size_text(std::uint64_t bytes) {
  char buf[48];
  if (bytes >= 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.2f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  } else if (bytes >= 1024) {
    std::snprintf(buf, sizeof buf, "%.2f KB", static_cast<double>(bytes) / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

std::string machine_lines(const Style& s, const std::vector<MachineSummary>& machines) {
  std::string out;
  for (const MachineSummary& m : machines) {
    if (!m.latest) {
      out += "  " + s.cyan(m.name) + " [no versions]\n";
    } else if (m.states && m.transitions) {
      out += "  " + s.cyan(m.name) + " v" + num(*m.latest) + " (" + s.yellow(num(*m.states)) + " states, " +
             s.yellow(num(*m.transitions)) + " transitions)\n";
    } else {
      std::string list;
      for (std::size_t i = 0; i < m.versions.size(); ++i) {
        if (i > 0) list += ", ";
        list += num(m.versions[i]);
      }
      out += "  " + s.cyan(m.name) + " [versions: [" + list + "]]\n";
    }
  }
  return out;
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  constexpr double kKiB = 1024.0, kMiB = kKiB * 1024.0, kGiB = kMiB * 1024.0;
  const auto b = static_cast<double>(bytes);
  char buf[48];
  if (b >= kGiB) {
    std::snprintf(buf, sizeof buf, "%.2f GB", b / kGiB);
  } else if (b >= kMiB) {
    std::snprintf(buf, sizeof buf, "%.2f MB", b / kMiB);
  } else if (b >= kKiB) {
    std::snprintf(buf, sizeof buf, "%.2f KB", b / kKiB);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

std::string format_timestamp_ms(std::int64_t ms) {
  const std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const int millis = static_cast<int>(ms - secs * 1000);
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(ms);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string ping(const Style& s) {
  return s.green("PONG");
}

std::string info(const json::object& result) {
  return pretty_json(result);
}

std::string put_machine(const Style& s, std::string_view name, std::uint32_t version,
                        const json::object& result) {
  const bool created =
      result.if_contains("created") && result.at("created").is_bool() && result.at("created").get_bool();
  return (created ? s.green("Created") : s.yellow("Already exists")) + " machine " + s.cyan(name) + " v" +
         num(version) + " (checksum: " + str(result, "stored_checksum") + ")";
}

std::string get_machine(const Style& s, std::string_view name, std::uint64_t version,
                        const json::object& result) {
  return s.bold("Machine " + s.cyan(name) + " v" + num(version)) + "\n" + pretty_member(result, "definition");
}

std::string list_machines(const Style& s, const std::vector<MachineSummary>& machines) {
  if (machines.empty()) return s.yellow("No machines registered");
  return machine_lines(s, machines);
}

std::string create_instance(const Style& s, std::string_view machine, std::uint32_t version,
                            const json::object& result) {
  return s.green("Created") + " instance " + s.cyan(str(result, "instance_id")) +
         "\n  Machine: " + std::string(machine) + " v" + num(version) +
         "\n  State: " + s.yellow(str(result, "state")) + "\n  WAL offset: " + num(u64(result, "wal_offset"));
}

std::string get_instance(const Style& s, std::string_view id, const json::object& result) {
  return s.bold("Instance " + s.cyan(id)) + "\n  Machine: " + str(result, "machine") + " v" +
         num(u64(result, "version")) + "\n  State: " + s.yellow(str(result, "state")) +
         "\n  Context: " + pretty_member(result, "ctx") +
         "\n  Last WAL offset: " + num(u64(result, "last_wal_offset"));
}

std::string list_instances(const Style& s, const json::object& result) {
  const json::array& items = array_at(result, "instances");
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back({"ID", "MACHINE", "VERSION", "STATE", "UPDATED_AT"});
  for (const json::value& v : items) {
    if (!v.is_object()) continue;
    const json::object& o = v.get_object();
    std::string updated;
    if (const json::value* u = o.if_contains("updated_at");
        u != nullptr && (u->is_int64() || u->is_uint64())) {
      updated =
          format_timestamp_ms(u->is_int64() ? u->get_int64() : static_cast<std::int64_t>(u->get_uint64()));
    }
    rows.push_back({str(o, "id"), str(o, "machine"), num(u64(o, "version")), str(o, "state"), updated});
  }
  std::array<std::size_t, 5> width{};
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c)
      width[c] = std::max(width[c], r[c].size());
  std::string out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      std::string cell = c + 1 < r.size() ? left(r[c], width[c]) + "  " : r[c];
      if (i == 0) {
        cell = s.bold(cell);
      } else if (c == 0) {
        cell = s.cyan(cell);
      } else if (c == 3) {
        cell = s.yellow(cell);
      }
      line += cell;
    }
    out += line + "\n";
  }
  out += num(rows.size() - 1) + " of " + num(u64(result, "total"));
  return out;
}

std::string apply_event(const Style& s, std::string_view instance, std::string_view event,
                        const json::object& result) {
  return s.green("Applied") + " event " + s.cyan(event) + " on " + std::string(instance) + "\n  " +
         str(result, "from_state") + " \u2192 " + s.yellow(str(result, "to_state")) +
         "\n  WAL offset: " + num(u64(result, "wal_offset"));
}

std::string delete_instance(const Style& s, std::string_view id) {
  return s.green("Deleted") + " instance " + s.cyan(id);
}

std::string snapshot_instance(const Style& s, std::string_view id, const json::object& result) {
  return s.green("Created") + " snapshot " + s.cyan(str(result, "snapshot_id")) + " of instance " +
         std::string(id) + "\n  WAL offset: " + num(u64(result, "wal_offset")) +
         "\n  Size: " + format_bytes(u64(result, "size_bytes")) + "\n  Checksum: " + str(result, "checksum");
}

std::string wal_read(const Style& s, const json::object& result) {
  const json::value* records = result.if_contains("records");
  if (records == nullptr || !records->is_array()) return pretty_json(result);
  if (records->get_array().empty()) return s.yellow("No WAL entries");
  std::string out;
  for (const json::value& rv : records->get_array()) {
    if (!rv.is_object()) continue;
    const json::object& record = rv.get_object();
    const json::object& entry = object_at(record, "entry");
    const std::string type = str(entry, "type", "unknown");
    out += "[" + right(s.cyan(num(u64(record, "sequence"))), 6) + "] " +
           right(num(u64(record, "offset")), 12) + " | " + s.yellow(type) + "\n";
    if (type == "create_instance") {
      out += "         Instance: " + str(entry, "instance_id", "?") +
             ", Machine: " + str(entry, "machine", "?") + " v" + num(u64(entry, "version")) + "\n";
    } else if (type == "apply_event") {
      out += "         Instance: " + str(entry, "instance_id", "?") + ", Event: " + str(entry, "event", "?") +
             ", " + str(entry, "from_state", "?") + " \u2192 " + str(entry, "to_state", "?") + "\n";
    }
  }
  if (auto next = opt_u64(result, "next_offset")) out += "\n" + s.dimmed("Next offset") + ": " + num(*next);
  return out;
}

std::string wal_stats(const Style& s, const json::object& result) {
  std::string out = s.bold(s.cyan("WAL Statistics")) +
                    "\n  Entries: " + s.yellow(num(u64(result, "entry_count"))) +
                    "\n  Segments: " + num(u64(result, "segment_count")) +
                    "\n  Size: " + size_text(u64(result, "total_size_bytes")) + "\n";
  if (auto latest = opt_u64(result, "latest_offset")) out += "  Latest offset: " + num(*latest) + "\n";
  if (auto oldest = opt_u64(result, "oldest_offset")) out += "  Oldest offset: " + num(*oldest) + "\n";
  const json::object& io = object_at(result, "io_stats");
  out += "\n" + s.bold(s.cyan("I/O Statistics")) + "\n  Bytes written: " + num(u64(io, "bytes_written")) +
         "\n  Bytes read: " + num(u64(io, "bytes_read")) + "\n  Writes: " + num(u64(io, "writes")) +
         "\n  Reads: " + num(u64(io, "reads")) + "\n  Fsyncs: " + num(u64(io, "fsyncs"));
  return out;
}

std::string compact(const Style& s, const json::object& result) {
  return s.green("Compaction complete") + "\n  Snapshots created: " + num(u64(result, "snapshots_created")) +
         "\n  WAL segments deleted: " + num(u64(result, "segments_deleted")) +
         "\n  Bytes reclaimed: " + format_bytes(u64(result, "bytes_reclaimed")) +
         "\n  ---\n  Total snapshots: " + num(u64(result, "total_snapshots")) +
         "\n  WAL segments remaining: " + num(u64(result, "wal_segments"));
}

std::string batch(const Style& s, bool atomic, const json::array& ops, const json::object& result,
                  std::size_t& failed) {
  const json::array& results = array_at(result, "results");
  failed = 0;
  std::string lines;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const json::object empty;
    const json::object& r = results[i].is_object() ? results[i].get_object() : empty;
    std::string op = "?";
    if (i < ops.size() && ops[i].is_object()) op = str(ops[i].get_object(), "op", "?");
    lines += "  [" + num(i) + "] ";
    if (str(r, "status") == "ok") {
      lines += s.green("ok") + " " + s.cyan(op) + " " + protocol::to_json(object_at(r, "result")) + "\n";
    } else {
      ++failed;
      const json::object& e = object_at(r, "error");
      lines += s.red("error") + " " + s.cyan(op) + " " + str(e, "code") + " - " + str(e, "message") + "\n";
    }
  }
  std::string out =
      s.bold(std::string("Batch (") + (atomic ? "atomic" : "best_effort") + "): " + num(results.size()) +
             " operations, " + num(results.size() - failed) + " ok, " + num(failed) + " failed");
  if (!lines.empty()) out += "\n" + lines.substr(0, lines.size() - 1);
  return out;
}

std::string flush_all(const Style& s, const json::object& result) {
  return s.green("Flushed") + " all data: " + num(u64(result, "instances_removed")) + " instances, " +
         num(u64(result, "machines_removed")) + " machine versions removed";
}

std::string unwatch(const Style& s, std::string_view subscription_id, const json::object& result) {
  const bool removed =
      result.if_contains("removed") && result.at("removed").is_bool() && result.at("removed").get_bool();
  if (removed) return s.green("Removed") + " subscription " + s.cyan(subscription_id);
  return s.yellow("Warning") + ": subscription " + std::string(subscription_id) + " not found";
}

std::string watch_instance_banner(const Style& s, std::string_view id, const json::object& result) {
  return s.green("Watching") + " instance " + s.cyan(id) + " (sub_id: " + str(result, "subscription_id") +
         ", state: " + s.yellow(str(result, "current_state")) +
         ", wal_offset: " + num(u64(result, "current_wal_offset")) + ")\n" +
         s.dimmed("Press Ctrl+C to stop...");
}

std::string watch_all_banner(const Style& s, const json::object& result) {
  return s.green("Watching") + " all events (sub_id: " + str(result, "subscription_id") +
         ", wal_offset: " + num(u64(result, "wal_offset")) + ")\n" + s.dimmed("Press Ctrl+C to stop...");
}

namespace repl {

std::string put_machine(const Style& s, std::string_view name, std::uint32_t version,
                        const json::object& result) {
  const bool created =
      result.if_contains("created") && result.at("created").is_bool() && result.at("created").get_bool();
  return (created ? s.green("Created") : s.yellow("Exists")) + " " + s.cyan(name) + " v" + num(version) +
         " (checksum: " + str(result, "stored_checksum") + ")";
}

std::string get_machine(const json::object& result) {
  return pretty_member(result, "definition");
}

std::string list_machines(const Style& s, const std::vector<MachineSummary>& machines) {
  if (machines.empty()) return s.yellow("No machines");
  return machine_lines(s, machines);
}

std::string create_instance(const Style& s, const json::object& result) {
  return s.green("Created") + " " + s.cyan(str(result, "instance_id")) +
         " (state: " + s.yellow(str(result, "state")) + ", offset: " + num(u64(result, "wal_offset")) + ")";
}

std::string get_instance(const Style& s, const json::object& result) {
  return s.cyan(str(result, "machine")) + " v" + num(u64(result, "version")) +
         "\n  State: " + s.yellow(str(result, "state")) + "\n  Context: " + pretty_member(result, "ctx");
}

std::string list_instances(const Style& s, const json::object& result, std::uint32_t limit) {
  const json::array& items = array_at(result, "instances");
  if (items.empty()) return s.yellow("No instances");
  const bool more =
      result.if_contains("has_more") && result.at("has_more").is_bool() && result.at("has_more").get_bool();
  std::string out = s.bold(s.cyan("Instances")) + " (" + num(u64(result, "total")) + " total" +
                    (more ? ", showing first " + num(limit) : std::string()) + ")\n";
  for (const json::value& v : items) {
    if (!v.is_object()) continue;
    const json::object& o = v.get_object();
    out += "  " + s.cyan(str(o, "id")) + " (" + str(o, "machine") + " v" + num(u64(o, "version")) +
           ") state=" + s.yellow(str(o, "state")) + "\n";
  }
  return out;
}

std::string delete_instance(const Style& s, std::string_view id) {
  return s.green("Deleted") + " " + s.cyan(id);
}

std::string apply_event(const Style& s, std::string_view event, const json::object& result) {
  return s.cyan(event) + " " + str(result, "from_state") + " \u2192 " + s.yellow(str(result, "to_state")) +
         " (offset: " + num(u64(result, "wal_offset")) + ")";
}

std::string wal_read(const Style& s, const json::object& result) {
  const json::value* records = result.if_contains("records");
  if (records == nullptr || !records->is_array()) return pretty_json(result);
  if (records->get_array().empty()) return s.yellow("No entries");
  std::string out;
  for (const json::value& rv : records->get_array()) {
    if (!rv.is_object()) continue;
    const json::object& record = rv.get_object();
    out += "[" + s.cyan(num(u64(record, "sequence"))) + "] " +
           s.yellow(str(object_at(record, "entry"), "type", "?")) + "\n";
  }
  return out;
}

}  // namespace repl

}  // namespace rstmdb::cli::human
