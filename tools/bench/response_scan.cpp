#include "tools/bench/response_scan.hpp"

#include <cstddef>

namespace rstmdb::bench {
namespace {

// Nesting beyond this is refused; responses never come close (protocol.md §4: 128).
constexpr int kMaxDepth = 256;

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  void skip_ws() noexcept {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  bool consume(char c) noexcept {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool peek(char c) noexcept {
    skip_ws();
    return pos_ < s_.size() && s_[pos_] == c;
  }

  // At an opening quote: reads the raw string contents and moves past the closing quote.
  bool string(std::string_view& out) noexcept {
    if (!consume('"')) return false;
    const std::size_t start = pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '\\') {
        pos_ += 2;
        continue;
      }
      if (c == '"') {
        out = s_.substr(start, pos_ - start);
        ++pos_;
        return true;
      }
      ++pos_;
    }
    return false;
  }

  // Skips one value of any kind.
  bool skip_value() noexcept {
    skip_ws();
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '"') {
      std::string_view ignored;
      return string(ignored);
    }
    if (c == '{' || c == '[') return skip_container();
    // Number or literal: runs until a delimiter.
    const std::size_t start = pos_;
    while (pos_ < s_.size()) {
      const char d = s_[pos_];
      if (d == ',' || d == '}' || d == ']' || d == ' ' || d == '\t' || d == '\n' || d == '\r') break;
      ++pos_;
    }
    return pos_ > start;
  }

 private:
  // Brackets are matched by depth only; strings are skipped so their contents do not count.
  bool skip_container() noexcept {
    int depth = 0;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '"') {
        std::string_view ignored;
        if (!string(ignored)) return false;
        continue;
      }
      ++pos_;
      if (c == '{' || c == '[') {
        if (++depth > kMaxDepth) return false;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return true;
      }
    }
    return false;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// Reads the members of the object at the scanner position; `on_member(key)` consumes the
// value and returns false on malformed input, or sets `stop` to end the scan early.
template <typename OnMember>
bool scan_object(Scanner& sc, bool& stop, OnMember&& on_member) noexcept {
  if (!sc.consume('{')) return false;
  if (sc.consume('}')) return true;
  while (true) {
    std::string_view key;
    if (!sc.string(key) || !sc.consume(':')) return false;
    if (!on_member(key)) return false;
    if (stop) return true;
    if (sc.consume(',')) continue;
    return sc.consume('}');
  }
}

}  // namespace

bool scan_response(std::string_view json, ResponseSummary& out) noexcept {
  out = ResponseSummary{};
  Scanner sc(json);
  bool stop = false;
  const auto read_string_or_skip = [&sc](std::string_view& dst, bool& flag) {
    if (sc.peek('"')) {
      flag = true;
      return sc.string(dst);
    }
    return sc.skip_value();
  };
  return scan_object(sc, stop, [&](std::string_view key) {
    bool ok_value = true;
    if (key == "type") {
      bool seen = false;
      ok_value = read_string_or_skip(out.type, seen);
      if (ok_value && !out.is_response()) stop = true;  // an event or an end message
    } else if (key == "id") {
      ok_value = read_string_or_skip(out.id, out.has_id);
    } else if (key == "status") {
      ok_value = read_string_or_skip(out.status, out.has_status);
    } else if (key == "error" && sc.peek('{')) {
      bool never_stop = false;  // walk the whole error object so the outer scan can go on
      ok_value = scan_object(sc, never_stop, [&](std::string_view inner) {
        if (inner == "code" && sc.peek('"')) return sc.string(out.error_code);
        return sc.skip_value();
      });
    } else {
      ok_value = sc.skip_value();
    }
    if (ok_value && out.has_id && out.has_status && (out.ok() || !out.error_code.empty())) stop = true;
    return ok_value;
  });
}

}  // namespace rstmdb::bench
