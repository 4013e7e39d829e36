#include <catch2/catch.hpp>

#include "config/config_test_support.hpp"
#include "config/keys.hpp"
#include "config/loader.hpp"

using namespace rstmdb::config;
using namespace rstmdb::config::test;

TEST_CASE("environment booleans", "[config][env]") {
  for (const char* yes : {"1", "true", "TRUE", "yes", "Yes", "on", "ON", " true "}) {
    const LoadResult r = load_env({{"RSTMDB_METRICS_ENABLED", yes}});
    INFO(yes);
    REQUIRE(r.ok());
    CHECK(r.config.metrics.enabled);
  }
  for (const char* no : {"0", "false", "False", "no", "NO", "off", "Off"}) {
    const LoadResult r = load_env({{"RSTMDB_COMPACT_ENABLED", no}});
    INFO(no);
    REQUIRE(r.ok());
    CHECK(!r.config.compaction.enabled);
    CHECK(r.sources.at("compaction.enabled") == "env RSTMDB_COMPACT_ENABLED");
  }
  for (const char* bad : {"2", "enabled", "y", "t"}) {
    const LoadResult r = load_env({{"RSTMDB_ALLOW_FLUSH_ALL", bad}});
    INFO(bad);
    CHECK(any_line_has(r.errors,
                       {"storage.allow_flush_all (env RSTMDB_ALLOW_FLUSH_ALL): must be true or false"}));
  }
}

TEST_CASE("an empty environment value is unset", "[config][env]") {
  const LoadResult r =
      load_env({{"RSTMDB_MAX_CONNECTIONS", ""}, {"RSTMDB_BIND", "  "}, {"RSTMDB_LOG_LEVEL", ""}});
  REQUIRE(r.ok());
  CHECK(r.config.network.max_connections == 1000);
  CHECK(r.sources.at("network.bind_addr") == "default");
}

TEST_CASE("environment numbers are decimal and range-checked", "[config][env]") {
  LoadResult r = load_env({{"RSTMDB_IDLE_TIMEOUT", "0"}, {"RSTMDB_BLOCK_CACHE_MB", "512"}});
  REQUIRE(r.ok());
  CHECK(r.config.network.idle_timeout_secs == 0);
  CHECK(r.config.storage.block_cache_mb == 512);

  r = load_env(
      {{"RSTMDB_IDLE_TIMEOUT", "5m"}, {"RSTMDB_IO_THREADS", "-1"}, {"RSTMDB_MAX_FRAME_BYTES", "0x1000"}});
  CHECK(any_line_has(r.errors,
                     {"network.idle_timeout_secs (env RSTMDB_IDLE_TIMEOUT): must be an integer", "\"5m\""}));
  CHECK(any_line_has(r.errors, {"network.io_threads (env RSTMDB_IO_THREADS): must be 0..16, got \"-1\""}));
  CHECK(any_line_has(r.errors, {"network.max_frame_bytes (env RSTMDB_MAX_FRAME_BYTES): must be an integer"}));
}

TEST_CASE("every key with an env var can be set from it", "[config][env]") {
  // One valid textual value per kind; the loader must route each variable to its own key.
  std::map<std::string, std::string> env;
  for (const KeyInfo& key : registered_keys()) {
    if (key.env.empty()) continue;
    std::string value;
    switch (key.kind) {
      case ValueKind::Bool:
        value = "false";
        break;
      case ValueKind::Unsigned:
        value = std::to_string(key.max);
        break;
      case ValueKind::Signed:
        value = "-1";
        break;
      case ValueKind::Address:
        value = "127.0.0.2:1";
        break;
      case ValueKind::Path:
      case ValueKind::OptionalPath:
      case ValueKind::Text:
        value = "/x/" + std::string(key.env);
        break;
      case ValueKind::Choice:
        value = std::string(key.choices.back().first);
        break;
      case ValueKind::FsyncPolicy:
        value = "never";
        break;
      case ValueKind::TokenHashes:
        value = kHashA;
        break;
    }
    env[std::string(key.env)] = value;
  }
  LoadOptions options = forms_options();
  options.env = env;
  options.check_files = false;
  // The secrets file is not read (check_files = false); TLS is off by the Bool value above.
  const LoadResult r = load_config(options);
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  for (const KeyInfo& key : registered_keys()) {
    if (key.env.empty()) continue;
    INFO(key.key);
    CHECK(r.sources.at(std::string(key.key)) == "env " + std::string(key.env));
  }
  CHECK(r.config.storage.data_dir == "/x/RSTMDB_DATA");
  CHECK(r.config.network.max_connections == 1000000);
  CHECK(r.config.logging.level == "warn");  // "warning"
  CHECK(r.config.storage.memtable == "skiplist");
}

TEST_CASE("RUST_LOG is used only without RSTMDB_LOG_LEVEL", "[config][env]") {
  struct Case {
    const char* rust_log;
    const char* level;
  };
  const Case cases[] = {
      {"debug", "debug"},
      {"warn,rstmdb=debug", "debug"},
      {"rstmdb_server=trace,info", "trace"},
      {"info,hyper=warn", "info"},
      {"rstmdbd", "trace"},
      {"WARN", "warn"},
      {"error,rstmdb[span]=debug/foo", "debug"},
  };
  for (const Case& c : cases) {
    const LoadResult r = load_env({{"RUST_LOG", c.rust_log}});
    INFO(c.rust_log);
    REQUIRE(r.ok());
    CHECK(r.config.logging.level == c.level);
    CHECK(r.sources.at("logging.level") == "env RUST_LOG");
  }

  LoadResult r = load_env({{"RUST_LOG", "hyper=debug"}});  // nothing for us: default stays
  REQUIRE(r.ok());
  CHECK(r.config.logging.level == "info");
  CHECK(r.sources.at("logging.level") == "default");

  r = load_env({{"RUST_LOG", "debug"}, {"RSTMDB_LOG_LEVEL", "error"}});
  CHECK(r.config.logging.level == "error");
  CHECK(r.sources.at("logging.level") == "env RSTMDB_LOG_LEVEL");

  r = load_env({{"RUST_LOG", "rstmdb=loud"}});  // foreign variable: warn, never fail
  CHECK(r.ok());
  CHECK(any_line_has(r.warnings, {"logging.level (env RUST_LOG)", "RUST_LOG ignored"}));
  CHECK(r.config.logging.level == "info");

  LoadOptions options;
  options.env = {{"RUST_LOG", "trace"}};
  options.flags = {{"logging.level", "error", "--log-level"}};
  r = load_config(options);
  CHECK(r.config.logging.level == "error");
}

TEST_CASE("unknown RSTMDB_ variables warn, or fail with --strict", "[config][env]") {
  const std::map<std::string, std::string> env = {{"RSTMDB_BINDD", "x"},
                                                  {"RSTMDB_SERVER", "a:1"},
                                                  {"RSTMDB_TOKEN", "t"},
                                                  {"RSTMDB_REPL_MODE", "sync"},
                                                  {"RSTMDB_REPL_ROLE", "Standalone"},
                                                  {"RSTMDB_INSECURE", "1"},
                                                  {"HOME", "/root"},
                                                  {"RSTMDB_CONFIG", ""}};
  LoadResult r = load_env(env);
  CHECK(r.ok());
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] == "rstmdbd: config warning: RSTMDB_BINDD (env): unknown variable, ignored");

  r = load_env(env, true);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == "rstmdbd: config error: RSTMDB_BINDD (env): unknown variable");
}

TEST_CASE("unknown keys and sections warn with position, or fail with --strict", "[config][loader]") {
  const std::string yaml =
      "network:\n"
      "  bind_adr: 1.2.3.4:5\n"
      "extras:\n"
      "  a: 1\n";
  LoadResult r = load_yaml(yaml);
  CHECK(r.ok());
  CHECK(any_line_has(r.warnings,
                     {"rstmdbd: config warning: network.bind_adr (file:/etc/rstmdb/config.yaml:2:3): "
                      "unknown key, ignored"}));
  CHECK(any_line_has(r.warnings, {"extras (file:/etc/rstmdb/config.yaml:3:1): unknown section, ignored"}));

  LoadOptions strict;
  strict.strict = true;
  r = load_yaml(yaml, strict);
  CHECK(r.errors.size() == 2);
  CHECK(any_line_has(r.errors, {"rstmdbd: config error: network.bind_adr (file:/etc/rstmdb/config.yaml:2:3): "
                                "unknown key"}));
  CHECK(r.warnings.empty());
}

TEST_CASE("current_environment reads environ", "[config][env]") {
  ::setenv("RSTMDB_CONFIG_TEST_PROBE", "a=b", 1);
  const auto env = current_environment();
  ::unsetenv("RSTMDB_CONFIG_TEST_PROBE");
  REQUIRE(env.count("RSTMDB_CONFIG_TEST_PROBE") == 1);
  CHECK(env.at("RSTMDB_CONFIG_TEST_PROBE") == "a=b");
}
