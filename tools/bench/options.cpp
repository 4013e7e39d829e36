#include "tools/bench/options.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace rstmdb::bench {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

template <typename T>
bool parse_integer(std::string_view text, T& out) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_decimal(std::string_view text, double& out) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(out);
}

// Flags that take a value, by their long name; the short forms map onto these.
enum class Flag {
  Server,
  Token,
  Workload,
  Connections,
  Pipeline,
  Duration,
  Requests,
  Warmup,
  Rate,
  Instances,
  PayloadBytes,
  CreateIds,
  Durability,
  Local,
  Json,
  MaxErrorRate,
  Threads,
  Timeout,
  Subscribers,
  StalledSubscribers,
  SubscriberThreads,
};

struct FlagName {
  std::string_view long_name;
  char short_name;  // 0: none
  Flag flag;
};

constexpr FlagName kFlags[] = {
    {"server", 's', Flag::Server},
    {"token", 't', Flag::Token},
    {"workload", 'w', Flag::Workload},
    {"connections", 'c', Flag::Connections},
    {"pipeline", 'p', Flag::Pipeline},
    {"duration", 'd', Flag::Duration},
    {"requests", 'n', Flag::Requests},
    {"warmup", 0, Flag::Warmup},
    {"rate", 0, Flag::Rate},
    {"instances", 0, Flag::Instances},
    {"payload-bytes", 0, Flag::PayloadBytes},
    {"create-ids", 0, Flag::CreateIds},
    {"durability", 0, Flag::Durability},
    {"local", 0, Flag::Local},
    {"json", 0, Flag::Json},
    {"max-error-rate", 0, Flag::MaxErrorRate},
    {"threads", 0, Flag::Threads},
    {"timeout", 0, Flag::Timeout},
    {"subscribers", 0, Flag::Subscribers},
    {"stalled-subscribers", 0, Flag::StalledSubscribers},
    {"subscriber-threads", 0, Flag::SubscriberThreads},
};

class Parser {
 public:
  explicit Parser(BenchOptions& o) : o_(o) {}

  // Returns an error message, or empty on success.
  std::string apply(Flag flag, std::string_view shown, std::string_view v) {
    switch (flag) {
      case Flag::Server: {
        auto addr = parse_server_address(v);
        if (!addr) return bad(shown, v, "expected host[:port] or [v6]:port");
        o_.server = *addr;
        o_.server_text = std::string(v);
        server_given = true;
        return {};
      }
      case Flag::Token:
        o_.token = std::string(v);
        token_given = true;
        return {};
      case Flag::Workload: {
        auto mix = WorkloadMix::parse(v);
        if (auto* err = std::get_if<std::string>(&mix)) return std::string(shown) + ": " + *err;
        o_.workload = std::get<WorkloadMix>(std::move(mix));
        return {};
      }
      case Flag::Connections:
        return count(shown, v, 1, kMaxConnections, o_.connections);
      case Flag::Pipeline:
        return count(shown, v, 1, kMaxPipeline, o_.pipeline);
      case Flag::Duration:
        duration_given = true;
        return seconds(shown, v, false, o_.duration_s);
      case Flag::Requests: {
        std::uint64_t n = 0;
        if (!parse_integer(v, n) || n == 0) return bad(shown, v, "expected a positive integer");
        o_.requests = n;
        return {};
      }
      case Flag::Warmup:
        return seconds(shown, v, true, o_.warmup_s);
      case Flag::Rate: {
        double r = 0;
        if (!parse_decimal(v, r) || r <= 0) return bad(shown, v, "expected a positive number");
        o_.rate = r;
        return {};
      }
      case Flag::Instances:
        return count(shown, v, 0, std::numeric_limits<std::uint32_t>::max(), o_.instances);
      case Flag::PayloadBytes:
        return count(shown, v, 0, kMaxPayloadBytes, o_.payload_bytes);
      case Flag::CreateIds:
        if (v == "sequential") {
          o_.create_ids = CreateIds::Sequential;
        } else if (v == "uuid") {
          o_.create_ids = CreateIds::Uuid;
        } else {
          return bad(shown, v, "expected sequential or uuid");
        }
        return {};
      case Flag::Durability: {
        auto p = normalise_fsync_policy(v);
        if (!p) return bad(shown, v, "expected every_write, every_n:N, every_ms:N or never");
        o_.durability = *p;
        return {};
      }
      case Flag::Local:
        if (v.empty()) return bad(shown, v, "expected the path of an rstmdbd binary");
        o_.local_server = std::string(v);
        return {};
      case Flag::Json:
        if (v.empty()) return bad(shown, v, "expected a file name or -");
        o_.json_path = std::string(v);
        return {};
      case Flag::MaxErrorRate: {
        double f = 0;
        if (!parse_decimal(v, f) || f < 0 || f > 1) return bad(shown, v, "expected a fraction 0..1");
        o_.max_error_rate = f;
        return {};
      }
      case Flag::Threads:
        return count(shown, v, 1, kMaxThreads, o_.threads);
      case Flag::Timeout:
        return seconds(shown, v, false, o_.timeout_s);
      case Flag::Subscribers:
        return count(shown, v, 0, kMaxSubscribers, o_.subscribers);
      case Flag::StalledSubscribers:
        return count(shown, v, 0, kMaxSubscribers, o_.stalled_subscribers);
      case Flag::SubscriberThreads:
        return count(shown, v, 1, kMaxThreads, o_.subscriber_threads);
    }
    return "internal: unhandled flag";
  }

  bool server_given = false;
  bool token_given = false;
  bool duration_given = false;

 private:
  static std::string bad(std::string_view shown, std::string_view v, std::string_view what) {
    return "invalid value '" + std::string(v) + "' for " + std::string(shown) + ": " + std::string(what);
  }

  static std::string count(std::string_view shown, std::string_view v, std::uint32_t min, std::uint32_t max,
                           std::uint32_t& out) {
    std::uint32_t n = 0;
    if (!parse_integer(v, n) || n < min || n > max) {
      return bad(shown, v, "expected an integer " + std::to_string(min) + ".." + std::to_string(max));
    }
    out = n;
    return {};
  }

  static std::string seconds(std::string_view shown, std::string_view v, bool zero_ok, double& out) {
    double s = 0;
    if (!parse_decimal(v, s) || s < 0 || (s == 0 && !zero_ok)) {
      return bad(shown, v, zero_ok ? "expected seconds >= 0" : "expected seconds > 0");
    }
    out = s;
    return {};
  }

  BenchOptions& o_;
};

}  // namespace

std::optional<std::string> normalise_fsync_policy(std::string_view text) {
  const std::string p = lower(text);
  if (p == "every_write" || p == "never") return p;
  for (std::string_view prefix : {std::string_view("every_n:"), std::string_view("every_ms:")}) {
    if (p.size() > prefix.size() && std::string_view(p).substr(0, prefix.size()) == prefix) {
      std::uint64_t n = 0;
      if (!parse_integer(std::string_view(p).substr(prefix.size()), n) || n == 0) return std::nullopt;
      return std::string(prefix) + std::to_string(n);
    }
  }
  return std::nullopt;
}

ParseResult parse_options(std::span<const std::string_view> args, const EnvLookup& env) {
  BenchOptions o;
  o.workload = std::get<WorkloadMix>(WorkloadMix::parse("apply_event"));
  Parser parser(o);

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") return HelpRequested{};

    const FlagName* found = nullptr;
    std::optional<std::string_view> inline_value;
    if (a.size() > 2 && a.substr(0, 2) == "--") {
      const std::string_view body = a.substr(2);
      const std::size_t eq = body.find('=');
      const std::string_view name = body.substr(0, eq);
      if (eq != std::string_view::npos) inline_value = body.substr(eq + 1);
      for (const FlagName& f : kFlags) {
        if (f.long_name == name) found = &f;
      }
    } else if (a.size() >= 2 && a[0] == '-' && a[1] != '-') {
      for (const FlagName& f : kFlags) {
        if (f.short_name != 0 && f.short_name == a[1]) found = &f;
      }
      if (a.size() > 2) inline_value = a.substr(2);  // -c4
    }
    if (found == nullptr) {
      if (!a.empty() && a[0] == '-') return UsageError{"unknown option '" + std::string(a) + "'"};
      return UsageError{"unexpected argument '" + std::string(a) + "'"};
    }

    const std::string shown = std::string(a.substr(0, a.find('=')));
    std::string_view value;
    if (inline_value) {
      value = *inline_value;
    } else {
      if (i + 1 >= args.size()) return UsageError{"option " + shown + " needs a value"};
      value = args[++i];
    }
    if (std::string err = parser.apply(found->flag, shown, value); !err.empty()) return UsageError{err};
  }

  if (!parser.server_given) {
    if (const char* s = env("RSTMDB_SERVER"); s != nullptr && *s != '\0') {
      auto addr = parse_server_address(s);
      if (!addr) return UsageError{"invalid RSTMDB_SERVER '" + std::string(s) + "'"};
      o.server = *addr;
      o.server_text = s;
    }
  }
  if (!parser.token_given) {
    if (const char* t = env("RSTMDB_TOKEN"); t != nullptr && *t != '\0') o.token = std::string(t);
  }

  if (o.requests && parser.duration_given)
    return UsageError{"-d/--duration and -n/--requests exclude each other"};
  bool needs_working_set = false;
  for (const MixEntry& e : o.workload.entries())
    needs_working_set |= op_uses_working_set(e.op);
  if (needs_working_set && o.instances == 0) {
    return UsageError{"--instances must be at least 1 for workload '" + o.workload.to_string() + "'"};
  }
  if (o.watch_connections() > kMaxSubscribers) {
    return UsageError{"--subscribers plus --stalled-subscribers must be at most " +
                      std::to_string(kMaxSubscribers)};
  }
  if (o.watch_connections() > 0) {
    // Every event must be one the writers acknowledged, with its offset in the response.
    if (!o.workload.contains(Op::ApplyEvent))
      return UsageError{"--subscribers/--stalled-subscribers need apply_event in the workload"};
    if (o.workload.contains(Op::Lifecycle))
      return UsageError{"--subscribers/--stalled-subscribers do not combine with lifecycle"};
  }
  if (o.threads > o.connections) o.threads = o.connections;
  return o;
}

std::string usage_text() {
  std::string u = R"(Usage: rstmdb-bench [OPTIONS]

Pipelined load generator for rstmdb-compatible servers (RCP v1, binary framing).

Connection:
  -s, --server HOST:PORT    server address [env RSTMDB_SERVER; default 127.0.0.1:7401]
  -t, --token TOKEN         bearer token, sent with AUTH after HELLO [env RSTMDB_TOKEN]
      --local PATH          start the rstmdbd binary PATH on a free loopback port with a fresh
                            temporary data dir (and --durability as its fsync policy), run
                            against it, then stop it and remove the directory

Load:
  -w, --workload MIX        weighted op mix, e.g. apply_event=70,get_instance=30
                            [default apply_event]; ops: )";
  u += op_name_list();
  u += R"(
  -c, --connections N       connections [16]
  -p, --pipeline N          requests in flight per connection [1; max 1024]
  -d, --duration SECS       measured time [30]
  -n, --requests N          stop after N measured units instead of a duration
      --warmup SECS         unmeasured load before measuring [5]
      --rate R              open loop: R units/s over all connections, latency measured from
                            the scheduled send time; -p caps requests in flight per connection
      --instances N         working set, pre-created on a 5-state cycle machine [10000]
      --payload-bytes N     length of the string field in each APPLY_EVENT payload [64]
      --create-ids MODE     ids of created instances: sequential (<machine>-c<conn>-<n>) or
                            uuid (random-looking UUIDs, spread over the key space the way
                            application-generated ids are) [sequential]
      --threads N           client I/O threads [one per CPU, at most one per connection]
      --timeout SECS        a request unanswered this long fails the run [30]

Watch (WATCH_ALL on the bench machine, live, include_ctx; needs apply_event in the mix):
      --subscribers N       subscriber connections that read every event, verify that each
                            saw every acknowledged apply once and in order, and measure the
                            delay from the writer's APPLY_EVENT response to the event [0]
      --stalled-subscribers K
                            connections that WATCH_ALL and then never read [0]
      --subscriber-threads N
                            I/O threads shared by all subscriber sockets [1]

Report:
      --durability P        fsync policy to record (every_write, every_n:N, every_ms:N,
                            never); with --local also applied to the started server
      --json FILE|-         write the JSON report to FILE, or stdout (the table then goes
                            to stderr)
      --max-error-rate F    fail (exit 1) when errors/requests exceeds F [0]
  -h, --help                show this help

Exit status: 0 success, 1 failure (connection, setup, error rate, or a subscriber stream that
failed verification), 2 usage error.
)";
  return u;
}

}  // namespace rstmdb::bench
