// Human-readable output of each command: the exact strings of upstream's CLI for its
// commands (one-shot and REPL forms), and our own for the additions of runtime.md §2.2.
// Pure functions of the command arguments and the server's result object. The returned text
// has no final newline; the caller prints it with one (as upstream's println!).
#pragma once

#include "tools/cli/style.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rstmdb::cli::human {

namespace json = boost::json;

// "1023 B", "1.50 KB", "2.00 MB", "1.00 GB" (upstream's format_bytes).
std::string format_bytes(std::uint64_t bytes);
// Unix milliseconds as "2026-02-21T10:15:30.123Z".
std::string format_timestamp_ms(std::int64_t ms);

// A machine as list-machines shows it: from its latest version's definition, or only the
// version list when that definition could not be read.
struct MachineSummary {
  std::string name;
  std::vector<std::uint64_t> versions;
  std::optional<std::uint64_t> latest;
  std::optional<std::size_t> states, transitions;
};

std::string ping(const Style& s);
std::string info(const json::object& result);
std::string put_machine(const Style& s, std::string_view name, std::uint32_t version,
                        const json::object& result);
std::string get_machine(const Style& s, std::string_view name, std::uint64_t version,
                        const json::object& result);
std::string list_machines(const Style& s, const std::vector<MachineSummary>& machines);
std::string create_instance(const Style& s, std::string_view machine, std::uint32_t version,
                            const json::object& result);
std::string get_instance(const Style& s, std::string_view id, const json::object& result);
std::string list_instances(const Style& s, const json::object& result);
std::string apply_event(const Style& s, std::string_view instance, std::string_view event,
                        const json::object& result);
std::string delete_instance(const Style& s, std::string_view id);
std::string snapshot_instance(const Style& s, std::string_view id, const json::object& result);
std::string wal_read(const Style& s, const json::object& result);
std::string wal_stats(const Style& s, const json::object& result);
std::string compact(const Style& s, const json::object& result);
// `ops` is the batch as sent (for the op names); returns the text and counts failures.
std::string batch(const Style& s, bool atomic, const json::array& ops, const json::object& result,
                  std::size_t& failed);
std::string flush_all(const Style& s, const json::object& result);
std::string unwatch(const Style& s, std::string_view subscription_id, const json::object& result);
std::string watch_instance_banner(const Style& s, std::string_view id, const json::object& result);
std::string watch_all_banner(const Style& s, const json::object& result);

// The REPL's own, shorter forms (upstream repl.rs).
namespace repl {
std::string put_machine(const Style& s, std::string_view name, std::uint32_t version,
                        const json::object& result);
std::string get_machine(const json::object& result);
std::string list_machines(const Style& s, const std::vector<MachineSummary>& machines);
std::string create_instance(const Style& s, const json::object& result);
std::string get_instance(const Style& s, const json::object& result);
std::string list_instances(const Style& s, const json::object& result, std::uint32_t limit);
std::string delete_instance(const Style& s, std::string_view id);
std::string apply_event(const Style& s, std::string_view event, const json::object& result);
std::string wal_read(const Style& s, const json::object& result);
}  // namespace repl

}  // namespace rstmdb::cli::human
