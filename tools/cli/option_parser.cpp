#include "tools/cli/option_parser.hpp"

#include <algorithm>

namespace rstmdb::cli {
namespace {

constexpr std::string_view kProgram = "rstmdb-cli";

std::string usage_line(const CommandSpec& s) {
  std::string u = "Usage: " + std::string(kProgram);
  if (s.name.empty()) return u + " [OPTIONS] [COMMAND]";
  u += " " + std::string(s.name);
  bool optional_options = false;
  for (const auto& o : s.options)
    if (!o.required) optional_options = true;
  if (optional_options) u += " [OPTIONS]";
  for (const auto& o : s.options)
    if (o.required) u += " " + long_label(o);
  for (const auto& p : s.positionals)
    u += p.required ? " <" + std::string(p.name) + ">" : " [" + std::string(p.name) + "]";
  return u;
}

const OptionSpec* find_long(const CommandSpec& spec, std::string_view name) {
  for (const auto& o : spec.options)
    if (o.long_name == name) return &o;
  return nullptr;
}

const OptionSpec* find_short(const CommandSpec& spec, char c) {
  for (const auto& o : spec.options)
    if (o.short_name == c) return &o;
  return nullptr;
}

}  // namespace

std::optional<std::string> ParsedArgs::get(std::string_view name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::list(std::string_view name) const {
  std::vector<std::string> out;
  auto it = values.find(name);
  if (it == values.end()) return out;
  for (const std::string& v : it->second) {
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = v.find(',', start);
      out.push_back(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

std::string option_label(const OptionSpec& o) {
  std::string label = o.short_name != 0 ? std::string("-") + o.short_name + ", " : std::string("    ");
  return label + long_label(o);
}

std::string long_label(const OptionSpec& o) {
  std::string label = "--" + std::string(o.long_name);
  if (!o.value_name.empty()) label += " <" + std::string(o.value_name) + ">";
  return label;
}

void append_table(std::string& out, const std::vector<std::pair<std::string, std::string>>& rows) {
  std::size_t width = 0;
  for (const auto& [left, right] : rows)
    width = std::max(width, left.size());
  for (const auto& [left, right] : rows) {
    out += "  " + left;
    out += std::string(width - left.size() + 2, ' ');
    out += right + "\n";
  }
}

std::string command_help(const CommandSpec& s) {
  std::string out = std::string(s.summary) + "\n\n" + usage_line(s) + "\n";
  if (!s.positionals.empty()) {
    out += "\nArguments:\n";
    std::vector<std::pair<std::string, std::string>> rows;
    for (const auto& p : s.positionals)
      rows.emplace_back((p.required ? "<" : "[") + std::string(p.name) + (p.required ? ">" : "]"),
                        std::string(p.help));
    append_table(out, rows);
  }
  out += "\nOptions:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& o : s.options)
    rows.emplace_back(option_label(o), std::string(o.help));
  rows.emplace_back("    --json", "Print the result as one JSON line");
  rows.emplace_back("-h, --help", "Print help");
  append_table(out, rows);
  return out;
}

UsageError usage_error(const std::string& message, const CommandSpec& spec) {
  std::string text = "error: " + message + "\n\n" + usage_line(spec) + "\n\nFor more information, try '";
  text += spec.name.empty() ? std::string("--help")
                            : std::string(kProgram) + " " + std::string(spec.name) + " --help";
  text += "'.\n";
  return UsageError{text};
}

std::variant<ParsedArgs, UsageError> parse_options(const CommandSpec& spec, std::span<const std::string> args,
                                                   ParseMode mode) {
  ParsedArgs parsed;
  bool options_ended = false;
  auto take = [&](const OptionSpec& o, std::string value) -> std::optional<UsageError> {
    auto& slot = parsed.values[o.long_name];
    if (!slot.empty() && !o.repeatable) {
      return usage_error("the argument '" + long_label(o) + "' cannot be used multiple times", spec);
    }
    slot.push_back(std::move(value));
    return std::nullopt;
  };
  auto missing_value = [&](const OptionSpec& o) {
    return usage_error("a value is required for '" + long_label(o) + "' but none was supplied", spec);
  };
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_ended || a.size() < 2 || a[0] != '-') {
      if (mode.stop_at_positional) break;
      parsed.positionals.push_back(a);
      continue;
    }
    if (a == "--") {
      options_ended = true;
      if (mode.stop_at_positional) {
        ++i;
        break;
      }
      continue;
    }
    if (a == "--help" || a == "-h") {
      parsed.help = true;
      parsed.consumed = i + 1;
      return parsed;
    }
    if (mode.take_json && a == "--json") {
      parsed.json = true;
      continue;
    }
    if (a[1] == '-') {
      const std::string body = a.substr(2);
      const std::size_t eq = body.find('=');
      const OptionSpec* found = find_long(spec, body.substr(0, eq));
      if (found == nullptr) return usage_error("unexpected argument '" + a + "' found", spec);
      if (found->value_name.empty()) {
        if (eq != std::string::npos) return usage_error("'" + long_label(*found) + "' takes no value", spec);
        if (auto e = take(*found, "")) return *e;
      } else if (eq != std::string::npos) {
        if (auto e = take(*found, body.substr(eq + 1))) return *e;
      } else if (i + 1 < args.size()) {
        if (auto e = take(*found, args[++i])) return *e;
      } else {
        return missing_value(*found);
      }
      continue;
    }
    // Short options, possibly clustered: -kv, -fl5 (-f takes "l5"), -n order.
    for (std::size_t k = 1; k < a.size(); ++k) {
      if (a[k] == 'h' && find_short(spec, 'h') == nullptr) {
        parsed.help = true;
        parsed.consumed = i + 1;
        return parsed;
      }
      const OptionSpec* found = find_short(spec, a[k]);
      if (found == nullptr)
        return usage_error("unexpected argument '-" + std::string(1, a[k]) + "' found", spec);
      if (found->value_name.empty()) {
        if (auto e = take(*found, "")) return *e;
        continue;
      }
      if (k + 1 < a.size()) {
        if (auto e = take(*found, a.substr(k + 1))) return *e;
      } else if (i + 1 < args.size()) {
        if (auto e = take(*found, args[++i])) return *e;
      } else {
        return missing_value(*found);
      }
      break;
    }
  }
  parsed.consumed = i;
  for (const auto& o : spec.options) {
    if (o.required && !parsed.has(o.long_name)) {
      return usage_error("the following required arguments were not provided: " + long_label(o), spec);
    }
  }
  std::size_t required = 0;
  for (const auto& p : spec.positionals)
    if (p.required) ++required;
  if (parsed.positionals.size() < required) {
    const auto& missing = spec.positionals[parsed.positionals.size()];
    return usage_error(
        "the following required arguments were not provided: <" + std::string(missing.name) + ">", spec);
  }
  if (parsed.positionals.size() > spec.positionals.size()) {
    return usage_error("unexpected argument '" + parsed.positionals[spec.positionals.size()] + "' found",
                       spec);
  }
  return parsed;
}

}  // namespace rstmdb::cli
