#include "server/batch_errors.hpp"

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

}  // namespace rstmdb::server
