// A small option parser with clap's conventions (what upstream's CLI was built with), for
// rstmdb-cli's global options, its subcommands, and REPL lines:
//   `--long VALUE`, `--long=VALUE`, `-s VALUE`, `-sVALUE`, clustered flags (`-kv`), `--` ends
//   options, a lone `-` is a positional; repeatable options accumulate and split at ','.
// Errors read like clap's ("error: unexpected argument '--frob' found", then the usage line).
// Pure: no I/O.
#pragma once

#include <charconv>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rstmdb::cli {

// Exit statuses (runtime.md §2.2): 0 ok, 1 any error, 2 usage.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// --help, `help [COMMAND]` or --version: print `text` to stdout and exit 0.
struct InfoText {
  std::string text;
};

// Print `message` to stderr and exit with `exit_code` (2, or 1 for the bad TLS option pairs
// that upstream reports with 1).
struct UsageError {
  std::string message;
  int exit_code = kExitUsage;
};

struct OptionSpec {
  std::string_view long_name;
  char short_name = 0;          // 0: none
  std::string_view value_name;  // empty: a flag without value
  std::string_view help;
  bool required = false;
  bool repeatable = false;  // values accumulate (and split at ','), as clap's value_delimiter
};

struct PositionalSpec {
  std::string_view name;
  std::string_view help;
  bool required = true;
};

// One command's arguments. An empty `name` is the program itself (its global options).
struct CommandSpec {
  std::string_view name;
  std::string_view summary;
  std::vector<OptionSpec> options;
  std::vector<PositionalSpec> positionals;
};

struct ParsedArgs {
  std::map<std::string_view, std::vector<std::string>> values;  // by long name; flags hold ""
  std::vector<std::string> positionals;
  bool help = false;         // -h/--help was given (parsing stopped there)
  bool json = false;         // --json was given (when the parser was asked to take it)
  std::size_t consumed = 0;  // arguments used (with stop_at_positional: the index of the first positional)

  bool has(std::string_view name) const { return values.count(name) > 0; }
  std::optional<std::string> get(std::string_view name) const;
  // Every value of a repeatable option, split at ','.
  std::vector<std::string> list(std::string_view name) const;
};

struct ParseMode {
  bool take_json = false;           // accept --json (not in the spec) and report it
  bool stop_at_positional = false;  // stop before the first positional (the subcommand)
};

// Parses `args` against `spec`: unknown options, missing values, repeated single options,
// missing required options and positionals, and surplus positionals are usage errors.
std::variant<ParsedArgs, UsageError> parse_options(const CommandSpec& spec, std::span<const std::string> args,
                                                   ParseMode mode = {});

// "error: <message>", a blank line, the command's usage line and a pointer to --help.
UsageError usage_error(const std::string& message, const CommandSpec& spec);
// "--name <NAME>" (as clap names an option in errors).
std::string long_label(const OptionSpec& o);
// The command's help: summary, usage line, arguments and options tables.
std::string command_help(const CommandSpec& spec);
// Two-column rows, aligned, each line indented by two spaces.
void append_table(std::string& out, const std::vector<std::pair<std::string, std::string>>& rows);
std::string option_label(const OptionSpec& o);  // "-n, --name <NAME>" / "    --state <STATE>"

template <typename Int>
bool parse_integer(std::string_view text, Int& out) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace rstmdb::cli
