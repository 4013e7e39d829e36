#include "tools/cli/json_pretty.hpp"

#include "protocol/json_text.hpp"

namespace rstmdb::cli {
namespace json = boost::json;

namespace {

void indent(std::string& out, int depth) {
  out.append(static_cast<std::size_t>(depth) * 2, ' ');
}

// Recursion depth is bounded by the input: every document the CLI prints was parsed with
// protocol::parse_json, which refuses nesting deeper than kMaxJsonDepth.
void append_pretty(std::string& out, const json::value& v, int depth) {
  if (const json::object* o = v.if_object()) {
    if (o->empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (const auto& member : *o) {
      if (!first) out += ",\n";
      first = false;
      indent(out, depth + 1);
      protocol::append_json_string(out, member.key());
      out += ": ";
      append_pretty(out, member.value(), depth + 1);
    }
    out += "\n";
    indent(out, depth);
    out += "}";
    return;
  }
  if (const json::array* a = v.if_array()) {
    if (a->empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    bool first = true;
    for (const auto& element : *a) {
      if (!first) out += ",\n";
      first = false;
      indent(out, depth + 1);
      append_pretty(out, element, depth + 1);
    }
    out += "\n";
    indent(out, depth);
    out += "]";
    return;
  }
  protocol::append_json(out, v);
}

}  // namespace

std::string pretty_json(const json::value& v) {
  std::string out;
  append_pretty(out, v, 0);
  return out;
}

}  // namespace rstmdb::cli
