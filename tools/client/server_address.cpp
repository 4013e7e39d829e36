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

}  // namespace

std::optional<ServerAddress> parse_server_address(std::string_view text) {
  ServerAddress addr;
  if (text.empty()) return std::nullopt;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    addr.host = std::string(text.substr(1, close - 1));
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
