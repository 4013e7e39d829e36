#include <catch2/catch.hpp>

#include "config/config_test_support.hpp"
#include "config/loader.hpp"

using namespace rstmdb::config;
using namespace rstmdb::config::test;

namespace {
constexpr std::string_view kFile = "file:/etc/rstmdb/config.yaml";
std::string at(int line, int col) {
  return std::string(kFile) + ":" + std::to_string(line) + ":" + std::to_string(col);
}
}  // namespace

TEST_CASE("the spec's example message", "[config][validation]") {
  const LoadResult r = load_env({{"RSTMDB_MAX_CONNECTIONS", "0"}});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] ==
        "rstmdbd: config error: network.max_connections (env RSTMDB_MAX_CONNECTIONS): must be 1..1000000, "
        "got \"0\"");
}

TEST_CASE("wrong types name key and file position", "[config][validation]") {
  const LoadResult r = load_yaml(
      "network:\n"
      "  max_connections: lots\n"  // 2
      "  bind_addr: [a, b]\n"      // 3
      "auth:\n"
      "  required: maybe\n"  // 5
      "storage:\n"
      "  data_dir: {a: 1}\n"      // 7
      "  max_open_files: many\n"  // 8
      "tls:\n"
      "  min_version: [1.2]\n");  // 10
  CHECK(any_line_has(r.errors, {"network.max_connections (" + at(2, 20) +
                                "): must be an integer in 1..1000000, got \"lots\""}));
  CHECK(any_line_has(r.errors,
                     {"network.bind_addr (" + at(3, 14) + "): must be a single value, got a sequence"}));
  CHECK(any_line_has(r.errors, {"auth.required (" + at(5, 13) + "): must be true or false", "\"maybe\""}));
  CHECK(any_line_has(r.errors,
                     {"storage.data_dir (" + at(7, 13) + "): must be a single value, got a mapping"}));
  CHECK(any_line_has(r.errors, {"storage.max_open_files (" + at(8, 19) + "): must be an integer"}));
  CHECK(any_line_has(r.errors, {"tls.min_version (" + at(10, 16) + ")"}));
  CHECK(r.errors.size() == 6);
}

TEST_CASE("ranges are enforced for every numeric key", "[config][validation]") {
  struct Case {
    const char* yaml;
    const char* key;
    const char* problem;
  };
  const Case cases[] = {
      {"network: {max_frame_bytes: 4095}", "network.max_frame_bytes", "must be 4096..16777216, got \"4095\""},
      {"network: {max_frame_bytes: 16777217}", "network.max_frame_bytes", "must be 4096..16777216"},
      {"network: {max_in_flight: 0}", "network.max_in_flight", "must be 1..65536"},
      {"network: {io_threads: 17}", "network.io_threads", "must be 0..16"},
      {"network: {io_spin_us: 10001}", "network.io_spin_us", "must be 0..10000"},
      {"network: {max_connections: -5}", "network.max_connections", "must be 1..1000000, got \"-5\""},
      {"network: {max_connections: 99999999999999999999999}", "network.max_connections",
       "must be 1..1000000"},
      {"network: {max_write_buffer_bytes: 100}", "network.max_write_buffer_bytes", "must be 65536.."},
      {"network: {handshake_timeout_secs: 3601}", "network.handshake_timeout_secs", "must be 0..3600"},
      {"storage: {wal_segment_size_mb: 0}", "storage.wal_segment_size_mb", "must be 1..4096"},
      {"storage: {max_machine_versions: 4294967296}", "storage.max_machine_versions",
       "must be 0..4294967295"},
      {"storage: {max_open_files: 5}", "storage.max_open_files", "must be -1 (unlimited) or 20..1000000"},
      {"storage: {max_open_files: -2}", "storage.max_open_files", "must be -1 (unlimited) or 20..1000000"},
      {"storage: {block_cache_mb: 0}", "storage.block_cache_mb", "must be 1..1048576"},
      {"watch: {queue_events: 0}", "watch.queue_events", "must be 1..1048576"},
      {"watch: {max_subscriptions_per_connection: 0}", "watch.max_subscriptions_per_connection",
       "must be 1..65536"},
      {"network: {max_connections: 0x10}", "network.max_connections", "must be an integer"},
      {"network: {max_connections: 1.5}", "network.max_connections", "must be an integer"},
  };
  for (const Case& c : cases) {
    const LoadResult r = load_yaml(c.yaml);
    INFO(c.yaml << "\n" << joined(r.errors));
    CHECK(any_line_has(r.errors, {std::string(c.key) + " (" + std::string(kFile), c.problem}));
    CHECK(r.errors.size() == 1);
  }
}

TEST_CASE("in-range boundary values are accepted", "[config][validation]") {
  const LoadResult r = load_yaml(
      "network: {max_frame_bytes: 4096, max_in_flight: 65536, io_threads: 16, max_connections: 1000000,"
      " idle_timeout_secs: 0, handshake_timeout_secs: 0, io_spin_us: 10000}\n"
      "storage: {max_open_files: -1, max_machine_versions: 4294967295}\n");
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config.storage.max_open_files == -1);
  CHECK(r.config.storage.max_machine_versions == 4294967295u);
  CHECK(r.config.network.max_frame_bytes == 4096);
  CHECK(r.config.network.io_spin_us == 10000);
}

TEST_CASE("enums: levels, formats, access log, TLS version, memtable", "[config][validation]") {
  LoadResult r = load_yaml(
      "logging: {level: WARNING, format: pretty, access_log: Writes}\ntls: {min_version: 1.3}\n"
      "storage: {memtable: SkipList}\n");
  REQUIRE(r.ok());
  CHECK(r.config.logging.level == "warn");
  CHECK(r.config.logging.format == "text");
  CHECK(r.config.logging.access_log == "writes");
  CHECK(r.config.tls.min_version == "1.3");
  CHECK(r.config.storage.memtable == "skiplist");
  CHECK(load_yaml("storage: {memtable: ordered}\n").config.storage.memtable == "ordered");
  CHECK(load_yaml("network: {}\n").config.storage.memtable == "ordered");  // the default

  r = load_yaml("tls: {min_version: \"1.2\"}\n");
  REQUIRE(r.ok());
  CHECK(r.config.tls.min_version == "1.2");

  r = load_yaml(
      "logging: {level: loud, format: xml, access_log: some}\ntls: {min_version: 1.1}\n"
      "storage: {memtable: hash_skiplist}\n");
  CHECK(any_line_has(r.errors,
                     {"logging.level (" + std::string(kFile),
                      "must be one of trace, debug, info, warn, error, critical, off; got \"loud\""}));
  CHECK(any_line_has(r.errors, {"logging.format (", "must be one of text, json; got \"xml\""}));
  CHECK(any_line_has(r.errors, {"logging.access_log (", "must be one of off, writes, all"}));
  CHECK(any_line_has(r.errors, {"tls.min_version (", "must be one of 1.2, 1.3; got \"1.1\""}));
  CHECK(any_line_has(r.errors,
                     {"storage.memtable (", "must be one of ordered, skiplist; got \"hash_skiplist\""}));
}

TEST_CASE("bind addresses", "[config][validation]") {
  for (const char* ok : {"0.0.0.0:7401", "[::]:0", "[::1]:65535", "localhost:7401",
                         "db-1.internal.example:9090", "[fe80::1%eth0]:7401"}) {
    LoadOptions options;
    options.flags = {{"network.bind_addr", ok, "--bind"}};
    const LoadResult r = load_config(options);
    INFO(ok << "\n" << joined(r.errors));
    CHECK(r.ok());
    CHECK(r.config.network.bind_addr == ok);
  }
  for (const char* bad : {"7401", ":7401", "::1:7401", "1.2.3.4:65536", "999.1.1.1:1", "host:", "[::1]",
                          "[zz]:1", "bad_-.name:1", "-bad:1", "host:port"}) {
    LoadOptions options;
    options.flags = {{"metrics.bind_addr", bad, "--metrics-bind"}};
    const LoadResult r = load_config(options);
    INFO(bad);
    CHECK(any_line_has(r.errors, {"metrics.bind_addr (flag --metrics-bind): "}));
  }
}

TEST_CASE("metrics must not share the RCP address", "[config][validation]") {
  LoadResult r = load_yaml("network: {bind_addr: \"0.0.0.0:9090\"}\nmetrics: {enabled: true}\n");
  CHECK(any_line_has(r.errors, {"metrics.bind_addr (default): must differ from network.bind_addr (file:"}));
  r = load_yaml("network: {bind_addr: \"0.0.0.0:9090\"}\nmetrics: {enabled: false}\n");
  CHECK(r.ok());
}

TEST_CASE("duplicate keys are errors at every level", "[config][validation]") {
  const LoadResult r = load_yaml(
      "network:\n"
      "  max_connections: 1\n"
      "  max_connections: 2\n"
      "storage: {}\n"
      "storage: {}\n");
  CHECK(any_line_has(
      r.errors, {"network.max_connections (" + at(3, 3) + "): duplicate key (first at line 2, column 3)"}));
  CHECK(any_line_has(r.errors, {"storage (" + at(5, 1) + "): duplicate key (first at line 4, column 1)"}));
}

TEST_CASE("alias and canonical key together conflict", "[config][validation]") {
  LoadResult r = load_yaml("tls:\n  cert_path: /a.pem\n  cert_file: /b.pem\n");
  CHECK(any_line_has(
      r.errors, {"tls.cert_file (" + at(3, 14) + "): conflicts with tls.cert_path (" + at(2, 14) + ")"}));

  r = load_yaml("auth:\n  token_hashes_file: /a\n  secrets_file: /b\n");
  CHECK(any_line_has(r.errors, {"auth.secrets_file (", "conflicts with auth.token_hashes_file ("}));

  r = load_yaml("tls:\n  ca_file: /a\n  client_ca_path: /b\n");
  CHECK(any_line_has(r.errors, {"tls.client_ca_path (", "conflicts with tls.ca_file"}));

  // Across layers the usual precedence applies instead.
  LoadOptions options;
  options.check_files = false;
  options.env = {{"RSTMDB_TLS_KEY", "/env.key"}};
  r = load_yaml("tls:\n  key_file: /file.key\n", options);
  REQUIRE(r.ok());
  CHECK(r.config.tls.key_path == "/env.key");
}

TEST_CASE("token hashes must be 64 hex digits and are normalised", "[config][validation]") {
  std::string upper = kHashA;
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  LoadResult r = load_yaml("auth:\n  token_hashes:\n    - \"  " + upper + " \"\n    - " + kHashA +
                           "\n    - " + kHashB + "\n");
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config.auth.token_hashes == std::vector<std::string>{kHashA, kHashB});
  CHECK(r.config.auth.token_labels == std::vector<std::string>{"", ""});

  r = load_yaml("auth:\n  token_hashes:\n    - " + kHashA + "\n    - my-secret-token\n    - [x]\n");
  CHECK(any_line_has(r.errors, {"auth.token_hashes (" + at(4, 7) + "): must be a SHA-256 hash (64 hex digits",
                                "got 15 characters"}));
  CHECK(any_line_has(r.errors, {"auth.token_hashes (" + at(5, 7) + "): entries must be strings"}));
  // The rejected value itself is never echoed: it might be a real token.
  for (const auto& e : r.errors)
    CHECK(e.find("my-secret-token") == std::string::npos);

  r = load_env({{"RSTMDB_AUTH_TOKEN_HASH", kHashA + ",zz"}});
  CHECK(any_line_has(r.errors, {"auth.token_hashes (env RSTMDB_AUTH_TOKEN_HASH): must be a SHA-256 hash"}));

  r = load_yaml("auth:\n  token_hashes: {a: b}\n");
  CHECK(any_line_has(r.errors, {"auth.token_hashes (", "must be a list of SHA-256 hashes, got a mapping"}));
}

TEST_CASE("token hashes from every source are combined without duplicates", "[config][validation]") {
  LoadOptions options;
  options.env = {{"RSTMDB_AUTH_TOKEN_HASH", kHashB + ", " + kHashA}};
  options.flags = {{"auth.token_hashes", kHashA}};
  const LoadResult r = load_yaml("auth:\n  token_hashes: [" + kHashA + "]\n", options);
  REQUIRE(r.ok());
  CHECK(r.config.auth.token_hashes == std::vector<std::string>{kHashA, kHashB});
  CHECK(r.sources.at("auth.token_hashes") == at(2, 17) + ", env RSTMDB_AUTH_TOKEN_HASH, flag --set");
}

TEST_CASE("auth.required needs at least one hash", "[config][validation]") {
  LoadResult r = load_yaml("auth:\n  required: true\n");
  CHECK(any_line_has(r.errors,
                     {"auth.required (" + at(2, 13) + "): is true but no token hashes are configured"}));

  r = load_env({{"RSTMDB_AUTH_REQUIRED", "yes"}});
  CHECK(any_line_has(r.errors, {"auth.required (env RSTMDB_AUTH_REQUIRED)"}));

  r = load_env({{"RSTMDB_AUTH_REQUIRED", "yes"}, {"RSTMDB_AUTH_TOKEN_HASH", kHashA}});
  CHECK(r.ok());
  CHECK(r.config.auth.required);
}

TEST_CASE("TLS needs a certificate and key, mTLS needs a CA", "[config][validation]") {
  LoadResult r = load_yaml("tls:\n  enabled: true\n");
  CHECK(any_line_has(r.errors,
                     {"tls.cert_path (not set): required when tls.enabled is true (" + at(2, 12) + ")"}));
  CHECK(any_line_has(r.errors, {"tls.key_path (not set): required when tls.enabled is true"}));

  r = load_env({{"RSTMDB_TLS_REQUIRE_CLIENT_CERT", "on"}});
  CHECK(any_line_has(r.errors, {"tls.client_ca_path (not set): required when tls.require_client_cert is true "
                                "(env RSTMDB_TLS_REQUIRE_CLIENT_CERT)"}));

  // Paths are not read while TLS is off.
  r = load_yaml("tls:\n  cert_path: /nonexistent.pem\n  key_path: /nonexistent.key\n");
  CHECK(r.ok());
}

TEST_CASE("cipher lists are checked with OpenSSL", "[config][validation]") {
  LoadResult r = load_yaml("tls:\n  cipher_list: NOT-A-CIPHER\n  ciphersuites: TLS_NOPE\n");
  CHECK(
      any_line_has(r.errors, {"tls.cipher_list (" + at(2, 16) + "): OpenSSL accepts none of these ciphers"}));
  CHECK(any_line_has(r.errors, {"tls.ciphersuites (" + at(3, 17) + ")"}));
  r = load_yaml("tls:\n  cipher_list: \"\"\n");
  CHECK(any_line_has(r.errors, {"tls.cipher_list (", "must not be empty"}));
}

TEST_CASE("replication must be standalone", "[config][validation]") {
  LoadResult r = load_yaml("replication:\n  role: standalone\n  mode: async\n  upstream: null\n");
  CHECK(r.ok());
  CHECK(r.warnings.empty());

  r = load_yaml("replication:\n  role: primary\n");
  CHECK(any_line_has(r.errors,
                     {"replication.role (" + at(2, 9) + "): must be \"standalone\"", "got \"primary\""}));

  r = load_yaml("replication:\n  role: [x]\n");
  CHECK(any_line_has(r.errors, {"replication.role (", "got a sequence"}));

  r = load_env({{"RSTMDB_REPL_ROLE", "replica"}});
  CHECK(any_line_has(r.errors, {"replication.role (env RSTMDB_REPL_ROLE)"}));

  r = load_yaml("replication: 5\n");
  CHECK(any_line_has(r.errors, {"replication (" + at(1, 14) + "): must be a mapping"}));
}

TEST_CASE("http section is accepted as is", "[config][validation]") {
  const LoadResult r = load_yaml("http:\n  bind_addr: 0.0.0.0:8080\n  cors: [a]\n");
  CHECK(r.ok());
  CHECK(r.warnings.empty());
}

TEST_CASE("fsync policy forms", "[config][validation]") {
  struct Case {
    const char* yaml;
    FsyncPolicy::Kind kind;
    std::uint64_t n;
  };
  const Case good[] = {
      {"every_write", FsyncPolicy::Kind::EveryWrite, 0},
      {"EVERY_WRITE", FsyncPolicy::Kind::EveryWrite, 0},
      {"never", FsyncPolicy::Kind::Never, 0},
      {"Never", FsyncPolicy::Kind::Never, 0},
      {"\"every_n:10\"", FsyncPolicy::Kind::EveryN, 10},
      {"every_n:10", FsyncPolicy::Kind::EveryN, 10},
      {"\"Every_MS: 5\"", FsyncPolicy::Kind::EveryMs, 5},
      {"{every_n: 3}", FsyncPolicy::Kind::EveryN, 3},
      {"{EVERY_MS: 250}", FsyncPolicy::Kind::EveryMs, 250},
      {"!every_n 7", FsyncPolicy::Kind::EveryN, 7},
      {"every_ms:60000", FsyncPolicy::Kind::EveryMs, 60000},
  };
  for (const Case& c : good) {
    const LoadResult r = load_yaml(std::string("storage:\n  fsync_policy: ") + c.yaml + "\n");
    INFO(c.yaml << "\n" << joined(r.errors));
    REQUIRE(r.ok());
    CHECK(r.config.storage.fsync_policy.kind == c.kind);
    CHECK(r.config.storage.fsync_policy.n == c.n);
    CHECK(r.sources.at("storage.fsync_policy") == at(2, 17));
  }
  const char* bad[] = {"sometimes",
                       "every_n",
                       "every_n:0",
                       "every_n:-1",
                       "every_n:x",
                       "every_ms:60001",
                       "{every_n: 0}",
                       "{every_n: 1, every_ms: 2}",
                       "{every_sec: 1}",
                       "{every_n: [1]}",
                       "[every_n]",
                       "every_write:1",
                       "\"\""};
  for (const char* yaml : bad) {
    const LoadResult r = load_yaml(std::string("storage:\n  fsync_policy: ") + yaml + "\n");
    INFO(yaml << "\n" << joined(r.errors));
    CHECK(any_line_has(r.errors, {"storage.fsync_policy (" + at(2, 17) + "): "}));
  }
  const LoadResult env = load_env({{"RSTMDB_FSYNC_POLICY", "every_n"}});
  CHECK(
      any_line_has(env.errors, {"storage.fsync_policy (env RSTMDB_FSYNC_POLICY): must be every_write, never, "
                                "every_n:N (N 1..1000000) or every_ms:N (N 1..60000), got \"every_n\""}));
  CHECK(FsyncPolicy{FsyncPolicy::Kind::EveryMs, 9}.to_string() == "every_ms:9");
}

TEST_CASE("admin socket path length", "[config][validation]") {
  LoadResult r = load_yaml("admin:\n  socket_path: /" + std::string(107, 'a') + "\n");
  CHECK(
      any_line_has(r.errors, {"admin.socket_path (" + at(2, 16) + "): must be at most 107 bytes, got 108"}));

  r = load_yaml("admin:\n  socket_path: /" + std::string(106, 'a') + "\n");
  CHECK(r.ok());

  // The default <data_dir>/admin.sock is checked too.
  LoadOptions options;
  options.flags = {{"storage.data_dir", "/" + std::string(100, 'd'), "--data-dir"}};
  r = load_config(options);
  CHECK(any_line_has(r.errors,
                     {"admin.socket_path (default): the default", "(storage.data_dir, flag --data-dir)"}));
}

TEST_CASE("strings must not be empty", "[config][validation]") {
  const LoadResult r = load_yaml("storage:\n  data_dir: \"\"\nauth:\n  secrets_file: \"  \"\n");
  CHECK(any_line_has(r.errors, {"storage.data_dir (" + at(2, 13) + "): must not be empty"}));
  CHECK(any_line_has(r.errors, {"auth.secrets_file (", "must not be empty"}));
}

TEST_CASE("sections must be mappings, keys must be scalars", "[config][validation]") {
  const LoadResult r = load_yaml("network: 5\nstorage: [a]\nlogging:\n  ? [a]\n  : b\n");
  CHECK(any_line_has(r.errors, {"network (" + at(1, 10) + "): must be a mapping, got a scalar"}));
  CHECK(any_line_has(r.errors, {"storage (", "must be a mapping, got a sequence"}));
  CHECK(any_line_has(r.errors, {"logging.<key> (", "keys must be plain strings"}));
}

TEST_CASE("long values are cut in messages", "[config][validation]") {
  const LoadResult r = load_yaml("logging:\n  level: " + std::string(500, 'x') + "\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].size() < 250);
  CHECK(r.errors[0].find("...") != std::string::npos);
}
