#include "tools/bench/response_scan.hpp"

#include <charconv>
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

  // An unsigned decimal integer (no sign, fraction or exponent).
  bool unsigned_integer(std::uint64_t& out) noexcept {
    skip_ws();
    const char* first = s_.data() + pos_;
    const char* last = s_.data() + s_.size();
    const auto [ptr, ec] = std::from_chars(first, last, out);
    if (ec != std::errc() || ptr == first) return false;
    if (ptr != last && (*ptr == '.' || *ptr == 'e' || *ptr == 'E')) return false;
    pos_ += static_cast<std::size_t>(ptr - first);
    return true;
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

bool scan_result_offset(std::string_view json, std::uint64_t& offset) noexcept {
  Scanner sc(json);
  bool stop = false;
  bool found = false;
  const bool ok = scan_object(sc, stop, [&](std::string_view key) {
    if (key != "result" || !sc.peek('{')) return sc.skip_value();
    bool inner_stop = false;
    const bool inner_ok = scan_object(sc, inner_stop, [&](std::string_view inner) {
      if (inner != "wal_offset") return sc.skip_value();
      if (!sc.unsigned_integer(offset)) return false;
      found = inner_stop = true;
      return true;
    });
    stop = true;
    return inner_ok;
  });
  return ok && found;
}

bool scan_event(std::string_view json, EventSummary& out) noexcept {
  out = EventSummary{};
  Scanner sc(json);
  bool stop = false;
  const auto read_string = [&sc](std::string_view& dst) {
    return sc.peek('"') ? sc.string(dst) : sc.skip_value();
  };
  return scan_object(sc, stop, [&](std::string_view key) {
    bool ok_value = true;
    if (key == "type") {
      ok_value = read_string(out.type);
    } else if (key == "subscription_id") {
      ok_value = read_string(out.subscription_id);
    } else if (key == "instance_id") {
      ok_value = read_string(out.instance_id);
    } else if (key == "reason") {
      ok_value = read_string(out.reason);
    } else if (key == "wal_offset") {
      ok_value = sc.unsigned_integer(out.wal_offset);
      out.has_wal_offset = ok_value;
    } else {
      ok_value = sc.skip_value();
    }
    if (ok_value && out.type == "event" && !out.instance_id.empty() && out.has_wal_offset &&
        !out.subscription_id.empty())
      stop = true;
    return ok_value;
  });
}

}  // namespace rstmdb::bench
