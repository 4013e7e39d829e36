// rstmdb-cli's command line (runtime.md §2.2): global connection options, then a subcommand
// with its own options, as upstream's CLI (clap) takes them:
//
//   rstmdb-cli [GLOBAL OPTIONS] [COMMAND [OPTIONS] [ARGS]]      (no command: the REPL)
//
// Options as option_parser.hpp reads them. Global options go before the command; `--json` is
// also taken after it. Environment (flags win): RSTMDB_SERVER, RSTMDB_TOKEN, RSTMDB_TLS,
// RSTMDB_CA_CERT, RSTMDB_CLIENT_CERT, RSTMDB_CLIENT_KEY, RSTMDB_INSECURE; booleans
// 1/true/yes/on or 0/false/no/off (any case), empty = unset.
//
// Pure: no I/O. The REPL parses its lines with parse_subcommand().
#pragma once

#include "tools/cli/commands.hpp"
#include "tools/cli/option_parser.hpp"
#include "tools/client/connection_options.hpp"

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rstmdb::cli {

struct GlobalOptions {
  client::ConnectionOptions connection;
  bool json = false;     // --json: results as one JSON line, errors as {"error":{...}} on stderr
  bool verbose = false;  // -v: connection and request diagnostics on stderr
};

struct Invocation {
  GlobalOptions global;
  Command command;
};

using EnvLookup = std::function<const char*(const char*)>;

std::variant<Invocation, InfoText, UsageError> parse_command_line(std::span<const std::string> args,
                                                                  const EnvLookup& env);

// A subcommand's own arguments (after its name). `json` is set when `--json` appears.
std::variant<Command, InfoText, UsageError> parse_subcommand(std::string_view name,
                                                             std::span<const std::string> args, bool& json);

// The one-shot command names (for REPL completion and dispatch), `help` included.
std::vector<std::string_view> subcommand_names();
bool is_subcommand(std::string_view name);

std::string main_help();
std::string subcommand_help(std::string_view name);  // "" for an unknown name
std::string version_text();

}  // namespace rstmdb::cli
