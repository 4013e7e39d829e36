#include "tools/cli/command_line.hpp"

#include "tools/client/server_address.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

namespace rstmdb::cli {
namespace {

constexpr std::string_view kProgram = "rstmdb-cli";
// Longest accepted --timeout / --connect-timeout: a day. Longer values are a typo.
constexpr double kMaxTimeoutSeconds = 86'400;

// ---- option tables --------------------------------------------------------------------------

struct OptionSpec {
  std::string_view long_name;
  char short_name = 0;          // 0: none
  std::string_view value_name;  // empty: a flag without value
  std::string_view help;
  bool required = false;
  bool repeatable = false;  // values accumulate (and split at ','), as clap's value_delimiter
};

struct PositionalSpec {
  std::string_view name;
  std::string_view help;
  bool required = true;
};

struct SubcommandSpec {
  std::string_view name;
  std::string_view summary;
  std::vector<OptionSpec> options;
  std::vector<PositionalSpec> positionals;
};

const std::vector<SubcommandSpec>& subcommands() {
  static const std::vector<SubcommandSpec> specs = {
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

const SubcommandSpec* find_subcommand(std::string_view name) {
  for (const auto& s : subcommands())
    if (s.name == name) return &s;
  return nullptr;
}

// The global options, in help order.
enum class Global {
  Server,
  Token,
  Tls,
  CaCert,
  ClientCert,
  ClientKey,
  Insecure,
  ServerName,
  Json,
  WireMode,
  Timeout,
  ConnectTimeout,
  Verbose,
  Help,
  Version
};

struct GlobalSpec {
  Global id;
  OptionSpec spec;
};

const std::vector<GlobalSpec>& global_options() {
  static const std::vector<GlobalSpec> specs = {
      {Global::Server,
       {"server", 's', "SERVER",
        "Server address: host[:port] or [v6]:port, DNS names allowed [env: RSTMDB_SERVER] [default: "
        "127.0.0.1:7401]"}},
      {Global::Token, {"token", 't', "TOKEN", "Authentication token [env: RSTMDB_TOKEN]"}},
      {Global::Tls, {"tls", 0, "", "Enable TLS connection [env: RSTMDB_TLS]"}},
      {Global::CaCert,
       {"ca-cert", 0, "CA_CERT", "Path to CA certificate for server verification [env: RSTMDB_CA_CERT]"}},
      {Global::ClientCert,
       {"client-cert", 0, "CLIENT_CERT", "Path to client certificate (for mTLS) [env: RSTMDB_CLIENT_CERT]"}},
      {Global::ClientKey,
       {"client-key", 0, "CLIENT_KEY", "Path to client private key (for mTLS) [env: RSTMDB_CLIENT_KEY]"}},
      {Global::Insecure,
       {"insecure", 'k', "",
        "Skip server certificate verification (INSECURE; implies --tls) [env: RSTMDB_INSECURE]"}},
      {Global::ServerName,
       {"server-name", 0, "SERVER_NAME",
        "Server name for TLS SNI and verification (defaults to the server host)"}},
      {Global::Json,
       {"json", 0, "", "Print results as one JSON line; errors as {\"error\":{...}} on stderr"}},
      {Global::WireMode,
       {"wire-mode", 0, "MODE", "binary_json (RCPX frames) or jsonl [default: binary_json]"}},
      {Global::Timeout, {"timeout", 0, "SECS", "Per-request timeout [default: 30]"}},
      {Global::ConnectTimeout,
       {"connect-timeout", 0, "SECS", "Connect timeout, TLS handshake included [default: 10]"}},
      {Global::Verbose, {"verbose", 'v', "", "Connection and request diagnostics on stderr"}},
      {Global::Help, {"help", 'h', "", "Print help"}},
      {Global::Version, {"version", 'V', "", "Print version"}},
  };
  return specs;
}

// ---- help texts ------------------------------------------------------------------------------

std::string option_label(const OptionSpec& o) {
  std::string label = o.short_name != 0 ? std::string("-") + o.short_name + ", " : std::string("    ");
  label += "--";
  label += o.long_name;
  if (!o.value_name.empty()) {
    label += " <";
    label += o.value_name;
    label += ">";
  }
  return label;
}

void append_table(std::string& out, const std::vector<std::pair<std::string, std::string>>& rows) {
  std::size_t width = 0;
  for (const auto& [left, right] : rows)
    width = std::max(width, left.size());
  for (const auto& [left, right] : rows) {
    out += "  " + left;
    out += std::string(width - left.size() + 2, ' ');
    out += right + "\n";
  }
}

std::string usage_line(const SubcommandSpec& s) {
  std::string u = "Usage: " + std::string(kProgram) + " " + std::string(s.name);
  bool optional_options = false;
  for (const auto& o : s.options) {
    if (!o.required) optional_options = true;
  }
  if (optional_options) u += " [OPTIONS]";
  for (const auto& o : s.options) {
    if (!o.required) continue;
    u += " --" + std::string(o.long_name);
    if (!o.value_name.empty()) u += " <" + std::string(o.value_name) + ">";
  }
  for (const auto& p : s.positionals) {
    u += p.required ? " <" + std::string(p.name) + ">" : " [" + std::string(p.name) + "]";
  }
  return u;
}

std::string help_of(const SubcommandSpec& s) {
  std::string out = std::string(s.summary) + "\n\n" + usage_line(s) + "\n";
  if (!s.positionals.empty()) {
    out += "\nArguments:\n";
    std::vector<std::pair<std::string, std::string>> rows;
    for (const auto& p : s.positionals)
      rows.emplace_back((p.required ? "<" : "[") + std::string(p.name) + (p.required ? ">" : "]"),
                        std::string(p.help));
    append_table(out, rows);
  }
  out += "\nOptions:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& o : s.options)
    rows.emplace_back(option_label(o), std::string(o.help));
  rows.emplace_back("    --json", "Print the result as one JSON line");
  rows.emplace_back("-h, --help", "Print help");
  append_table(out, rows);
  return out;
}

UsageError usage_error(const std::string& message, const SubcommandSpec* s) {
  std::string text = "error: " + message + "\n\n";
  if (s != nullptr) {
    text += usage_line(*s) + "\n\nFor more information, try '" + std::string(kProgram) + " " +
            std::string(s->name) + " --help'.\n";
  } else {
    text +=
        "Usage: " + std::string(kProgram) + " [OPTIONS] [COMMAND]\n\nFor more information, try '--help'.\n";
  }
  return UsageError{text};
}

// ---- value conversions -------------------------------------------------------------------------

template <typename Int>
bool parse_integer(std::string_view text, Int& out) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::optional<bool> parse_env_bool(std::string_view v) {
  std::string lower(v);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

// ---- the generic parser ------------------------------------------------------------------------

struct ParsedArgs {
  std::map<std::string_view, std::vector<std::string>> values;  // by long name; flags hold ""
  std::vector<std::string> positionals;

  bool has(std::string_view name) const { return values.count(name) > 0; }
  std::optional<std::string> get(std::string_view name) const {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second.back();
  }
  std::vector<std::string> list(std::string_view name) const {
    std::vector<std::string> out;
    auto it = values.find(name);
    if (it == values.end()) return out;
    for (const std::string& v : it->second) {
      std::size_t start = 0;
      while (true) {
        const std::size_t comma = v.find(',', start);
        out.push_back(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    return out;
  }
};

// Parses one subcommand's arguments against its spec. Returns InfoText for --help.
std::variant<ParsedArgs, InfoText, UsageError> parse_args(const SubcommandSpec& spec,
                                                          std::span<const std::string> args, bool& json) {
  ParsedArgs parsed;
  bool options_ended = false;
  auto take = [&](const OptionSpec& o, std::string value) -> std::optional<UsageError> {
    auto& slot = parsed.values[o.long_name];
    if (!slot.empty() && !o.repeatable) {
      return usage_error("the argument '" + option_label(o).substr(4) + "' cannot be used multiple times",
                         &spec);
    }
    slot.push_back(std::move(value));
    return std::nullopt;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_ended || a.size() < 2 || a[0] != '-') {
      parsed.positionals.push_back(a);
      continue;
    }
    if (a == "--") {
      options_ended = true;
      continue;
    }
    if (a == "--help" || a == "-h") return InfoText{help_of(spec)};
    if (a == "--json") {
      json = true;
      continue;
    }
    if (a[1] == '-') {
      const std::string body = a.substr(2);
      const std::size_t eq = body.find('=');
      const std::string name = body.substr(0, eq);
      const OptionSpec* found = nullptr;
      for (const auto& o : spec.options)
        if (o.long_name == name) found = &o;
      if (found == nullptr) return usage_error("unexpected argument '" + a + "' found", &spec);
      if (found->value_name.empty()) {
        if (eq != std::string::npos) return usage_error("'--" + name + "' takes no value", &spec);
        if (auto e = take(*found, "")) return *e;
        continue;
      }
      std::string value;
      if (eq != std::string::npos) {
        value = body.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return usage_error(
            "a value is required for '" + option_label(*found).substr(4) + "' but none was supplied", &spec);
      }
      if (auto e = take(*found, std::move(value))) return *e;
      continue;
    }
    // Short options, possibly clustered: -fl5, -n order.
    for (std::size_t k = 1; k < a.size(); ++k) {
      const OptionSpec* found = nullptr;
      for (const auto& o : spec.options)
        if (o.short_name == a[k]) found = &o;
      if (a[k] == 'h') return InfoText{help_of(spec)};
      if (found == nullptr)
        return usage_error("unexpected argument '-" + std::string(1, a[k]) + "' found", &spec);
      if (found->value_name.empty()) {
        if (auto e = take(*found, "")) return *e;
        continue;
      }
      std::string value;
      if (k + 1 < a.size()) {
        value = a.substr(k + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return usage_error(
            "a value is required for '" + option_label(*found).substr(4) + "' but none was supplied", &spec);
      }
      if (auto e = take(*found, std::move(value))) return *e;
      break;
    }
  }
  for (const auto& o : spec.options) {
    if (o.required && !parsed.has(o.long_name)) {
      return usage_error("the following required arguments were not provided: " + option_label(o).substr(4),
                         &spec);
    }
  }
  std::size_t required = 0;
  for (const auto& p : spec.positionals)
    if (p.required) ++required;
  if (parsed.positionals.size() < required) {
    const auto& missing = spec.positionals[parsed.positionals.size()];
    return usage_error(
        "the following required arguments were not provided: <" + std::string(missing.name) + ">", &spec);
  }
  if (parsed.positionals.size() > spec.positionals.size()) {
    return usage_error("unexpected argument '" + parsed.positionals[spec.positionals.size()] + "' found",
                       &spec);
  }
  return parsed;
}

// Typed accessors that produce usage errors naming the option.
class Converter {
 public:
  Converter(const SubcommandSpec& spec, const ParsedArgs& parsed) : spec_(spec), parsed_(parsed) {}

  template <typename Int>
  std::optional<Int> integer(std::string_view name) {
    auto v = parsed_.get(name);
    if (!v) return std::nullopt;
    Int out{};
    if (!parse_integer(*v, out)) {
      const OptionSpec* o = option(name);
      error_ = usage_error("invalid value '" + *v + "' for '" + option_label(*o).substr(4) +
                               "': expected an integer from 0 to " +
                               std::to_string(std::numeric_limits<Int>::max()),
                           &spec_);
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

  const SubcommandSpec& spec_;
  const ParsedArgs& parsed_;
  std::optional<UsageError> error_;
};

std::variant<Command, InfoText, UsageError> build_command(const SubcommandSpec& spec,
                                                          const ParsedArgs& parsed) {
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
    const SubcommandSpec* s = find_subcommand(*topic);
    if (s == nullptr) return usage_error("unrecognized subcommand '" + *topic + "'", nullptr);
    return InfoText{help_of(*s)};
  }
  if (c.error()) return *c.error();
  return cmd;
}

// ---- global options ---------------------------------------------------------------------------

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
                       nullptr);
  }
  out = std::chrono::milliseconds(std::max<long long>(1, std::llround(s * 1000)));
  return std::nullopt;
}

std::optional<UsageError> apply_global(GlobalState& st, Global id, const std::string& value) {
  switch (id) {
    case Global::Server:
      st.server = value;
      return std::nullopt;
    case Global::Token:
      st.token = value;
      return std::nullopt;
    case Global::Tls:
      st.tls = true;
      return std::nullopt;
    case Global::CaCert:
      st.ca_cert = value;
      return std::nullopt;
    case Global::ClientCert:
      st.client_cert = value;
      return std::nullopt;
    case Global::ClientKey:
      st.client_key = value;
      return std::nullopt;
    case Global::Insecure:
      st.insecure = true;
      return std::nullopt;
    case Global::ServerName:
      st.g.connection.tls.server_name = value;
      return std::nullopt;
    case Global::Json:
      st.g.json = true;
      return std::nullopt;
    case Global::WireMode:
      if (value == "binary_json") {
        st.g.connection.wire_mode = client::WireMode::BinaryJson;
      } else if (value == "jsonl") {
        st.g.connection.wire_mode = client::WireMode::Jsonl;
      } else {
        return usage_error(
            "invalid value '" + value + "' for '--wire-mode <MODE>': expected binary_json or jsonl", nullptr);
      }
      return std::nullopt;
    case Global::Timeout:
      return seconds_value("--timeout <SECS>", value, st.g.connection.request_timeout);
    case Global::ConnectTimeout:
      return seconds_value("--connect-timeout <SECS>", value, st.g.connection.connect_timeout);
    case Global::Verbose:
      st.g.verbose = true;
      return std::nullopt;
    case Global::Help:
    case Global::Version:
      return std::nullopt;  // handled by the caller
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
          "invalid value '" + *v + "' for " + name + ": expected 1/true/yes/on or 0/false/no/off", nullptr);
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
          nullptr);
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
  GlobalState st;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;  // the subcommand
    auto lookup_long = [&](std::string_view name) -> const GlobalSpec* {
      for (const auto& g : global_options())
        if (g.spec.long_name == name) return &g;
      return nullptr;
    };
    auto lookup_short = [&](char c) -> const GlobalSpec* {
      for (const auto& g : global_options())
        if (g.spec.short_name == c) return &g;
      return nullptr;
    };
    std::vector<std::pair<const GlobalSpec*, std::string>> found;
    if (a[1] == '-') {
      const std::string body = a.substr(2);
      const std::size_t eq = body.find('=');
      const GlobalSpec* g = lookup_long(body.substr(0, eq));
      if (g == nullptr) return usage_error("unexpected argument '" + a + "' found", nullptr);
      if (g->spec.value_name.empty()) {
        if (eq != std::string::npos)
          return usage_error("'--" + std::string(g->spec.long_name) + "' takes no value", nullptr);
        found.emplace_back(g, "");
      } else if (eq != std::string::npos) {
        found.emplace_back(g, body.substr(eq + 1));
      } else if (i + 1 < args.size()) {
        found.emplace_back(g, args[++i]);
      } else {
        return usage_error(
            "a value is required for '" + option_label(g->spec).substr(4) + "' but none was supplied",
            nullptr);
      }
    } else {
      for (std::size_t k = 1; k < a.size(); ++k) {
        const GlobalSpec* g = lookup_short(a[k]);
        if (g == nullptr)
          return usage_error("unexpected argument '-" + std::string(1, a[k]) + "' found", nullptr);
        if (g->spec.value_name.empty()) {
          found.emplace_back(g, "");
          continue;
        }
        if (k + 1 < a.size()) {
          found.emplace_back(g, a.substr(k + 1));
        } else if (i + 1 < args.size()) {
          found.emplace_back(g, args[++i]);
        } else {
          return usage_error(
              "a value is required for '" + option_label(g->spec).substr(4) + "' but none was supplied",
              nullptr);
        }
        break;
      }
    }
    for (auto& [g, value] : found) {
      if (g->id == Global::Help) return InfoText{main_help()};
      if (g->id == Global::Version) return InfoText{version_text()};
      if (auto e = apply_global(st, g->id, value)) return *e;
    }
  }
  if (auto e = apply_environment(st, env)) return *e;

  Invocation inv;
  if (i >= args.size()) {
    inv.command = ReplCommand{};
  } else {
    const std::string& name = args[i];
    const SubcommandSpec* spec = find_subcommand(name);
    if (spec == nullptr) return usage_error("unrecognized subcommand '" + name + "'", nullptr);
    bool json = false;
    auto sub = parse_subcommand(name, args.subspan(i + 1), json);
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
  const SubcommandSpec* spec = find_subcommand(name);
  if (spec == nullptr) return usage_error("unrecognized subcommand '" + std::string(name) + "'", nullptr);
  auto parsed = parse_args(*spec, args, json);
  if (auto* info = std::get_if<InfoText>(&parsed)) return *info;
  if (auto* err = std::get_if<UsageError>(&parsed)) return *err;
  return build_command(*spec, std::get<ParsedArgs>(parsed));
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
  for (const auto& g : global_options())
    rows.emplace_back(option_label(g.spec), std::string(g.spec.help));
  append_table(out, rows);
  out +=
      "\nWithout a command, rstmdb-cli starts the REPL (prompt 'rstmdb> '; 'help' lists its commands).\n"
      "Exit status: 0 success, 1 error, 2 usage error.\n";
  return out;
}

std::string subcommand_help(std::string_view name) {
  const SubcommandSpec* s = find_subcommand(name);
  return s == nullptr ? std::string() : help_of(*s);
}

std::string version_text() {
  return std::string(kProgram) + " " + RSTMDB_VERSION + " (rstmdb-cpp; protocol 1)\n";
}

}  // namespace rstmdb::cli
