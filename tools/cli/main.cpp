// rstmdb-cli: one-shot commands and the REPL (runtime.md §2.2). See docs/cli.md.
#include "tools/cli/command_line.hpp"
#include "tools/cli/executor.hpp"
#include "tools/cli/output.hpp"
#include "tools/cli/repl.hpp"
#include "tools/client/connection.hpp"

#include <unistd.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace rstmdb::cli;
namespace client = rstmdb::client;

// Colour as upstream's `colored` crate decides it: NO_COLOR off, CLICOLOR_FORCE on, else only
// for a terminal that is not "dumb".
bool use_color(int fd) {
  if (const char* v = std::getenv("NO_COLOR"); v != nullptr && *v != '\0') return false;
  if (const char* v = std::getenv("CLICOLOR_FORCE"); v != nullptr && *v != '\0' && std::string(v) != "0") {
    return true;
  }
  const char* term = std::getenv("TERM");
  return ::isatty(fd) == 1 && (term == nullptr || std::string(term) != "dumb");
}

void print(std::FILE* f, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), f);
  std::fflush(f);
}

client::Connection::Trace trace_for(const GlobalOptions& options) {
  if (!options.verbose) return {};
  return [](std::string_view line) { print(stderr, "rstmdb-cli: " + std::string(line) + "\n"); };
}

int run(const Invocation& inv) {
  const bool json = inv.global.json;
  Output out(json, Style(!json && use_color(STDOUT_FILENO)), Style(!json && use_color(STDERR_FILENO)));
  if (std::holds_alternative<ReplCommand>(inv.command)) {
    return run_repl(inv.global, out, ::isatty(STDIN_FILENO) == 1);
  }
  client::Connection connection(inv.global.connection, trace_for(inv.global));
  if (!std::holds_alternative<HashTokenCommand>(inv.command)) {  // hash-token works offline
    try {
      connection.open();
    } catch (const client::ClientError& e) {
      if (e.kind() == client::ClientError::Kind::Server && json) {
        rstmdb::protocol::ResponseMessage r;
        r.error = e.server_error();
        out.server_error(r);
      } else {
        out.error(client::client_error_code(e.kind()), e.what(), "Connection failed");
      }
      return kExitFailure;
    }
  }
  Executor executor(connection, out);
  const Outcome outcome = executor.run(inv.command);
  connection.close();
  return outcome == Outcome::Ok ? kExitOk : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  std::setlocale(LC_CTYPE, "");  // multibyte input at the REPL prompt
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = parse_command_line(args, [](const char* name) { return std::getenv(name); });
  if (auto* info = std::get_if<InfoText>(&parsed)) {
    print(stdout, info->text);
    return kExitOk;
  }
  if (auto* err = std::get_if<UsageError>(&parsed)) {
    print(stderr, err->message);
    return err->exit_code;
  }
  return run(std::get<Invocation>(parsed));
}
