// The REPL's command language (runtime.md §2.2): upstream's REPL commands and aliases
//   help ?  quit exit q  reconnect rc  ping  info  put-machine pm  get-machine gm
//   list-machines lm  create c  get g  list-instances li  delete d  apply a  wal  wal-stats ws
// with upstream's positional arguments, plus `watch ID`, plus every one-shot subcommand with
// its options (`create-instance -m order -V 1`). Where a name has both forms (put-machine,
// get-machine, list-instances), a first argument starting with '-' selects the options form.
// Lines are split into words by split_shell_words(). Pure: no I/O.
#pragma once

#include "tools/cli/commands.hpp"
#include "tools/cli/executor.hpp"

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rstmdb::cli {

struct ReplHelp {};
struct ReplQuit {};
struct ReplReconnect {};
struct ReplRun {
  Command command;
  Form form = Form::Repl;
  bool json = false;  // --json on this line
};
// Text to show instead of running anything: a usage line, "Unknown command", a parse error,
// a subcommand's --help. `failed` marks it as an error (it counts for the exit status).
struct ReplMessage {
  std::string text;
  bool failed = true;
};
struct ReplEmpty {};

using ReplAction = std::variant<ReplEmpty, ReplHelp, ReplQuit, ReplReconnect, ReplRun, ReplMessage>;

ReplAction parse_repl_line(std::string_view line);

// Lines that must not be written to the history file: those starting with a space (as
// upstream, via rustyline's history_ignore_space) and those carrying a token (hash-token).
bool keep_in_history(std::string_view line);

// Words tab completion offers for the first word: REPL commands, aliases and subcommands.
std::vector<std::string> repl_command_words();

std::string repl_help_text();

}  // namespace rstmdb::cli
