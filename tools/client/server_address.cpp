#include "tools/client/server_address.hpp"

#include <charconv>

namespace rstmdb::client {
namespace {

bool parse_port(std::string_view text, std::uint16_t& port) {
  std::uint32_t value = 0;
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value == 0 || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

// An IPv6 literal's characters (hex digits, ':' and '.' for an embedded IPv4 part), then an
// optional zone after '%'. Resolution checks the rest; this only keeps "::1]" and "a b:c"
// from being taken for addresses.
bool plausible_ipv6(std::string_view host) {
  const std::size_t zone = host.find('%');
  const std::string_view addr = host.substr(0, zone);
  if (addr.empty() || (zone != std::string_view::npos && zone + 1 == host.size())) return false;
  for (char c : addr) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != ':' && c != '.') return false;
  }
  return true;
}

}  // namespace

std::optional<ServerAddress> parse_server_address(std::string_view text) {
  ServerAddress addr;
  if (text.empty()) return std::nullopt;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    addr.host = std::string(text.substr(1, close - 1));
    if (!plausible_ipv6(addr.host)) return std::nullopt;
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return addr;
    if (rest.front() != ':' || !parse_port(rest.substr(1), addr.port)) return std::nullopt;
    return addr;
  }
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    addr.host = std::string(text);
    return addr;
  }
  if (text.find(':') != colon) {  // several colons, no brackets: a bare IPv6 address
    if (!plausible_ipv6(text)) return std::nullopt;
    addr.host = std::string(text);
    return addr;
  }
  if (colon == 0 || !parse_port(text.substr(colon + 1), addr.port)) return std::nullopt;
  addr.host = std::string(text.substr(0, colon));
  return addr;
}

std::string format_server_address(const ServerAddress& address) {
  std::string out;
  if (address.host.find(':') != std::string::npos) {
    out = "[" + address.host + "]";
  } else {
    out = address.host;
  }
  out += ":" + std::to_string(address.port);
  return out;
}

}  // namespace rstmdb::client
