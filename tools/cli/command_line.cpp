#include "tools/cli/command_line.hpp"

#include "tools/client/server_address.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace rstmdb::cli {
namespace {

constexpr std::string_view kProgram = "rstmdb-cli";
// Longest accepted --timeout / --connect-timeout: a day. Longer values are a typo.
constexpr double kMaxTimeoutSeconds = 86'400;

// ---- the commands ---------------------------------------------------------------------------

const std::vector<CommandSpec>& subcommands() {
  static const std::vector<CommandSpec> specs = {
      {"repl", "Start interactive REPL", {}, {}},
      {"ping", "Ping the server", {}, {}},
      {"info", "Get server info", {}, {}},
      {"put-machine",
       "Register a machine definition",
       {{"name", 'n', "NAME", "Machine name", true}, {"version", 'v', "VERSION", "Version number", true}},
       {{"DEFINITION", "Definition JSON (or @file.json to read from file, @- for stdin)"}}},
      {"get-machine",
       "Get a machine definition",
       {{"name", 'n', "NAME", "Machine name", true},
        {"version", 'v', "VERSION", "Version number [default: the latest]"}},
       {}},
      {"list-machines", "List all machines", {}, {}},
      {"create-instance",
       "Create a new instance",
       {{"machine", 'm', "MACHINE", "Machine name", true},
        {"version", 'V', "VERSION", "Version number", true},
        {"id", 'i', "ID", "Instance ID (optional, auto-generated if not provided)"},
        {"ctx", 'c', "CTX", "Initial context JSON (or @file.json)"},
        {"idempotency-key", 0, "KEY", "Idempotency key: a retry with the same key returns the first result"}},
       {}},
      {"get-instance", "Get an instance", {}, {{"ID", "Instance ID"}}},
      {"list-instances",
       "List instances (table ID MACHINE VERSION STATE UPDATED_AT, then N of TOTAL)",
       {{"machine", 'm', "MACHINE", "Only instances of this machine"},
        {"state", 0, "STATE", "Only instances in this state"},
        {"limit", 0, "N", "Page size [default: 100]"},
        {"offset", 0, "N", "Matches to skip [default: 0]"}},
       {}},
      {"apply-event",
       "Apply an event to an instance",
       {{"instance", 'i', "INSTANCE", "Instance ID", true},
        {"event", 'e', "EVENT", "Event name", true},
        {"payload", 'p', "PAYLOAD", "Event payload JSON (or @file.json)"},
        {"expected-state", 0, "STATE", "Expected state (for optimistic concurrency)"},
        {"expected-wal-offset", 0, "OFFSET", "Expected last_wal_offset of the instance"},
        {"event-id", 0, "ID", "Event ID, stored as last_event_id"},
        {"idempotency-key", 0, "KEY", "Idempotency key (per instance)"}},
       {}},
      {"delete-instance",
       "Delete an instance",
       {{"idempotency-key", 0, "KEY", "Idempotency key (per instance)"}},
       {{"ID", "Instance ID"}}},
      {"snapshot-instance", "Snapshot an instance", {}, {{"ID", "Instance ID"}}},
      {"wal-read",
       "Read WAL entries",
       {{"from", 'f', "FROM", "Starting offset [default: 0]"},
        {"limit", 'l', "LIMIT", "Maximum entries to return [default: the server's, 100]"}},
       {}},
      {"wal-stats", "Show WAL statistics", {}, {}},
      {"compact",
       "Compact the WAL (trim entries below the retention point)",
       {{"force", 'f', "", "Force snapshot of all instances before compaction"}},
       {}},
      {"batch",
       "Run a batch of operations from a JSON file (an array of {\"op\",\"params\"})",
       {{"atomic", 0, "", "All or nothing (default: best effort)"}},
       {{"FILE", "Batch file (@FILE also accepted; - for stdin)"}}},
      {"flush-all",
       "Delete every machine and instance (the server must allow it)",
       {{"yes", 0, "", "Confirm", true}},
       {}},
      {"watch-instance",
       "Watch a specific instance for state changes (one JSON event per line)",
       {{"no-ctx", 0, "", "Exclude context from events"},
        {"from-offset", 0, "OFFSET", "Replay retained events from this WAL offset first"}},
       {{"ID", "Instance ID to watch"}}},
      {"watch-all",
       "Watch all events across all instances (one JSON event per line)",
       {{"machines", 0, "MACHINES", "Filter: only these machine types (comma-separated)", false, true},
        {"from-states", 0, "FROM_STATES", "Filter: only events FROM these states", false, true},
        {"to-states", 0, "TO_STATES", "Filter: only events TO these states", false, true},
        {"events", 0, "EVENTS", "Filter: only these event types", false, true},
        {"no-ctx", 0, "", "Exclude context from events"},
        {"from-offset", 0, "OFFSET", "Replay retained events from this WAL offset first"}},
       {}},
      {"unwatch", "Unsubscribe from a watch", {}, {{"SUBSCRIPTION_ID", "Subscription ID to cancel"}}},
      {"hash-token",
       "Generate SHA-256 hash of a token for config files (offline)",
       {},
       {{"TOKEN", "The token to hash (- reads it from stdin)"}}},
      {"help", "Print this message or the help of the given subcommand", {}, {{"COMMAND", "", false}}},
  };
  return specs;
}

const CommandSpec* find_subcommand(std::string_view name) {
  for (const auto& s : subcommands())
    if (s.name == name) return &s;
  return nullptr;
}

// The program's own (global) options, in help order.
const CommandSpec& program_spec() {
  static const CommandSpec spec = {
      "",
      "Command-line interface for rstmdb state machine database",
      {
          {"server", 's', "SERVER",
           "Server address: host[:port] or [v6]:port, DNS names allowed [env: RSTMDB_SERVER] [default: "
           "127.0.0.1:7401]"},
          {"token", 't', "TOKEN", "Authentication token [env: RSTMDB_TOKEN]"},
          {"tls", 0, "", "Enable TLS connection [env: RSTMDB_TLS]"},
          {"ca-cert", 0, "CA_CERT", "Path to CA certificate for server verification [env: RSTMDB_CA_CERT]"},
          {"client-cert", 0, "CLIENT_CERT",
           "Path to client certificate (for mTLS) [env: RSTMDB_CLIENT_CERT]"},
          {"client-key", 0, "CLIENT_KEY", "Path to client private key (for mTLS) [env: RSTMDB_CLIENT_KEY]"},
          {"insecure", 'k', "",
           "Skip server certificate verification (INSECURE; implies --tls) [env: RSTMDB_INSECURE]"},
          {"server-name", 0, "SERVER_NAME",
           "Server name for TLS SNI and verification (defaults to the server host)"},
          {"json", 0, "", "Print results as one JSON line; errors as {\"error\":{...}} on stderr"},
          {"wire-mode", 0, "MODE", "binary_json (RCPX frames) or jsonl [default: binary_json]"},
          {"timeout", 0, "SECS", "Per-request timeout [default: 30]"},
          {"connect-timeout", 0, "SECS", "Connect timeout, TLS handshake included [default: 10]"},
          {"verbose", 'v', "", "Connection and request diagnostics on stderr"},
          {"help", 'h', "", "Print help"},
          {"version", 'V', "", "Print version"},
      },
      {}};
  return spec;
}

// Typed accessors that produce usage errors naming the option.
class Converter {
 public:
  Converter(const CommandSpec& spec, const ParsedArgs& parsed) : spec_(spec), parsed_(parsed) {}

  template <typename Int>
  std::optional<Int> integer(std::string_view name) {
    auto v = parsed_.get(name);
    if (!v) return std::nullopt;
    Int out{};
    if (!parse_integer(*v, out)) {
      const OptionSpec* o = option(name);
      error_ = usage_error("invalid value '" + *v + "' for '" + long_label(*o) +
                               "': expected an integer from 0 to " +
                               std::to_string(std::numeric_limits<Int>::max()),
                           spec_);
      return std::nullopt;
    }
    return out;
  }
  std::optional<std::string> text(std::string_view name) const { return parsed_.get(name); }
  bool flag(std::string_view name) const { return parsed_.has(name); }
  const std::string& positional(std::size_t i) const { return parsed_.positionals.at(i); }
  std::optional<std::string> optional_positional(std::size_t i) const {
    if (i < parsed_.positionals.size()) return parsed_.positionals[i];
    return std::nullopt;
  }
  std::vector<std::string> list(std::string_view name) const { return parsed_.list(name); }

  const std::optional<UsageError>& error() const { return error_; }

 private:
  const OptionSpec* option(std::string_view name) const {
    for (const auto& o : spec_.options)
      if (o.long_name == name) return &o;
    return nullptr;
  }

  const CommandSpec& spec_;
  const ParsedArgs& parsed_;
  std::optional<UsageError> error_;
};

std::variant<Command, InfoText, UsageError> build_command(const CommandSpec& spec, const ParsedArgs& parsed) {
  Converter c(spec, parsed);
  const std::string_view n = spec.name;
  Command cmd;
  if (n == "repl") {
    cmd = ReplCommand{};
  } else if (n == "ping") {
    cmd = PingCommand{};
  } else if (n == "info") {
    cmd = InfoCommand{};
  } else if (n == "put-machine") {
    PutMachineCommand p;
    p.name = *c.text("name");
    p.version = c.integer<std::uint32_t>("version").value_or(0);
    p.definition = c.positional(0);
    cmd = std::move(p);
  } else if (n == "get-machine") {
    GetMachineCommand g;
    g.name = *c.text("name");
    g.version = c.integer<std::uint32_t>("version");
    cmd = std::move(g);
  } else if (n == "list-machines") {
    cmd = ListMachinesCommand{};
  } else if (n == "create-instance") {
    CreateInstanceCommand ci;
    ci.machine = *c.text("machine");
    ci.version = c.integer<std::uint32_t>("version").value_or(0);
    ci.id = c.text("id");
    ci.ctx = c.text("ctx");
    ci.idempotency_key = c.text("idempotency-key");
    cmd = std::move(ci);
  } else if (n == "get-instance") {
    cmd = GetInstanceCommand{c.positional(0)};
  } else if (n == "list-instances") {
    ListInstancesCommand li;
    li.machine = c.text("machine");
    li.state = c.text("state");
    li.limit = c.integer<std::uint32_t>("limit").value_or(kDefaultListLimit);
    li.offset = c.integer<std::uint32_t>("offset").value_or(0);
    cmd = std::move(li);
  } else if (n == "apply-event") {
    ApplyEventCommand a;
    a.instance = *c.text("instance");
    a.event = *c.text("event");
    a.payload = c.text("payload");
    a.expected_state = c.text("expected-state");
    a.expected_wal_offset = c.integer<std::uint64_t>("expected-wal-offset");
    a.event_id = c.text("event-id");
    a.idempotency_key = c.text("idempotency-key");
    cmd = std::move(a);
  } else if (n == "delete-instance") {
    cmd = DeleteInstanceCommand{c.positional(0), c.text("idempotency-key")};
  } else if (n == "snapshot-instance") {
    cmd = SnapshotInstanceCommand{c.positional(0)};
  } else if (n == "wal-read") {
    WalReadCommand w;
    w.from = c.integer<std::uint64_t>("from").value_or(0);
    w.limit = c.integer<std::uint32_t>("limit");
    cmd = w;
  } else if (n == "wal-stats") {
    cmd = WalStatsCommand{};
  } else if (n == "compact") {
    cmd = CompactCommand{c.flag("force")};
  } else if (n == "batch") {
    cmd = BatchCommand{c.flag("atomic"), c.positional(0)};
  } else if (n == "flush-all") {
    cmd = FlushAllCommand{};
  } else if (n == "watch-instance") {
    WatchInstanceCommand w;
    w.id = c.positional(0);
    w.include_ctx = !c.flag("no-ctx");
    w.from_offset = c.integer<std::uint64_t>("from-offset");
    cmd = std::move(w);
  } else if (n == "watch-all") {
    WatchAllCommand w;
    w.machines = c.list("machines");
    w.from_states = c.list("from-states");
    w.to_states = c.list("to-states");
    w.events = c.list("events");
    w.include_ctx = !c.flag("no-ctx");
    w.from_offset = c.integer<std::uint64_t>("from-offset");
    cmd = std::move(w);
  } else if (n == "unwatch") {
    cmd = UnwatchCommand{c.positional(0)};
  } else if (n == "hash-token") {
    cmd = HashTokenCommand{c.positional(0)};
  } else if (n == "help") {
    const auto topic = c.optional_positional(0);
    if (!topic) return InfoText{main_help()};
    const CommandSpec* s = find_subcommand(*topic);
    if (s == nullptr) return usage_error("unrecognized subcommand '" + *topic + "'", program_spec());
    return InfoText{command_help(*s)};
  }
  if (c.error()) return *c.error();
  return cmd;
}

// ---- global options and environment -----------------------------------------------------

std::optional<bool> parse_env_bool(std::string_view v) {
  std::string lower(v);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

struct GlobalState {
  GlobalOptions g;
  std::optional<std::string> server, token, ca_cert, client_cert, client_key;
  bool tls = false, insecure = false;
};

std::optional<UsageError> seconds_value(std::string_view shown, const std::string& v,
                                        std::chrono::milliseconds& out) {
  double s = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || !std::isfinite(s) || s <= 0 ||
      s > kMaxTimeoutSeconds) {
    return usage_error("invalid value '" + v + "' for '" + std::string(shown) +
                           "': expected seconds > 0 (at most " +
                           std::to_string(static_cast<int>(kMaxTimeoutSeconds)) + ")",
                       program_spec());
  }
  out = std::chrono::milliseconds(std::max<long long>(1, std::llround(s * 1000)));
  return std::nullopt;
}

std::optional<UsageError> apply_globals(GlobalState& st, const ParsedArgs& p) {
  st.server = p.get("server");
  st.token = p.get("token");
  st.ca_cert = p.get("ca-cert");
  st.client_cert = p.get("client-cert");
  st.client_key = p.get("client-key");
  st.tls = p.has("tls");
  st.insecure = p.has("insecure");
  st.g.connection.tls.server_name = p.get("server-name");
  st.g.json = p.has("json");
  st.g.verbose = p.has("verbose");
  if (auto mode = p.get("wire-mode")) {
    if (*mode == "binary_json") {
      st.g.connection.wire_mode = client::WireMode::BinaryJson;
    } else if (*mode == "jsonl") {
      st.g.connection.wire_mode = client::WireMode::Jsonl;
    } else {
      return usage_error(
          "invalid value '" + *mode + "' for '--wire-mode <MODE>': expected binary_json or jsonl",
          program_spec());
    }
  }
  if (auto v = p.get("timeout")) {
    if (auto e = seconds_value("--timeout <SECS>", *v, st.g.connection.request_timeout)) return e;
  }
  if (auto v = p.get("connect-timeout")) {
    if (auto e = seconds_value("--connect-timeout <SECS>", *v, st.g.connection.connect_timeout)) return e;
  }
  return std::nullopt;
}

std::optional<UsageError> apply_environment(GlobalState& st, const EnvLookup& env) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    const char* v = env ? env(name) : nullptr;
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  auto boolean = [&](const char* name, bool& out) -> std::optional<UsageError> {
    auto v = get(name);
    if (!v) return std::nullopt;
    auto b = parse_env_bool(*v);
    if (!b) {
      return usage_error(
          "invalid value '" + *v + "' for " + name + ": expected 1/true/yes/on or 0/false/no/off",
          program_spec());
    }
    out = out || *b;
    return std::nullopt;
  };
  if (!st.server) st.server = get("RSTMDB_SERVER");
  if (!st.token) st.token = get("RSTMDB_TOKEN");
  if (!st.ca_cert) st.ca_cert = get("RSTMDB_CA_CERT");
  if (!st.client_cert) st.client_cert = get("RSTMDB_CLIENT_CERT");
  if (!st.client_key) st.client_key = get("RSTMDB_CLIENT_KEY");
  if (auto e = boolean("RSTMDB_TLS", st.tls)) return e;
  if (auto e = boolean("RSTMDB_INSECURE", st.insecure)) return e;
  return std::nullopt;
}

std::optional<UsageError> finish_globals(GlobalState& st) {
  client::ConnectionOptions& c = st.g.connection;
  if (st.server) {
    auto addr = client::parse_server_address(*st.server);
    if (!addr) {
      return usage_error(
          "invalid value '" + *st.server + "' for '--server <SERVER>': expected host[:port] or [v6]:port",
          program_spec());
    }
    c.server = *addr;
  }
  c.token = st.token;
  // As upstream: any TLS option turns TLS on; --insecure implies it (runtime.md §2.2).
  c.tls.enabled = st.tls || st.ca_cert || st.client_cert || st.insecure;
  c.tls.ca_cert = st.ca_cert;
  c.tls.insecure = st.insecure;
  if (st.client_cert.has_value() != st.client_key.has_value()) {
    return UsageError{"Error: --client-cert and --client-key must be used together\n", kExitFailure};
  }
  c.tls.client_cert = st.client_cert;
  c.tls.client_key = st.client_key;
  return std::nullopt;
}

}  // namespace

std::variant<Invocation, InfoText, UsageError> parse_command_line(std::span<const std::string> args,
                                                                  const EnvLookup& env) {
  auto globals =
      parse_options(program_spec(), args, ParseMode{.take_json = false, .stop_at_positional = true});
  if (auto* err = std::get_if<UsageError>(&globals)) return *err;
  const ParsedArgs& parsed = std::get<ParsedArgs>(globals);
  if (parsed.help) return InfoText{main_help()};
  if (parsed.has("version")) return InfoText{version_text()};
  GlobalState st;
  if (auto e = apply_globals(st, parsed)) return *e;
  if (auto e = apply_environment(st, env)) return *e;

  Invocation inv;
  const std::size_t i = parsed.consumed;
  if (i >= args.size()) {
    inv.command = ReplCommand{};
  } else {
    bool json = false;
    auto sub = parse_subcommand(args[i], args.subspan(i + 1), json);
    if (auto* info = std::get_if<InfoText>(&sub)) return *info;
    if (auto* err = std::get_if<UsageError>(&sub)) return *err;
    inv.command = std::get<Command>(std::move(sub));
    st.g.json = st.g.json || json;
  }
  if (auto e = finish_globals(st)) return *e;
  inv.global = std::move(st.g);
  return inv;
}

std::variant<Command, InfoText, UsageError> parse_subcommand(std::string_view name,
                                                             std::span<const std::string> args, bool& json) {
  const CommandSpec* spec = find_subcommand(name);
  if (spec == nullptr)
    return usage_error("unrecognized subcommand '" + std::string(name) + "'", program_spec());
  auto parsed = parse_options(*spec, args, ParseMode{.take_json = true, .stop_at_positional = false});
  if (auto* err = std::get_if<UsageError>(&parsed)) return *err;
  const ParsedArgs& p = std::get<ParsedArgs>(parsed);
  if (p.help) return InfoText{command_help(*spec)};
  json = json || p.json;
  return build_command(*spec, p);
}

std::vector<std::string_view> subcommand_names() {
  std::vector<std::string_view> names;
  for (const auto& s : subcommands())
    names.push_back(s.name);
  return names;
}

bool is_subcommand(std::string_view name) {
  return find_subcommand(name) != nullptr;
}

std::string main_help() {
  std::string out =
      "Command-line interface for rstmdb state machine database\n\nUsage: " + std::string(kProgram) +
      " [OPTIONS] [COMMAND]\n\nCommands:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& s : subcommands())
    rows.emplace_back(std::string(s.name), std::string(s.summary));
  append_table(out, rows);
  out += "\nOptions:\n";
  rows.clear();
  for (const auto& o : program_spec().options)
    rows.emplace_back(option_label(o), std::string(o.help));
  append_table(out, rows);
  out +=
      "\nWithout a command, rstmdb-cli starts the REPL (prompt 'rstmdb> '; 'help' lists its commands).\n"
      "Exit status: 0 success, 1 error, 2 usage error.\n";
  return out;
}

std::string subcommand_help(std::string_view name) {
  const CommandSpec* s = find_subcommand(name);
  return s == nullptr ? std::string() : command_help(*s);
}

std::string version_text() {
  return std::string(kProgram) + " " + RSTMDB_VERSION + " (rstmdb-cpp; protocol 1)\n";
}

}  // namespace rstmdb::cli
