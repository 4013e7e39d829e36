#include "tools/cli/command_line.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

using namespace rstmdb::cli;

namespace {

std::map<std::string, std::string> g_env;

std::variant<Invocation, InfoText, UsageError> parse(std::vector<std::string> args,
                                                     std::map<std::string, std::string> env = {}) {
  g_env = std::move(env);
  return parse_command_line(args, [](const char* name) -> const char* {
    auto it = g_env.find(name);
    return it == g_env.end() ? nullptr : it->second.c_str();
  });
}

Invocation ok(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  auto r = parse(args, std::move(env));
  if (auto* e = std::get_if<UsageError>(&r)) FAIL("unexpected usage error: " << e->message);
  if (std::holds_alternative<InfoText>(r)) FAIL("unexpected help text");
  return std::get<Invocation>(std::move(r));
}

UsageError usage(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  auto r = parse(args, std::move(env));
  REQUIRE(std::holds_alternative<UsageError>(r));
  return std::get<UsageError>(r);
}

template <typename T>
T command(std::vector<std::string> args) {
  Invocation inv = ok(std::move(args));
  REQUIRE(std::holds_alternative<T>(inv.command));
  return std::get<T>(inv.command);
}

}  // namespace

TEST_CASE("no command is the REPL, with upstream's defaults", "[command_line]") {
  Invocation inv = ok({});
  CHECK(std::holds_alternative<ReplCommand>(inv.command));
  CHECK(inv.global.connection.server.host == "127.0.0.1");
  CHECK(inv.global.connection.server.port == 7401);
  CHECK_FALSE(inv.global.connection.token);
  CHECK_FALSE(inv.global.connection.tls.enabled);
  CHECK_FALSE(inv.global.json);
  CHECK(inv.global.connection.request_timeout == std::chrono::seconds(30));
  CHECK(inv.global.connection.connect_timeout == std::chrono::seconds(10));
  CHECK(inv.global.connection.client_name == "rstmdb-cli");
  CHECK(std::holds_alternative<ReplCommand>(ok({"repl"}).command));
}

TEST_CASE("server addresses: host:port, DNS names, IPv6", "[command_line]") {
  CHECK(ok({"-s", "db.example.com:7500", "ping"}).global.connection.server.host == "db.example.com");
  CHECK(ok({"-s", "db.example.com:7500", "ping"}).global.connection.server.port == 7500);
  CHECK(ok({"--server=[::1]:7402", "ping"}).global.connection.server.host == "::1");
  CHECK(ok({"--server", "localhost", "ping"}).global.connection.server.port == 7401);
  CHECK(ok({"-s127.0.0.1:9", "ping"}).global.connection.server.port == 9);
  CHECK(usage({"-s", "host:0", "ping"}).message.find("expected host[:port]") != std::string::npos);
  CHECK(usage({"-s", "host:0", "ping"}).exit_code == kExitUsage);
}

TEST_CASE("environment: RSTMDB_SERVER and RSTMDB_TOKEN, flags win", "[command_line]") {
  Invocation inv = ok({"ping"}, {{"RSTMDB_SERVER", "10.0.0.5:7000"}, {"RSTMDB_TOKEN", "tok"}});
  CHECK(inv.global.connection.server.host == "10.0.0.5");
  CHECK(inv.global.connection.server.port == 7000);
  CHECK(inv.global.connection.token == "tok");
  inv = ok({"-s", "h:1", "-t", "flag-token", "ping"},
           {{"RSTMDB_SERVER", "10.0.0.5:7000"}, {"RSTMDB_TOKEN", "tok"}});
  CHECK(inv.global.connection.server.host == "h");
  CHECK(inv.global.connection.token == "flag-token");
  // Empty = unset.
  CHECK_FALSE(ok({"ping"}, {{"RSTMDB_TOKEN", ""}}).global.connection.token);
  CHECK(usage({"ping"}, {{"RSTMDB_SERVER", "::1]"}}).message.find("--server") != std::string::npos);
}

TEST_CASE("TLS options: any of them turns TLS on, --insecure implies it", "[command_line]") {
  CHECK(ok({"--tls", "ping"}).global.connection.tls.enabled);
  CHECK(ok({"-k", "ping"}).global.connection.tls.enabled);
  CHECK(ok({"-k", "ping"}).global.connection.tls.insecure);
  auto ca = ok({"--ca-cert", "/ca.pem", "ping"}).global.connection.tls;
  CHECK(ca.enabled);
  CHECK(ca.ca_cert == "/ca.pem");
  CHECK_FALSE(ca.insecure);
  auto m = ok({"--client-cert", "c.pem", "--client-key", "k.pem", "--server-name", "db", "ping"})
               .global.connection.tls;
  CHECK(m.enabled);
  CHECK(m.client_cert == "c.pem");
  CHECK(m.client_key == "k.pem");
  CHECK(m.server_name == "db");
  CHECK_FALSE(ok({"ping"}).global.connection.tls.enabled);
}

TEST_CASE("client certificate and key only together, exit 1 as upstream", "[command_line]") {
  for (auto args : {std::vector<std::string>{"--client-cert", "c.pem", "ping"},
                    std::vector<std::string>{"--client-key", "k.pem", "ping"}}) {
    UsageError e = usage(args);
    CHECK(e.exit_code == kExitFailure);
    CHECK(e.message == "Error: --client-cert and --client-key must be used together\n");
  }
  CHECK(usage({"ping"}, {{"RSTMDB_CLIENT_KEY", "k.pem"}}).exit_code == kExitFailure);
}

TEST_CASE("TLS environment variables", "[command_line]") {
  auto tls = ok({"ping"}, {{"RSTMDB_TLS", "yes"}, {"RSTMDB_CA_CERT", "/ca"}}).global.connection.tls;
  CHECK(tls.enabled);
  CHECK(tls.ca_cert == "/ca");
  CHECK(ok({"ping"}, {{"RSTMDB_INSECURE", "TRUE"}}).global.connection.tls.insecure);
  CHECK(ok({"ping"}, {{"RSTMDB_INSECURE", "TRUE"}}).global.connection.tls.enabled);
  CHECK_FALSE(ok({"ping"}, {{"RSTMDB_TLS", "off"}}).global.connection.tls.enabled);
  auto c = ok({"ping"}, {{"RSTMDB_CLIENT_CERT", "c"}, {"RSTMDB_CLIENT_KEY", "k"}}).global.connection.tls;
  CHECK(c.enabled);
  CHECK(c.client_key == "k");
  CHECK(usage({"ping"}, {{"RSTMDB_TLS", "maybe"}}).message.find("RSTMDB_TLS") != std::string::npos);
}

TEST_CASE("json flag before or after the command, verbose, timeouts, wire mode", "[command_line]") {
  CHECK(ok({"--json", "ping"}).global.json);
  CHECK(ok({"wal-stats", "--json"}).global.json);
  CHECK(ok({"-v", "ping"}).global.verbose);
  CHECK(ok({"-kv", "ping"}).global.verbose);
  CHECK(ok({"--timeout", "2.5", "ping"}).global.connection.request_timeout ==
        std::chrono::milliseconds(2500));
  CHECK(ok({"--connect-timeout=1", "ping"}).global.connection.connect_timeout == std::chrono::seconds(1));
  CHECK(usage({"--timeout", "0", "ping"}).message.find("--timeout") != std::string::npos);
  CHECK(usage({"--timeout", "abc", "ping"}).exit_code == kExitUsage);
  CHECK(ok({"--wire-mode", "jsonl", "ping"}).global.connection.wire_mode == rstmdb::client::WireMode::Jsonl);
  CHECK(usage({"--wire-mode", "xml", "ping"}).message.find("binary_json or jsonl") != std::string::npos);
}

TEST_CASE("a -v after the command is the command's own option, not verbose", "[command_line]") {
  auto inv = ok({"get-machine", "-n", "order", "-v", "3"});
  CHECK_FALSE(inv.global.verbose);
  CHECK(std::get<GetMachineCommand>(inv.command).version == 3u);
  CHECK(usage({"ping", "-v"}).message.find("unexpected argument '-v'") != std::string::npos);
}

TEST_CASE("help and version", "[command_line]") {
  auto h = parse({"--help"});
  REQUIRE(std::holds_alternative<InfoText>(h));
  CHECK(std::get<InfoText>(h).text.find("Usage: rstmdb-cli [OPTIONS] [COMMAND]") != std::string::npos);
  auto sub = parse({"put-machine", "--help"});
  REQUIRE(std::holds_alternative<InfoText>(sub));
  CHECK(std::get<InfoText>(sub).text.find("-n, --name <NAME>") != std::string::npos);
  auto via_help = parse({"help", "apply-event"});
  REQUIRE(std::holds_alternative<InfoText>(via_help));
  CHECK(std::get<InfoText>(via_help).text.find("--expected-state <STATE>") != std::string::npos);
  auto v = parse({"-V"});
  REQUIRE(std::holds_alternative<InfoText>(v));
  CHECK(std::get<InfoText>(v).text.rfind("rstmdb-cli 0.1.0", 0) == 0);
  CHECK(usage({"help", "frob"}).message.find("unrecognized subcommand 'frob'") != std::string::npos);
}

TEST_CASE("unknown commands and options are usage errors (exit 2)", "[command_line]") {
  UsageError e = usage({"frob"});
  CHECK(e.exit_code == kExitUsage);
  CHECK(e.message.rfind("error: unrecognized subcommand 'frob'", 0) == 0);
  CHECK(usage({"--frob", "ping"}).message.find("unexpected argument '--frob'") != std::string::npos);
  CHECK(usage({"ping", "extra"}).message.find("unexpected argument 'extra'") != std::string::npos);
  CHECK(usage({"-s"}).message.find("a value is required for '--server <SERVER>'") != std::string::npos);
}

TEST_CASE("put-machine and get-machine", "[command_line]") {
  auto p = command<PutMachineCommand>({"put-machine", "-n", "order", "-v", "1", "@def.json"});
  CHECK(p.name == "order");
  CHECK(p.version == 1);
  CHECK(p.definition == "@def.json");
  p = command<PutMachineCommand>({"put-machine", "--version=7", "--name", "m", "{\"states\":[]}"});
  CHECK(p.version == 7);
  CHECK(p.definition == "{\"states\":[]}");
  UsageError missing = usage({"put-machine", "-n", "order", "{}"});
  CHECK(missing.message.find("required arguments were not provided: --version <VERSION>") !=
        std::string::npos);
  CHECK(
      missing.message.find("Usage: rstmdb-cli put-machine --name <NAME> --version <VERSION> <DEFINITION>") !=
      std::string::npos);
  CHECK(usage({"put-machine", "-n", "o", "-v", "1"}).message.find("<DEFINITION>") != std::string::npos);
  CHECK(usage({"put-machine", "-n", "o", "-v", "x", "{}"}).message.find("invalid value 'x' for '--version") !=
        std::string::npos);
  CHECK(usage({"put-machine", "-n", "o", "-v", "4294967296", "{}"}).exit_code == kExitUsage);
  CHECK(usage({"put-machine", "-n", "o", "-n", "p", "-v", "1", "{}"})
            .message.find("cannot be used multiple times") != std::string::npos);
  auto g = command<GetMachineCommand>({"get-machine", "-n", "order"});
  CHECK_FALSE(g.version);
}

TEST_CASE("instance commands", "[command_line]") {
  auto c = command<CreateInstanceCommand>({"create-instance", "-m", "order", "-V", "1", "-i", "o-1", "-c",
                                           "{\"a\":1}", "--idempotency-key", "k1"});
  CHECK(c.machine == "order");
  CHECK(c.version == 1);
  CHECK(c.id == "o-1");
  CHECK(c.ctx == "{\"a\":1}");
  CHECK(c.idempotency_key == "k1");
  auto bare = command<CreateInstanceCommand>({"create-instance", "-m", "order", "-V", "2"});
  CHECK_FALSE(bare.id);
  CHECK_FALSE(bare.ctx);
  CHECK(command<GetInstanceCommand>({"get-instance", "o-1"}).id == "o-1");
  auto d = command<DeleteInstanceCommand>({"delete-instance", "o-1", "--idempotency-key", "dk"});
  CHECK(d.id == "o-1");
  CHECK(d.idempotency_key == "dk");
  CHECK(command<SnapshotInstanceCommand>({"snapshot-instance", "o-1"}).id == "o-1");
  // A positional that looks like an option needs --.
  CHECK(command<GetInstanceCommand>({"get-instance", "--", "-odd"}).id == "-odd");
}

TEST_CASE("apply-event with every option", "[command_line]") {
  auto a = command<ApplyEventCommand>({"apply-event", "-i", "o-1", "-e", "PAY", "-p", "{}",
                                       "--expected-state", "created", "--expected-wal-offset", "42",
                                       "--event-id", "evt-1", "--idempotency-key", "k"});
  CHECK(a.instance == "o-1");
  CHECK(a.event == "PAY");
  CHECK(a.payload == "{}");
  CHECK(a.expected_state == "created");
  CHECK(a.expected_wal_offset == 42u);
  CHECK(a.event_id == "evt-1");
  CHECK(a.idempotency_key == "k");
  CHECK(usage({"apply-event", "-i", "o"}).message.find("--event <EVENT>") != std::string::npos);
}

TEST_CASE("list-instances defaults and options", "[command_line]") {
  auto l = command<ListInstancesCommand>({"list-instances"});
  CHECK(l.limit == 100);
  CHECK(l.offset == 0);
  CHECK_FALSE(l.machine);
  l = command<ListInstancesCommand>(
      {"list-instances", "-m", "order", "--state", "paid", "--limit", "5", "--offset=10"});
  CHECK(l.machine == "order");
  CHECK(l.state == "paid");
  CHECK(l.limit == 5);
  CHECK(l.offset == 10);
}

TEST_CASE("wal-read, compact, batch, flush-all", "[command_line]") {
  auto w = command<WalReadCommand>({"wal-read", "-f", "0", "-l", "5"});
  CHECK(w.from == 0);
  CHECK(w.limit == 5u);
  CHECK_FALSE(command<WalReadCommand>({"wal-read"}).limit);
  CHECK(command<WalReadCommand>({"wal-read", "-f10"}).from == 10);
  CHECK(command<CompactCommand>({"compact", "--force"}).force);
  CHECK(command<CompactCommand>({"compact", "-f"}).force);
  CHECK_FALSE(command<CompactCommand>({"compact"}).force);
  auto b = command<BatchCommand>({"batch", "--atomic", "ops.json"});
  CHECK(b.atomic);
  CHECK(b.file == "ops.json");
  CHECK(std::holds_alternative<FlushAllCommand>(ok({"flush-all", "--yes"}).command));
  CHECK(usage({"flush-all"}).message.find("--yes") != std::string::npos);
}

TEST_CASE("watch commands: filters, --no-ctx, --from-offset", "[command_line]") {
  auto wi = command<WatchInstanceCommand>({"watch-instance", "o-1", "--no-ctx", "--from-offset", "7"});
  CHECK(wi.id == "o-1");
  CHECK_FALSE(wi.include_ctx);
  CHECK(wi.from_offset == 7u);
  CHECK(command<WatchInstanceCommand>({"watch-instance", "o-1"}).include_ctx);
  auto wa = command<WatchAllCommand>({"watch-all", "--machines", "order,payment", "--machines", "x",
                                      "--to-states", "paid", "--events=PAY,SHIP"});
  CHECK(wa.machines == std::vector<std::string>{"order", "payment", "x"});
  CHECK(wa.to_states == std::vector<std::string>{"paid"});
  CHECK(wa.events == std::vector<std::string>{"PAY", "SHIP"});
  CHECK(wa.from_states.empty());
  CHECK(wa.include_ctx);
  CHECK_FALSE(wa.from_offset);
  CHECK(command<UnwatchCommand>({"unwatch", "sub-1"}).subscription_id == "sub-1");
}

TEST_CASE("hash-token takes the token or -", "[command_line]") {
  CHECK(command<HashTokenCommand>({"hash-token", "my-secret-token"}).token == "my-secret-token");
  CHECK(command<HashTokenCommand>({"hash-token", "-"}).token == "-");
  CHECK(usage({"hash-token"}).message.find("<TOKEN>") != std::string::npos);
}

TEST_CASE("every subcommand has help text", "[command_line]") {
  for (std::string_view name : subcommand_names()) {
    INFO(name);
    CHECK_FALSE(subcommand_help(name).empty());
    CHECK(main_help().find(std::string("  ") + std::string(name) + " ") != std::string::npos);
  }
  CHECK(subcommand_help("nope").empty());
}
