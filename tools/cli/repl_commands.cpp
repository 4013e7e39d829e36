#include "tools/cli/repl_commands.hpp"

#include "tools/cli/command_line.hpp"
#include "tools/cli/shell_words.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>

namespace rstmdb::cli {
namespace {

// upstream repl.rs lists 50 instances at a time.
constexpr std::uint32_t kReplListLimit = 50;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string join(const std::vector<std::string>& words, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < words.size(); ++i) {
    if (i > from) out += ' ';
    out += words[i];
  }
  return out;
}

template <typename Int>
bool parse_int(const std::string& s, Int& out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

ReplMessage usage(std::string text) {
  return ReplMessage{"Usage: " + std::move(text), true};
}

ReplMessage bad_number(std::string_view what, const std::string& value, std::uint64_t max) {
  return ReplMessage{"Error: invalid " + std::string(what) + " '" + value +
                         "': expected an integer from 0 to " + std::to_string(max),
                     true};
}

// The options form: the one-shot parser on the words after the name.
ReplAction subcommand(const std::string& name, const std::vector<std::string>& words, bool json) {
  auto parsed = parse_subcommand(name, std::span<const std::string>(words).subspan(1), json);
  if (auto* info = std::get_if<InfoText>(&parsed)) return ReplMessage{info->text, false};
  if (auto* err = std::get_if<UsageError>(&parsed)) {
    std::string text = err->message;
    while (!text.empty() && text.back() == '\n')
      text.pop_back();
    return ReplMessage{text, true};
  }
  Command command = std::get<Command>(std::move(parsed));
  if (std::holds_alternative<ReplCommand>(command)) return ReplMessage{"Error: already in the REPL", true};
  return ReplRun{std::move(command), Form::OneShot, json};
}

bool options_form(const std::vector<std::string>& words) {
  return words.size() > 1 && words[1].size() > 1 && words[1][0] == '-';
}

}  // namespace

ReplAction parse_repl_line(std::string_view line) {
  auto split = split_shell_words(line);
  if (auto* e = std::get_if<ShellWordsError>(&split)) return ReplMessage{"Error: " + e->message, true};
  std::vector<std::string> words = std::get<std::vector<std::string>>(std::move(split));
  if (words.empty()) return ReplEmpty{};
  // --json anywhere on the line: this command's result as JSON.
  const auto json_flags = std::remove(words.begin() + 1, words.end(), std::string("--json"));
  const bool json = json_flags != words.end();
  words.erase(json_flags, words.end());
  const std::string cmd = lower(words[0]);
  const std::size_t argc = words.size() - 1;
  auto run = [&](Command c) -> ReplAction { return ReplRun{std::move(c), Form::Repl, json}; };

  if (cmd == "help" || cmd == "?") {
    if (argc >= 1 && is_subcommand(words[1])) return ReplMessage{subcommand_help(words[1]), false};
    return ReplHelp{};
  }
  if (cmd == "quit" || cmd == "exit" || cmd == "q") return ReplQuit{};
  if (cmd == "reconnect" || cmd == "rc") return ReplReconnect{};
  if (cmd == "ping") return run(PingCommand{});
  if (cmd == "info") return run(InfoCommand{});

  if ((cmd == "put-machine" && !options_form(words)) || cmd == "pm") {
    if (argc < 3) return usage("put-machine <name> <version> <definition_json>");
    PutMachineCommand c;
    c.name = words[1];
    if (!parse_int(words[2], c.version))
      return bad_number("version", words[2], std::numeric_limits<std::uint32_t>::max());
    c.definition = join(words, 3);
    return run(std::move(c));
  }
  if ((cmd == "get-machine" && !options_form(words)) || cmd == "gm") {
    if (argc < 2) return usage("get-machine <name> <version>");
    GetMachineCommand c;
    c.name = words[1];
    std::uint32_t v = 0;
    if (!parse_int(words[2], v))
      return bad_number("version", words[2], std::numeric_limits<std::uint32_t>::max());
    c.version = v;
    return run(std::move(c));
  }
  if ((cmd == "list-machines" && !options_form(words)) || cmd == "lm") return run(ListMachinesCommand{});
  if (cmd == "create" || cmd == "c") {
    if (argc < 2) return usage("create <machine> <version> [instance_id] [ctx_json]");
    CreateInstanceCommand c;
    c.machine = words[1];
    if (!parse_int(words[2], c.version))
      return bad_number("version", words[2], std::numeric_limits<std::uint32_t>::max());
    if (argc >= 3) c.id = words[3];
    if (argc >= 4) c.ctx = join(words, 4);
    return run(std::move(c));
  }
  if (cmd == "get" || cmd == "g") {
    if (argc < 1) return usage("get <instance_id>");
    return run(GetInstanceCommand{words[1]});
  }
  if ((cmd == "list-instances" && !options_form(words)) || cmd == "li") {
    ListInstancesCommand c;
    if (argc >= 1) c.machine = words[1];
    if (argc >= 2) c.state = words[2];
    c.limit = kReplListLimit;
    return run(std::move(c));
  }
  if (cmd == "delete" || cmd == "d") {
    if (argc < 1) return usage("delete <instance_id>");
    return run(DeleteInstanceCommand{words[1], std::nullopt});
  }
  if (cmd == "apply" || cmd == "a") {
    if (argc < 2) return usage("apply <instance_id> <event> [payload_json]");
    ApplyEventCommand c;
    c.instance = words[1];
    c.event = words[2];
    if (argc >= 3) c.payload = join(words, 3);
    return run(std::move(c));
  }
  if (cmd == "wal") {
    WalReadCommand c;
    if (argc >= 1 && !parse_int(words[1], c.from)) {
      return bad_number("offset", words[1], std::numeric_limits<std::uint64_t>::max());
    }
    if (argc >= 2) {
      std::uint32_t limit = 0;
      if (!parse_int(words[2], limit))
        return bad_number("limit", words[2], std::numeric_limits<std::uint32_t>::max());
      c.limit = limit;
    }
    return run(c);
  }
  if ((cmd == "wal-stats" && !options_form(words)) || cmd == "ws") return run(WalStatsCommand{});
  if (cmd == "watch") {
    if (argc < 1) return usage("watch <instance_id> [--no-ctx] [--from-offset N]");
    std::vector<std::string> as_subcommand = words;
    as_subcommand[0] = "watch-instance";
    return subcommand("watch-instance", as_subcommand, json);
  }
  if (is_subcommand(cmd)) return subcommand(cmd, words, json);
  return ReplMessage{"Unknown command: " + cmd + ". Type 'help' for help.", true};
}

bool keep_in_history(std::string_view line) {
  if (line.empty() || line.front() == ' ' || line.front() == '\t') return false;
  auto split = split_shell_words(line);
  if (auto* words = std::get_if<std::vector<std::string>>(&split); words != nullptr && !words->empty()) {
    if (lower((*words)[0]) == "hash-token") return false;
  }
  return true;
}

std::vector<std::string> repl_command_words() {
  std::set<std::string> words = {
      "help",        "quit",  "exit",          "reconnect", "ping",   "info", "put-machine",    "pm",
      "get-machine", "gm",    "list-machines", "lm",        "create", "get",  "list-instances", "li",
      "delete",      "apply", "wal",           "wal-stats", "ws",     "watch"};
  for (std::string_view s : subcommand_names())
    words.emplace(s);
  return {words.begin(), words.end()};
}

std::string repl_help_text() {
  return R"(
Available commands:
  help                          Show this help
  reconnect                     Reconnect to the server
  ping                          Ping the server
  info                          Get server info

  put-machine <name> <ver> <def>  Register a machine definition
  get-machine <name> <ver>        Get a machine definition
  list-machines                   List all machines

  create <machine> <ver> [id]     Create an instance
  get <instance_id>               Get instance state
  list-instances [machine] [state] List instances
  delete <instance_id>            Delete an instance

  apply <instance_id> <event> [payload]  Apply an event

  wal [from] [limit]              Read WAL entries
  wal-stats                       Show WAL statistics

  watch <instance_id>             Stream an instance's events (Ctrl+C stops)

  Every rstmdb-cli subcommand works here too, with its options ('help <command>'):
    create-instance -m order -V 1 -i o-1 -c '{"customer": "alice"}'
    list-instances --state paid --limit 10
  Words are split as a shell does: quote JSON that contains spaces. --json on a line
  prints that command's result as JSON.

  quit, exit                      Exit the REPL
)";
}

}  // namespace rstmdb::cli
