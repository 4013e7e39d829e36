#include "config/keys.hpp"

#include <type_traits>

#include "config/value_parsers.hpp"

namespace rstmdb::config {

namespace {

// Projects a Config onto one member; `+` turns the capture-less lambda into the function pointer
// that FieldRef holds.
#define RSTMDB_FIELD(member) +[](Config& c) -> decltype((c.member)) { return c.member; }

constexpr std::uint64_t kU32Max = 4'294'967'295ull;
constexpr std::uint64_t kOneDaySecs = 24ull * 3600;
constexpr std::uint64_t kOneYearSecs = 365ull * 24 * 3600;
constexpr std::uint64_t kTenYearsSecs = 10 * kOneYearSecs;
constexpr std::uint64_t kMaxCount = 1'000'000'000'000ull;  // entries/events: far beyond any real log
constexpr std::uint64_t kOneTiBInMb = 1024ull * 1024;
constexpr std::uint64_t kSixteenGiB = 16ull * 1024 * 1024 * 1024;

std::vector<KeyInfo> build_registry() {
  using K = ValueKind;
  const std::vector<std::pair<std::string_view, std::string_view>> levels = {
      {"trace", "trace"}, {"debug", "debug"},       {"info", "info"}, {"warn", "warn"},
      {"error", "error"}, {"critical", "critical"}, {"off", "off"},   {"warning", "warn"}};
  const std::vector<std::pair<std::string_view, std::string_view>> formats = {
      {"text", "text"}, {"json", "json"}, {"pretty", "text"}};
  const std::vector<std::pair<std::string_view, std::string_view>> access = {
      {"off", "off"}, {"writes", "writes"}, {"all", "all"}};
  const std::vector<std::pair<std::string_view, std::string_view>> tls_versions = {
      {"1.2", "1.2"}, {"1.3", "1.3"}, {"tlsv1.2", "1.2"}, {"tlsv1.3", "1.3"}};
  const std::vector<std::pair<std::string_view, std::string_view>> memtables = {{"ordered", "ordered"},
                                                                                {"skiplist", "skiplist"}};

  return {
      // network
      {.key = "network.bind_addr",
       .env = "RSTMDB_BIND",
       .kind = K::Address,
       .reloadable = false,
       .summary = "RCP listener, host:port or [v6]:port; DNS names allowed; port 0 = ephemeral",
       .field = RSTMDB_FIELD(network.bind_addr)},
      {.key = "network.idle_timeout_secs",
       .env = "RSTMDB_IDLE_TIMEOUT",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = kOneYearSecs,
       .summary = "close a connection after N s without a complete request (subscribers exempt); 0 = off",
       .field = RSTMDB_FIELD(network.idle_timeout_secs)},
      {.key = "network.max_connections",
       .env = "RSTMDB_MAX_CONNECTIONS",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 1,
       .max = 1'000'000,
       .summary = "concurrent connections, TLS handshakes included; beyond it new ones are closed",
       .field = RSTMDB_FIELD(network.max_connections)},
      {.key = "network.max_frame_bytes",
       .env = "RSTMDB_MAX_FRAME_BYTES",
       .kind = K::Unsigned,
       .reloadable = false,
       .min = 4096,
       .max = 16'777'216,
       .summary = "largest request payload or JSONL line, 4 KiB..16 MiB",
       .field = RSTMDB_FIELD(network.max_frame_bytes)},
      {.key = "network.max_in_flight",
       .env = "RSTMDB_MAX_IN_FLIGHT",
       .kind = K::Unsigned,
       .reloadable = false,
       .min = 1,
       .max = 65'536,
       .summary = "requests in flight per connection; at the limit reading pauses",
       .field = RSTMDB_FIELD(network.max_in_flight)},
      {.key = "network.max_write_buffer_bytes",
       .env = "RSTMDB_MAX_WRITE_BUFFER",
       .kind = K::Unsigned,
       .reloadable = false,
       .min = 65'536,
       .max = kSixteenGiB,
       .summary = "unsent bytes per connection; above it reading pauses",
       .field = RSTMDB_FIELD(network.max_write_buffer_bytes)},
      {.key = "network.write_timeout_secs",
       .env = "RSTMDB_WRITE_TIMEOUT",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = kOneDaySecs,
       .summary = "close a connection whose unsent replies make no write progress for N s; 0 = off",
       .field = RSTMDB_FIELD(network.write_timeout_secs)},
      {.key = "network.handshake_timeout_secs",
       .env = "RSTMDB_HANDSHAKE_TIMEOUT",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = 3600,
       .summary = "TLS handshake deadline; 0 = none",
       .field = RSTMDB_FIELD(network.handshake_timeout_secs)},
      {.key = "network.io_threads",
       .env = "RSTMDB_IO_THREADS",
       .kind = K::Unsigned,
       .reloadable = false,
       .min = 0,
       .max = 16,
       .summary = "network threads; 0 = number of CPUs (at most 16)",
       .field = RSTMDB_FIELD(network.io_threads)},
      {.key = "network.io_spin_us",
       .env = "RSTMDB_IO_SPIN_US",
       .kind = K::Unsigned,
       .reloadable = false,
       .min = 0,
       .max = 10000,
       .summary = "busy-poll an idle network thread this long before it sleeps; 0 = off",
       .field = RSTMDB_FIELD(network.io_spin_us)},
      {.key = "network.shutdown_grace_secs",
       .env = "RSTMDB_SHUTDOWN_GRACE",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = 3600,
       .summary = "drain deadline on SIGTERM; keep below the supervisor's stop timeout",
       .field = RSTMDB_FIELD(network.shutdown_grace_secs)},
      // auth
      {.key = "auth.required",
       .env = "RSTMDB_AUTH_REQUIRED",
       .kind = K::Bool,
       .reloadable = true,
       .summary = "require AUTH for every op except HELLO/AUTH/PING/BYE",
       .field = RSTMDB_FIELD(auth.required)},
      {.key = "auth.token_hashes",
       .env = "RSTMDB_AUTH_TOKEN_HASH",
       .kind = K::TokenHashes,
       .reloadable = true,
       .summary = "SHA-256 hex digests of accepted tokens (rstmdb-cli hash-token)",
       .field = RSTMDB_FIELD(auth.token_hashes)},
      {.key = "auth.secrets_file",
       .env = "RSTMDB_AUTH_SECRETS_FILE",
       .alias = "auth.token_hashes_file",
       .kind = K::OptionalPath,
       .reloadable = true,
       .summary = "file with one \"HASH [LABEL]\" per line",
       .field = RSTMDB_FIELD(auth.secrets_file)},
      {.key = "auth.max_failures_per_connection",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = 1'000'000,
       .summary = "close a connection after this many failed AUTHs; 0 = unlimited",
       .field = RSTMDB_FIELD(auth.max_failures_per_connection)},
      // storage
      {.key = "storage.data_dir",
       .env = "RSTMDB_DATA",
       .kind = K::Path,
       .reloadable = false,
       .summary = "data directory (created 0700); relative to the working directory",
       .field = RSTMDB_FIELD(storage.data_dir)},
      {.key = "storage.fsync_policy",
       .env = "RSTMDB_FSYNC_POLICY",
       .kind = K::FsyncPolicy,
       .reloadable = false,
       .summary = "every_write | every_n:N | every_ms:N | never",
       .field = RSTMDB_FIELD(storage.fsync_policy)},
      {.key = "storage.wal_segment_size_mb",
       .env = "RSTMDB_WAL_SEGMENT_SIZE_MB",
       .kind = K::Unsigned,
       .reloadable = false,
       .min = 1,
       .max = 4096,
       .summary = "RocksDB write-buffer size in MiB (upstream name)",
       .field = RSTMDB_FIELD(storage.wal_segment_size_mb)},
      {.key = "storage.max_machine_versions",
       .env = "RSTMDB_MAX_MACHINE_VERSIONS",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = kU32Max,
       .summary = "versions kept per machine; 0 = unlimited",
       .field = RSTMDB_FIELD(storage.max_machine_versions)},
      {.key = "storage.allow_instance_recreate",
       .env = "RSTMDB_ALLOW_INSTANCE_RECREATE",
       .kind = K::Bool,
       .reloadable = true,
       .summary = "deleted instance ids may be created again",
       .field = RSTMDB_FIELD(storage.allow_instance_recreate)},
      {.key = "storage.allow_flush_all",
       .env = "RSTMDB_ALLOW_FLUSH_ALL",
       .kind = K::Bool,
       .reloadable = true,
       .summary = "enable FLUSH_ALL (logged at WARN)",
       .field = RSTMDB_FIELD(storage.allow_flush_all)},
      {.key = "storage.idempotency_ttl_secs",
       .env = "RSTMDB_IDEMPOTENCY_TTL",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = kTenYearsSecs,
       .summary = "how long idempotency keys are kept; 0 = forever",
       .field = RSTMDB_FIELD(storage.idempotency_ttl_secs)},
      {.key = "storage.block_cache_mb",
       .env = "RSTMDB_BLOCK_CACHE_MB",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 1,
       .max = kOneTiBInMb,
       .summary = "RocksDB block cache in MiB; resized live",
       .field = RSTMDB_FIELD(storage.block_cache_mb)},
      {.key = "storage.instance_cache_mb",
       .env = "RSTMDB_INSTANCE_CACHE_MB",
       .kind = K::Unsigned,
       .reloadable = false,
       .min = 1,
       .max = kOneTiBInMb,
       .summary = "parsed instances kept by the write sequencer, in MiB; least recently used go first",
       .field = RSTMDB_FIELD(storage.instance_cache_mb)},
      {.key = "storage.memtable",
       .env = "RSTMDB_MEMTABLE",
       .kind = K::Choice,
       .reloadable = false,
       .choices = memtables,
       .summary = "memtable representation: ordered (ours) | skiplist (RocksDB's own)",
       .field = RSTMDB_FIELD(storage.memtable)},
      {.key = "storage.max_open_files",
       .kind = K::Signed,
       .reloadable = false,
       .min = 20,
       .max = 1'000'000,
       .minus_one_allowed = true,
       .summary = "RocksDB open files; -1 = unlimited",
       .field = RSTMDB_FIELD(storage.max_open_files)},
      // compaction
      {.key = "compaction.enabled",
       .env = "RSTMDB_COMPACT_ENABLED",
       .kind = K::Bool,
       .reloadable = true,
       .summary = "automatic compaction (manual COMPACT always works)",
       .field = RSTMDB_FIELD(compaction.enabled)},
      {.key = "compaction.events_threshold",
       .env = "RSTMDB_COMPACT_EVENTS",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = kMaxCount,
       .summary = "run after N new log entries; 0 = off",
       .field = RSTMDB_FIELD(compaction.events_threshold)},
      {.key = "compaction.size_threshold_mb",
       .env = "RSTMDB_COMPACT_SIZE_MB",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = kOneTiBInMb,
       .summary = "run when the log exceeds N MiB and has trimmable entries; 0 = off",
       .field = RSTMDB_FIELD(compaction.size_threshold_mb)},
      {.key = "compaction.min_interval_secs",
       .env = "RSTMDB_COMPACT_INTERVAL",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = kOneYearSecs,
       .summary = "minimum gap between automatic runs",
       .field = RSTMDB_FIELD(compaction.min_interval_secs)},
      {.key = "compaction.retain_entries",
       .env = "RSTMDB_COMPACT_RETAIN_ENTRIES",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = kMaxCount,
       .summary = "always keep the newest N log entries",
       .field = RSTMDB_FIELD(compaction.retain_entries)},
      {.key = "compaction.retain_secs",
       .env = "RSTMDB_COMPACT_RETAIN_SECS",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 0,
       .max = kTenYearsSecs,
       .summary = "keep log entries younger than N s",
       .field = RSTMDB_FIELD(compaction.retain_secs)},
      // tls
      {.key = "tls.enabled",
       .env = "RSTMDB_TLS_ENABLED",
       .kind = K::Bool,
       .reloadable = false,
       .summary = "TLS on the whole RCP listener",
       .field = RSTMDB_FIELD(tls.enabled)},
      {.key = "tls.cert_path",
       .env = "RSTMDB_TLS_CERT",
       .alias = "tls.cert_file",
       .kind = K::OptionalPath,
       .reloadable = true,
       .summary = "PEM certificate chain",
       .field = RSTMDB_FIELD(tls.cert_path)},
      {.key = "tls.key_path",
       .env = "RSTMDB_TLS_KEY",
       .alias = "tls.key_file",
       .kind = K::OptionalPath,
       .reloadable = true,
       .summary = "unencrypted PEM private key",
       .field = RSTMDB_FIELD(tls.key_path)},
      {.key = "tls.require_client_cert",
       .env = "RSTMDB_TLS_REQUIRE_CLIENT_CERT",
       .kind = K::Bool,
       .reloadable = true,
       .summary = "mTLS: clients must present a certificate signed by client_ca_path",
       .field = RSTMDB_FIELD(tls.require_client_cert)},
      {.key = "tls.client_ca_path",
       .env = "RSTMDB_TLS_CLIENT_CA",
       .alias = "tls.ca_file",
       .kind = K::OptionalPath,
       .reloadable = true,
       .summary = "PEM CA bundle for client certificates (mTLS)",
       .field = RSTMDB_FIELD(tls.client_ca_path)},
      {.key = "tls.min_version",
       .env = "RSTMDB_TLS_MIN_VERSION",
       .kind = K::Choice,
       .reloadable = true,
       .choices = tls_versions,
       .summary = "lowest TLS version, \"1.2\" or \"1.3\"",
       .field = RSTMDB_FIELD(tls.min_version)},
      {.key = "tls.cipher_list",
       .kind = K::Text,
       .reloadable = true,
       .summary = "OpenSSL TLS 1.2 cipher list",
       .field = RSTMDB_FIELD(tls.cipher_list)},
      {.key = "tls.ciphersuites",
       .kind = K::Text,
       .reloadable = true,
       .summary = "OpenSSL TLS 1.3 suites",
       .field = RSTMDB_FIELD(tls.ciphersuites)},
      // metrics
      {.key = "metrics.enabled",
       .env = "RSTMDB_METRICS_ENABLED",
       .kind = K::Bool,
       .reloadable = false,
       .summary = "HTTP endpoint with /metrics, /health, /ready",
       .field = RSTMDB_FIELD(metrics.enabled)},
      {.key = "metrics.bind_addr",
       .env = "RSTMDB_METRICS_BIND",
       .kind = K::Address,
       .reloadable = false,
       .summary = "HTTP endpoint address",
       .field = RSTMDB_FIELD(metrics.bind_addr)},
      {.key = "metrics.state_gauges",
       .kind = K::Bool,
       .reloadable = true,
       .summary = "export per-machine/state gauges",
       .field = RSTMDB_FIELD(metrics.state_gauges)},
      // logging
      {.key = "logging.level",
       .env = "RSTMDB_LOG_LEVEL",
       .kind = K::Choice,
       .reloadable = true,
       .choices = levels,
       .summary = "trace | debug | info | warn | error | critical | off",
       .field = RSTMDB_FIELD(logging.level)},
      {.key = "logging.format",
       .env = "RSTMDB_LOG_FORMAT",
       .kind = K::Choice,
       .reloadable = false,
       .choices = formats,
       .summary = "text | json (pretty = text)",
       .field = RSTMDB_FIELD(logging.format)},
      {.key = "logging.access_log",
       .env = "RSTMDB_ACCESS_LOG",
       .kind = K::Choice,
       .reloadable = true,
       .choices = access,
       .summary = "audit lines: off | writes | all",
       .field = RSTMDB_FIELD(logging.access_log)},
      // watch
      {.key = "watch.max_subscriptions_per_connection",
       .kind = K::Unsigned,
       .reloadable = true,
       .min = 1,
       .max = 65'536,
       .summary = "subscriptions per connection; beyond it BAD_REQUEST",
       .field = RSTMDB_FIELD(watch.max_subscriptions_per_connection)},
      {.key = "watch.queue_events",
       .env = "RSTMDB_WATCH_QUEUE_EVENTS",
       .kind = K::Unsigned,
       .reloadable = false,
       .min = 1,
       .max = 1'048'576,
       .summary = "queued events per connection before catch-up from the log",
       .field = RSTMDB_FIELD(watch.queue_events)},
      {.key = "watch.queue_bytes",
       .kind = K::Unsigned,
       .reloadable = false,
       .min = 65'536,
       .max = kSixteenGiB,
       .summary = "queued event bytes per connection before catch-up from the log",
       .field = RSTMDB_FIELD(watch.queue_bytes)},
      // admin
      {.key = "admin.socket_path",
       .kind = K::OptionalPath,
       .reloadable = false,
       .summary = "admin socket; default <data_dir>/admin.sock; at most 107 bytes",
       .field = RSTMDB_FIELD(admin.socket_path)},
  };
}

#undef RSTMDB_FIELD

// Full value for comparisons; unlike render_value it includes token hashes and labels.
std::string comparable_value(const Config& config, const KeyInfo& key) {
  if (key.kind == ValueKind::TokenHashes) {
    std::string out;
    for (std::size_t i = 0; i < config.auth.token_hashes.size(); ++i) {
      out += config.auth.token_hashes[i];
      out += '\x1f';
      if (i < config.auth.token_labels.size()) out += config.auth.token_labels[i];
      out += '\x1e';
    }
    return out;
  }
  return render_value(config, key);
}

}  // namespace

const std::vector<KeyInfo>& registered_keys() {
  static const std::vector<KeyInfo> registry = build_registry();
  return registry;
}

const KeyInfo* find_key(std::string_view name) {
  for (const KeyInfo& key : registered_keys()) {
    if (key.key == name || (!key.alias.empty() && key.alias == name)) return &key;
  }
  return nullptr;
}

std::string render_value(const Config& config, const KeyInfo& key) {
  // The accessors take a mutable Config because the loader writes through them; rendering only
  // reads.
  Config& c = const_cast<Config&>(config);
  return std::visit(
      [&](auto get) -> std::string {
        auto& value = get(c);
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, bool>) {
          return value ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::uint32_t> || std::is_same_v<T, std::uint64_t> ||
                             std::is_same_v<T, std::int32_t>) {
          return std::to_string(value);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return double_quoted(value);
        } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
          return value ? double_quoted(*value) : "null";
        } else if constexpr (std::is_same_v<T, FsyncPolicy>) {
          const std::string text = value.to_string();
          return text.find(':') == std::string::npos ? text : double_quoted(text);
        } else {
          static_assert(std::is_same_v<T, std::vector<std::string>>);
          return std::to_string(value.size());
        }
      },
      key.field);
}

std::vector<std::string> changed_keys(const Config& before, const Config& after) {
  std::vector<std::string> out;
  for (const KeyInfo& key : registered_keys()) {
    if (comparable_value(before, key) != comparable_value(after, key)) out.emplace_back(key.key);
  }
  return out;
}

}  // namespace rstmdb::config
