#include "server/batch_errors.hpp"

#include <charconv>

namespace rstmdb::server {

namespace {

constexpr std::string_view kResultsStart = "{\"results\":[";
constexpr std::string_view kErrorElement = "{\"status\":\"error\",\"error\":{\"code\":\"";

// The position just past the JSON string that starts at `pos` (a '"'), or npos.
std::size_t skip_string(std::string_view s, std::size_t pos) {
  for (std::size_t i = pos + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// The position just past the object or array that starts at `pos`, or npos.
std::size_t skip_container(std::string_view s, std::size_t pos) {
  std::size_t depth = 0;
  for (std::size_t i = pos; i < s.size();) {
    const char c = s[i];
    if (c == '"') {
      i = skip_string(s, i);
      if (i == std::string_view::npos) return i;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      if (depth == 0) return std::string_view::npos;
      if (--depth == 0) return i + 1;
    }
    ++i;
  }
  return std::string_view::npos;
}

}  // namespace

void for_each_batch_element_error(std::string_view s,
                                  const std::function<void(protocol::ErrorCode)>& on_error) {
  if (!s.starts_with(kResultsStart)) return;
  std::size_t pos = kResultsStart.size();
  while (pos < s.size() && s[pos] == '{') {
    if (s.substr(pos, kErrorElement.size()) == kErrorElement) {
      const std::size_t code_start = pos + kErrorElement.size();
      const std::size_t code_end = s.find('"', code_start);
      if (code_end == std::string_view::npos) return;
      if (auto code = protocol::parse_error_code(s.substr(code_start, code_end - code_start)))
        on_error(*code);
    }
    pos = skip_container(s, pos);
    if (pos == std::string_view::npos || pos >= s.size() || s[pos] != ',') return;
    ++pos;
  }
}

std::optional<std::uint64_t> top_level_uint(std::string_view s, std::string_view key) {
  if (s.empty() || s.front() != '{') return std::nullopt;
  std::size_t pos = 1;
  while (pos < s.size() && s[pos] == '"') {
    const std::size_t key_end = skip_string(s, pos);
    if (key_end == std::string_view::npos || key_end >= s.size() || s[key_end] != ':') return std::nullopt;
    const std::string_view name = s.substr(pos + 1, key_end - pos - 2);
    std::size_t value = key_end + 1;
    if (value >= s.size()) return std::nullopt;
    if (name == key) {
      std::uint64_t v = 0;
      auto [end, ec] = std::from_chars(s.data() + value, s.data() + s.size(), v);
      if (ec != std::errc() || end == s.data() + value || (*end != ',' && *end != '}')) return std::nullopt;
      return v;
    }
    // Skip the value: a string, an object or array, or a scalar up to the next ',' or '}'.
    if (s[value] == '"') {
      value = skip_string(s, value);
    } else if (s[value] == '{' || s[value] == '[') {
      value = skip_container(s, value);
    } else {
      value = s.find_first_of(",}", value);
    }
    if (value == std::string_view::npos || value >= s.size() || s[value] != ',') return std::nullopt;
    pos = value + 1;
  }
  return std::nullopt;
}

}  // namespace rstmdb::server
