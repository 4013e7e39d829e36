#include "tools/cli/repl_commands.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace rstmdb::cli;

namespace {

ReplRun run(std::string_view line) {
  ReplAction a = parse_repl_line(line);
  INFO(line);
  if (auto* m = std::get_if<ReplMessage>(&a)) FAIL("unexpected message: " << m->text);
  REQUIRE(std::holds_alternative<ReplRun>(a));
  return std::get<ReplRun>(std::move(a));
}

template <typename T>
T command(std::string_view line, Form form = Form::Repl) {
  ReplRun r = run(line);
  CHECK(r.form == form);
  REQUIRE(std::holds_alternative<T>(r.command));
  return std::get<T>(r.command);
}

ReplMessage message(std::string_view line) {
  ReplAction a = parse_repl_line(line);
  INFO(line);
  REQUIRE(std::holds_alternative<ReplMessage>(a));
  return std::get<ReplMessage>(a);
}

}  // namespace

TEST_CASE("session words and aliases", "[repl]") {
  for (auto w : {"help", "?", "HELP"})
    CHECK(std::holds_alternative<ReplHelp>(parse_repl_line(w)));
  for (auto w : {"quit", "exit", "q", "Quit"})
    CHECK(std::holds_alternative<ReplQuit>(parse_repl_line(w)));
  for (auto w : {"reconnect", "rc"})
    CHECK(std::holds_alternative<ReplReconnect>(parse_repl_line(w)));
  CHECK(std::holds_alternative<ReplEmpty>(parse_repl_line("   ")));
  command<PingCommand>("ping");
  command<InfoCommand>("info");
}

TEST_CASE("upstream positional forms", "[repl]") {
  auto pm = command<PutMachineCommand>(R"(pm order 1 {"states": ["a"], "initial": "a", "transitions": []})");
  CHECK(pm.name == "order");
  CHECK(pm.version == 1);
  CHECK(pm.definition == R"({"states": ["a"], "initial": "a", "transitions": []})");
  // Unquoted JSON split at blanks is joined back, as upstream did.
  CHECK(command<PutMachineCommand>("put-machine m 2 {\"a\":1} ").definition == "{\"a\":1}");
  auto gm = command<GetMachineCommand>("gm order 3");
  CHECK(gm.version == 3u);
  command<ListMachinesCommand>("lm");
  command<ListMachinesCommand>("list-machines");
  auto c = command<CreateInstanceCommand>(R"(c order 1 o-1 {"customer": "alice smith"})");
  CHECK(c.machine == "order");
  CHECK(c.id == "o-1");
  CHECK(c.ctx == R"({"customer": "alice smith"})");
  CHECK_FALSE(command<CreateInstanceCommand>("create order 1").id);
  CHECK(command<GetInstanceCommand>("g o-1").id == "o-1");
  auto li = command<ListInstancesCommand>("li order paid");
  CHECK(li.machine == "order");
  CHECK(li.state == "paid");
  CHECK(li.limit == 50);
  CHECK(command<DeleteInstanceCommand>("d o-1").id == "o-1");
  auto a = command<ApplyEventCommand>(R"(a o-1 PAY {"amount": 5})");
  CHECK(a.instance == "o-1");
  CHECK(a.event == "PAY");
  CHECK(a.payload == R"({"amount": 5})");
  auto w = command<WalReadCommand>("wal 10 5");
  CHECK(w.from == 10);
  CHECK(w.limit == 5u);
  command<WalStatsCommand>("ws");
  command<WalStatsCommand>("wal-stats");
}

TEST_CASE("usage lines and bad numbers are failed messages", "[repl]") {
  CHECK(message("pm order 1").text == "Usage: put-machine <name> <version> <definition_json>");
  CHECK(message("gm order").text == "Usage: get-machine <name> <version>");
  CHECK(message("c order").text == "Usage: create <machine> <version> [instance_id] [ctx_json]");
  CHECK(message("g").text == "Usage: get <instance_id>");
  CHECK(message("d").text == "Usage: delete <instance_id>");
  CHECK(message("a o-1").text == "Usage: apply <instance_id> <event> [payload_json]");
  CHECK(message("gm order x").text.find("invalid version 'x'") != std::string::npos);
  CHECK(message("wal x").failed);
  ReplMessage unknown = message("frob 1");
  CHECK(unknown.failed);
  CHECK(unknown.text == "Unknown command: frob. Type 'help' for help.");
  CHECK(message("g 'unterminated").text == "Error: unterminated single quote");
}

TEST_CASE("one-shot subcommands with options work in the REPL", "[repl]") {
  auto c = command<CreateInstanceCommand>(R"(create-instance -m order -V 1 -i o-1 -c '{"b": "x y"}')",
                                          Form::OneShot);
  CHECK(c.ctx == R"({"b": "x y"})");
  auto pm = command<PutMachineCommand>("put-machine -n m -v 1 @def.json", Form::OneShot);
  CHECK(pm.definition == "@def.json");
  auto li = command<ListInstancesCommand>("list-instances --state paid", Form::OneShot);
  CHECK(li.limit == 100);
  command<SnapshotInstanceCommand>("snapshot-instance o-1", Form::OneShot);
  command<WalStatsCommand>("wal-stats", Form::Repl);
  auto help = message("create-instance --help");
  CHECK_FALSE(help.failed);
  CHECK(help.text.find("--machine <MACHINE>") != std::string::npos);
  auto bad = message("apply-event -i o-1");
  CHECK(bad.failed);
  CHECK(bad.text.find("--event <EVENT>") != std::string::npos);
  CHECK(message("repl").text == "Error: already in the REPL");
}

TEST_CASE("watch ID and --json per line", "[repl]") {
  auto w = command<WatchInstanceCommand>("watch o-1 --no-ctx", Form::OneShot);
  CHECK(w.id == "o-1");
  CHECK_FALSE(w.include_ctx);
  CHECK(message("watch").failed);
  CHECK(run("ping --json").json);
  CHECK_FALSE(run("ping").json);
  CHECK(run("get-instance o-1 --json").json);
}

TEST_CASE("history skips space-led lines and tokens", "[repl]") {
  CHECK(keep_in_history("ping"));
  CHECK_FALSE(keep_in_history(" ping"));
  CHECK_FALSE(keep_in_history("hash-token s3cret"));
  CHECK_FALSE(keep_in_history("HASH-TOKEN s3cret"));
  CHECK_FALSE(keep_in_history(""));
}

TEST_CASE("completion words cover commands, aliases and subcommands", "[repl]") {
  const auto words = repl_command_words();
  for (auto w :
       {"ping", "pm", "lm", "li", "ws", "watch", "create-instance", "wal-stats", "flush-all", "quit"}) {
    INFO(w);
    CHECK(std::find(words.begin(), words.end(), w) != words.end());
  }
  CHECK(std::is_sorted(words.begin(), words.end()));
  CHECK(repl_help_text().find("reconnect") != std::string::npos);
}
