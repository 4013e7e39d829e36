// ANSI colours of the human output, as upstream's CLI uses them (green success, cyan names,
// yellow states and warnings, red errors, bold headings, dimmed hints). Off unless the stream
// is a terminal; NO_COLOR turns it off, CLICOLOR_FORCE on (decided in main.cpp).
#pragma once

#include <string>
#include <string_view>

namespace rstmdb::cli {

class Style {
 public:
  explicit Style(bool color = false) : color_(color) {}

  bool color() const noexcept { return color_; }
  std::string green(std::string_view s) const { return wrap("32", s); }
  std::string cyan(std::string_view s) const { return wrap("36", s); }
  std::string yellow(std::string_view s) const { return wrap("33", s); }
  std::string red(std::string_view s) const { return wrap("31", s); }
  std::string bold(std::string_view s) const { return wrap("1", s); }
  std::string dimmed(std::string_view s) const { return wrap("2", s); }

 private:
  std::string wrap(std::string_view code, std::string_view s) const {
    if (!color_) return std::string(s);
    std::string out = "\x1b[";
    out += code;
    out += 'm';
    out += s;
    out += "\x1b[0m";
    return out;
  }

  bool color_;
};

}  // namespace rstmdb::cli
