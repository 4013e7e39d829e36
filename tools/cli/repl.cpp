#include "tools/cli/repl.hpp"

#include "tools/cli/executor.hpp"
#include "tools/cli/line_source.hpp"
#include "tools/cli/repl_commands.hpp"
#include "tools/client/connection.hpp"

#include <cstdio>
#include <cstdlib>

namespace rstmdb::cli {
namespace {

constexpr const char* kPrompt = "rstmdb> ";
constexpr const char* kHistoryFile = ".rstmdb_history";

std::optional<std::string> history_path() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return std::nullopt;  // no guessing where to write
  return std::string(home) + "/" + kHistoryFile;
}

void trim(std::string& s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) {
    s.clear();
    return;
  }
  const std::size_t e = s.find_last_not_of(" \t");
  s = s.substr(b, e - b + 1);
}

client::Connection::Trace trace_for(const GlobalOptions& options) {
  if (!options.verbose) return {};
  return [](std::string_view line) {
    std::string s = "rstmdb-cli: ";
    s += line;
    s += "\n";
    std::fwrite(s.data(), 1, s.size(), stderr);
  };
}

}  // namespace

int run_repl(const GlobalOptions& options, Output& out, bool interactive) {
  const Style& s = out.style();
  const std::string address = client::format_server_address(options.connection.server);
  client::Connection connection(options.connection, trace_for(options));
  if (interactive) {
    out.line(s.bold(s.cyan("rstmdb CLI")));
    out.line("Connecting to " + address + "...");
  }
  try {
    connection.open();
  } catch (const client::ClientError& e) {
    if (e.kind() == client::ClientError::Kind::Server && out.json()) {
      protocol::ResponseMessage r;
      r.error = e.server_error();
      out.server_error(r);
    } else {
      out.error(client::client_error_code(e.kind()), e.what(), "Connection failed");
    }
    return kExitFailure;
  }

  std::unique_ptr<LineSource> source;
  if (interactive) {
    out.line(s.green("Connected!"));
    out.line("Type 'help' for available commands.\n");
    source = make_terminal_source(kPrompt, history_path(), repl_command_words());
  } else {
    source = make_stream_source();
  }

  Executor executor(connection, out);
  const bool json_default = out.json();
  bool any_failed = false;
  std::string line;
  while (true) {
    const LineSource::Status status = source->read(line);
    if (status == LineSource::Status::Eof) {
      if (interactive) out.line("");  // libedit has echoed the ^D
      break;
    }
    if (status == LineSource::Status::Interrupted) {
      out.line("^C");
      continue;
    }
    bool failed = false;
    if (status == LineSource::Status::TooLong) {
      out.error("INVALID_ARGUMENT",
                "input line longer than " + std::to_string(kMaxInputLineBytes) + " bytes");
      failed = true;
    } else {
      const bool keep = keep_in_history(line);
      trim(line);
      if (line.empty()) continue;
      if (keep) source->remember(line);

      const ReplAction action = parse_repl_line(line);
      if (std::holds_alternative<ReplEmpty>(action)) continue;
      if (std::holds_alternative<ReplQuit>(action)) break;
      if (std::holds_alternative<ReplHelp>(action)) {
        out.line(repl_help_text());
      } else if (std::holds_alternative<ReplReconnect>(action)) {
        out.line("Closing existing connection...");
        connection.close();
        out.line("Reconnecting to " + address + "...");
        try {
          connection.open();
          out.line(s.green("Reconnected!") + (interactive ? "\n" : ""));
        } catch (const client::ClientError& e) {
          out.error(client::client_error_code(e.kind()), e.what(), "Reconnect failed");
          failed = true;
        }
      } else if (const auto* message = std::get_if<ReplMessage>(&action)) {
        if (message->failed) {
          out.error_text(kErrUsage, message->text);
          failed = true;
        } else {
          out.line(message->text);
        }
      } else if (const auto* run = std::get_if<ReplRun>(&action)) {
        // Closed while we waited for input (the server's idle timeout, a restart): nothing is
        // in flight, so reopening before the command is safe.
        const bool offline = std::holds_alternative<HashTokenCommand>(run->command);
        if (!offline && (connection.peer_closed() || !connection.is_open())) {
          out.note(out.err_style().dimmed("Connection closed; reconnecting to " + address + "..."));
          try {
            connection.open();
          } catch (const client::ClientError& e) {
            out.error(client::client_error_code(e.kind()), e.what(), "Reconnect failed");
            failed = true;
          }
        }
        if (!failed) {
          out.set_json(json_default || run->json);
          // On a terminal, Ctrl+C during a command abandons it (and the connection, which the
          // next command reopens) instead of ending the REPL.
          if (interactive) {
            connection.catch_interrupts(true);
            connection.set_call_interrupts(client::Connection::CallInterrupts::Abort);
          }
          const Outcome outcome = executor.run(run->command, run->form);
          if (interactive) {
            connection.set_call_interrupts(client::Connection::CallInterrupts::Defer);
            connection.catch_interrupts(false);
          }
          out.set_json(json_default);
          if (outcome == Outcome::ConnectionLost && interactive) {
            out.note(out.err_style().yellow("Hint: Use 'reconnect' command to reconnect to the server."));
          }
          failed = outcome != Outcome::Ok;
        }
      }
      if (interactive && !out.json()) out.line("");
    }
    if (failed) {
      any_failed = true;
      if (!interactive) break;  // a script stops at its first error
    }
  }
  connection.close();
  if (interactive) out.line(s.dimmed("Disconnected."));
  return !interactive && any_failed ? kExitFailure : kExitOk;
}

}  // namespace rstmdb::cli
