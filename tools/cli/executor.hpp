// Runs commands on an open connection and prints what they produce (through Output): one
// request for most commands; list-machines and get-machine without -v read the machine list
// first; watch-* stream events until Ctrl+C (then UNWATCH) or the subscription ends.
#pragma once

#include "tools/cli/commands.hpp"
#include "tools/cli/output.hpp"
#include "tools/client/connection.hpp"

namespace rstmdb::cli {

enum class Outcome {
  Ok,
  Failed,          // the command failed (server error, bad argument); the connection is fine
  ConnectionLost,  // the connection failed (closed, timeout, TLS, protocol); reconnect first
};

// Which output strings to use: the one-shot subcommand's, or the REPL's shorter ones for the
// upstream REPL commands (pm, gm, lm, c, g, li, d, a, wal).
enum class Form { OneShot, Repl };

class Executor {
 public:
  Executor(client::Connection& connection, Output& output) : connection_(connection), out_(output) {}

  // Any command but repl. Never throws; errors are printed.
  Outcome run(const Command& command, Form form = Form::OneShot);

 private:
  Outcome dispatch(const Command& command, Form form);
  Outcome single(const Command& command, Form form);
  Outcome list_machines(Form form);
  Outcome get_machine(const GetMachineCommand& command, Form form);
  Outcome batch(const BatchCommand& command);
  Outcome hash_token(const HashTokenCommand& command);
  template <typename WatchCommand>
  Outcome watch(const WatchCommand& command);

  client::Connection& connection_;
  Output& out_;
};

}  // namespace rstmdb::cli
