// The server address of rstmdb clients (`-s/--server`, RSTMDB_SERVER; runtime.md §2.2), shared
// by rstmdb-cli and rstmdb-bench.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::client {

inline constexpr std::string_view kDefaultServer = "127.0.0.1:7401";
inline constexpr std::uint16_t kDefaultPort = 7401;

// `host[:port]`, `[v6addr][:port]` or a bare IPv6 address (several colons, no brackets: the
// port is then the default); host may be an IPv4/IPv6 literal or a DNS name; port 1..65535.
struct ServerAddress {
  std::string host;  // without brackets
  std::uint16_t port = kDefaultPort;
};
std::optional<ServerAddress> parse_server_address(std::string_view text);

// "host:port", or "[v6]:port" when the host contains a colon; for messages.
std::string format_server_address(const ServerAddress& address);

}  // namespace rstmdb::client
