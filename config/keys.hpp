// The registry of configuration keys (runtime.md §1.3): one entry per key with its environment
// variable, Helm alias, value kind, range and reload flag. The loader, `check-config --print`,
// the reload path (changed_keys) and the sample-config test all read this one table, so a key
// added here is automatically loadable from every source and shows up everywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.hpp"

namespace rstmdb::config {

enum class ValueKind {
  Bool,          // true/false/yes/no/on/off/1/0, any case
  Unsigned,      // decimal, range-checked
  Signed,        // decimal, range-checked; optionally -1 as "unlimited"
  Address,       // host:port or [v6]:port
  Path,          // non-empty path
  OptionalPath,  // non-empty path, or unset
  Text,          // non-empty string
  Choice,        // one of `choices`, case-insensitive
  FsyncPolicy,   // runtime.md §1.4
  TokenHashes,   // list of 64-hex SHA-256 digests; every source adds to it
};

// Where the loader writes a key. Plain function pointers keep the table constexpr-friendly and
// let one table serve both loading (write) and rendering (read).
using FieldRef = std::variant<bool& (*)(Config&), std::uint32_t& (*)(Config&), std::uint64_t& (*)(Config&),
                              std::int32_t& (*)(Config&), std::string& (*)(Config&),
                              std::optional<std::string>& (*)(Config&), FsyncPolicy& (*)(Config&),
                              std::vector<std::string>& (*)(Config&)>;

struct KeyInfo {
  std::string_view key = {};    // canonical dotted name, e.g. "network.max_connections"
  std::string_view env = {};    // environment variable, "" if none
  std::string_view alias = {};  // Helm chart spelling (e.g. "tls.cert_file"), "" if none
  ValueKind kind = ValueKind::Text;
  bool reloadable = false;  // R = y in runtime.md §1.3: applied on SIGHUP
  // Unsigned/Signed: inclusive range. Signed keys with minus_one_allowed also take -1.
  std::int64_t min = 0;
  std::uint64_t max = 0;
  bool minus_one_allowed = false;
  // Choice: accepted spelling (lower case) → stored value; the first entries with spelling == value
  // are the canonical values listed in messages.
  std::vector<std::pair<std::string_view, std::string_view>> choices = {};
  std::string_view summary = {};  // one line, used by docs and the sample config
  FieldRef field = {};
};

// Every key, in the order of runtime.md §1.3 (which is also the --print order).
const std::vector<KeyInfo>& registered_keys();

// Looks a key up by canonical name or alias; nullptr if unknown.
const KeyInfo* find_key(std::string_view name);

// The value of `key` as YAML text ("true", "300", "\"127.0.0.1:7401\"", "null", "every_write").
// Token hashes are never rendered: their value is the count ("3").
std::string render_value(const Config& config, const KeyInfo& key);

// Canonical names of the keys whose values differ, in registry order. Token hashes and their
// labels are compared in full, so a rotated hash counts as a change of auth.token_hashes.
std::vector<std::string> changed_keys(const Config& before, const Config& after);

}  // namespace rstmdb::config
