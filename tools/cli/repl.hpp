// The interactive REPL (runtime.md §2.2): `rstmdb-cli` without a subcommand.
//
// On a terminal: banner, prompt "rstmdb> ", libedit line editing, history in
// $HOME/.rstmdb_history (1000 lines; lines starting with a space and hash-token lines are
// not kept), tab completion of command names; errors are reported and the REPL goes on.
// From a pipe or file: no banner and no prompt, one command per line; the first failing
// command ends the REPL with exit status 1.
#pragma once

#include "tools/cli/command_line.hpp"
#include "tools/cli/output.hpp"

namespace rstmdb::cli {

// `interactive`: stdin is a terminal. Returns the exit status.
int run_repl(const GlobalOptions& options, Output& output, bool interactive);

}  // namespace rstmdb::cli
