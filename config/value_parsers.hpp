// Parsers for the textual forms of configuration values. They do no I/O and know nothing about
// sources; the loader wraps their failures into "KEY (SOURCE): PROBLEM" messages. The server may
// reuse parse_host_port to split a validated bind address.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace rstmdb::config {

// Leading/trailing ASCII whitespace removed.
std::string_view trim(std::string_view text);
std::string to_lower(std::string_view text);

// `text` as a YAML/JSON double-quoted string; control characters are escaped, so the result is
// safe to put into a log line or a YAML document.
std::string double_quoted(std::string_view text);

// 1/true/yes/on and 0/false/no/off, any case.
std::optional<bool> parse_bool(std::string_view text);

// Plain decimal digits only: no sign, no "0x", no "_", no unit suffix. nullopt on overflow.
std::optional<std::uint64_t> parse_unsigned(std::string_view text);
// Optional '-' then decimal digits.
std::optional<std::int64_t> parse_signed(std::string_view text);

struct HostPort {
  std::string host;  // IPv4 literal, IPv6 literal without brackets, or DNS name
  std::uint16_t port = 0;
  bool ipv6 = false;
};
// "host:port", "[v6]:port"; host may be an IPv4/IPv6 literal or a DNS name; port 0..65535.
// On failure returns nullopt and sets *problem to a message without the value.
std::optional<HostPort> parse_host_port(std::string_view text, std::string* problem);

// Limits of the numeric fsync forms.
inline constexpr std::uint64_t kMaxFsyncEveryN = 1'000'000;
inline constexpr std::uint64_t kMaxFsyncEveryMs = 60'000;
// "every_write", "never", "every_n:N", "every_ms:N" (any case, blanks around N allowed).
std::optional<FsyncPolicy> parse_fsync_policy(std::string_view text, std::string* problem);
// The map/tag forms: kind "every_n" or "every_ms" with its number text.
std::optional<FsyncPolicy> make_fsync_policy(std::string_view kind, std::string_view number,
                                             std::string* problem);

// Trimmed, lower-cased 64-hex-digit digest, or nullopt.
std::optional<std::string> normalize_token_hash(std::string_view text);

// Level for rstmdbd from a RUST_LOG value: a bare level ("debug"), or a directive list such as
// "warn,rstmdb=debug" where the last rstmdb* directive wins over the default level. A bare target
// ("rstmdb") means trace, as in env_logger. Returns nullopt when the value names no level for us
// (e.g. "hyper=debug"); sets *problem when it is malformed.
std::optional<std::string> log_level_from_rust_log(std::string_view text, std::string* problem);

}  // namespace rstmdb::config
