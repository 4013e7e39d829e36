#include "config/value_parsers.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <vector>

namespace rstmdb::config {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

constexpr std::size_t kMaxDnsName = 253;
constexpr std::size_t kMaxDnsLabel = 63;

bool valid_ipv4(const std::string& host) {
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool valid_ipv6(std::string_view host) {
  // A zone ("fe80::1%eth0") is legal in a bind address but inet_pton does not take it.
  std::string_view zone;
  if (auto pct = host.find('%'); pct != std::string_view::npos) {
    zone = host.substr(pct + 1);
    host = host.substr(0, pct);
    if (zone.empty() || !std::all_of(zone.begin(), zone.end(), [](char c) {
          return is_alnum(c) || c == '-' || c == '_' || c == '.';
        })) {
      return false;
    }
  }
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(host).c_str(), &addr) == 1;
}

bool valid_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > kMaxDnsName) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > kMaxDnsLabel) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    // Underscores are not valid in host names but do occur in internal DNS; resolution decides.
    if (!std::all_of(label.begin(), label.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_'; })) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

std::optional<std::uint16_t> parse_port(std::string_view text, std::string* problem) {
  auto value = parse_unsigned(text);
  if (!value || *value > 65535) {
    *problem = "port must be 0..65535";
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(*value);
}

}  // namespace

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string double_quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::optional<bool> parse_bool(std::string_view text) {
  const std::string value = to_lower(trim(text));
  if (value == "1" || value == "true" || value == "yes" || value == "on") return true;
  if (value == "0" || value == "false" || value == "no" || value == "off") return false;
  return std::nullopt;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  text = trim(text);
  if (text.empty() || !std::all_of(text.begin(), text.end(), is_digit)) return std::nullopt;
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_signed(std::string_view text) {
  text = trim(text);
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) return std::nullopt;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<HostPort> parse_host_port(std::string_view text, std::string* problem) {
  text = trim(text);
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      *problem = "missing ']' after the IPv6 address";
      return std::nullopt;
    }
    std::string_view host = text.substr(1, close - 1);
    if (!valid_ipv6(host)) {
      *problem = "not a valid IPv6 address inside [...]";
      return std::nullopt;
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      *problem = "expected [v6]:port";
      return std::nullopt;
    }
    out.host = std::string(host);
    out.ipv6 = true;
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *problem = "expected host:port";
      return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.empty()) {
      *problem = "host is empty (use 0.0.0.0 or [::] for all interfaces)";
      return std::nullopt;
    }
    if (host.find(':') != std::string_view::npos) {
      *problem = "IPv6 addresses need brackets, e.g. [::1]:7401";
      return std::nullopt;
    }
    const bool numeric =
        std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
    if (numeric) {
      if (!valid_ipv4(std::string(host))) {
        *problem = "not a valid IPv4 address";
        return std::nullopt;
      }
    } else if (!valid_dns_name(host)) {
      *problem = "host is neither an IP address nor a valid DNS name";
      return std::nullopt;
    }
    out.host = std::string(host);
  }
  auto port = parse_port(port_text, problem);
  if (!port) return std::nullopt;
  out.port = *port;
  return out;
}

std::optional<FsyncPolicy> make_fsync_policy(std::string_view kind, std::string_view number,
                                             std::string* problem) {
  const std::string k = to_lower(trim(kind));
  FsyncPolicy policy;
  std::uint64_t max = 0;
  if (k == "every_n") {
    policy.kind = FsyncPolicy::Kind::EveryN;
    max = kMaxFsyncEveryN;
  } else if (k == "every_ms") {
    policy.kind = FsyncPolicy::Kind::EveryMs;
    max = kMaxFsyncEveryMs;
  } else {
    *problem = "unknown fsync policy";
    return std::nullopt;
  }
  auto n = parse_unsigned(number);
  if (!n || *n < 1 || *n > max) {
    *problem = k + " needs N in 1.." + std::to_string(max);
    return std::nullopt;
  }
  policy.n = *n;
  return policy;
}

std::optional<FsyncPolicy> parse_fsync_policy(std::string_view text, std::string* problem) {
  const std::string value = to_lower(trim(text));
  FsyncPolicy policy;
  // "everywrite" is what upstream's environment parser also took.
  if (value == "every_write" || value == "everywrite") {
    policy.kind = FsyncPolicy::Kind::EveryWrite;
    return policy;
  }
  if (value == "never") {
    policy.kind = FsyncPolicy::Kind::Never;
    return policy;
  }
  const auto colon = value.find(':');
  if (colon != std::string::npos) {
    const std::string kind(trim(std::string_view(value).substr(0, colon)));
    if (kind == "every_n" || kind == "every_ms") {
      return make_fsync_policy(kind, std::string_view(value).substr(colon + 1), problem);
    }
  }
  *problem = "unknown fsync policy";
  return std::nullopt;
}

std::optional<std::string> normalize_token_hash(std::string_view text) {
  text = trim(text);
  constexpr std::size_t kSha256HexDigits = 64;
  if (text.size() != kSha256HexDigits || !std::all_of(text.begin(), text.end(), is_hex)) {
    return std::nullopt;
  }
  return to_lower(text);
}

std::optional<std::string> log_level_from_rust_log(std::string_view text, std::string* problem) {
  static const std::vector<std::string_view> kRustLevels = {"trace", "debug", "info", "warn", "error", "off"};
  auto level_of = [](std::string_view s) -> std::optional<std::string> {
    const std::string l = to_lower(trim(s));
    if (l == "warning") return std::string("warn");
    for (auto level : kRustLevels) {
      if (l == level) return l;
    }
    return std::nullopt;
  };
  std::optional<std::string> default_level;
  std::optional<std::string> ours;
  std::size_t start = 0;
  // env_logger allows a trailing "/regex" filter; it does not change levels.
  text = text.substr(0, text.find('/'));
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view directive = trim(text.substr(start, end - start));
    start = end + 1;
    if (directive.empty()) continue;
    const auto eq = directive.find('=');
    if (eq == std::string_view::npos) {
      if (auto level = level_of(directive)) {
        default_level = level;
      } else if (to_lower(directive).rfind("rstmdb", 0) == 0) {
        ours = "trace";  // env_logger: a bare target enables everything for it
      }
      continue;
    }
    std::string_view target = trim(directive.substr(0, eq));
    // Span filters ("target[span{field=1}]") do not matter for the level.
    target = target.substr(0, target.find('['));
    auto level = level_of(directive.substr(eq + 1));
    if (!level) {
      *problem = "directive has an unknown level";
      return std::nullopt;
    }
    if (to_lower(target).rfind("rstmdb", 0) == 0) ours = level;
  }
  if (ours) return ours;
  return default_level;
}

}  // namespace rstmdb::config
