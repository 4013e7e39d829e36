#include <catch2/catch.hpp>

#include <set>

#include "config/config_test_support.hpp"
#include "config/keys.hpp"
#include "config/loader.hpp"

using namespace rstmdb::config;
using namespace rstmdb::config::test;

TEST_CASE("defaults load without a file, errors or warnings", "[config][loader]") {
  const LoadResult r = load_config(LoadOptions{});
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  const Config defaults;
  CHECK(r.config.network.bind_addr == defaults.network.bind_addr);
  CHECK(r.config.network.max_connections == 1000);
  CHECK(r.config.storage.fsync_policy.kind == FsyncPolicy::Kind::EveryWrite);
  CHECK(!r.config.config_file);
  CHECK(changed_keys(defaults, r.config).empty());
  REQUIRE(r.sources.size() == registered_keys().size());
  for (const auto& [key, source] : r.sources)
    CHECK(source == "default");
}

TEST_CASE("precedence is default < file < env < flag", "[config][loader]") {
  TempDir dir;
  const std::string path = dir.write("config.yaml",
                                     "network:\n"
                                     "  max_connections: 10\n"
                                     "  max_in_flight: 20\n"
                                     "  idle_timeout_secs: 30\n"
                                     "storage:\n"
                                     "  data_dir: /from/file\n");
  LoadOptions options;
  options.config_path = path;
  options.env = {{"RSTMDB_MAX_IN_FLIGHT", "21"}, {"RSTMDB_IDLE_TIMEOUT", "31"}, {"RSTMDB_DATA", "/from/env"}};
  options.flags = {{"network.idle_timeout_secs", "32"}, {"storage.data_dir", "/from/flag", "--data-dir"}};
  const LoadResult r = load_config(options);
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  CHECK(r.config.config_file == path);

  CHECK(r.config.network.max_connections == 10);    // file
  CHECK(r.config.network.max_in_flight == 21);      // env beats file
  CHECK(r.config.network.idle_timeout_secs == 32);  // flag beats env and file
  CHECK(r.config.storage.data_dir == "/from/flag");
  CHECK(r.config.network.max_frame_bytes == 16777216);  // default

  CHECK(r.sources.at("network.max_connections") == "file:" + path + ":2:20");
  CHECK(r.sources.at("network.max_in_flight") == "env RSTMDB_MAX_IN_FLIGHT");
  CHECK(r.sources.at("network.idle_timeout_secs") == "flag --set");
  CHECK(r.sources.at("storage.data_dir") == "flag --data-dir");
  CHECK(r.sources.at("network.max_frame_bytes") == "default");
}

TEST_CASE("later flags win over earlier ones", "[config][loader]") {
  LoadOptions options;
  options.flags = {{"network.bind_addr", "127.0.0.1:1", "--bind"}, {"network.bind_addr", "127.0.0.1:2"}};
  const LoadResult r = load_config(options);
  REQUIRE(r.ok());
  CHECK(r.config.network.bind_addr == "127.0.0.1:2");
  CHECK(r.sources.at("network.bind_addr") == "flag --set");
}

TEST_CASE("the file comes from --config, else RSTMDB_CONFIG", "[config][loader]") {
  TempDir dir;
  const std::string a = dir.write("a.yaml", "network: {max_connections: 5}\n");
  const std::string b = dir.write("b.yaml", "network: {max_connections: 6}\n");

  LoadOptions options;
  options.env = {{"RSTMDB_CONFIG", b}};
  LoadResult r = load_config(options);
  REQUIRE(r.ok());
  CHECK(r.config.network.max_connections == 6);
  CHECK(r.config.config_file == b);

  options.config_path = a;
  r = load_config(options);
  REQUIRE(r.ok());
  CHECK(r.config.network.max_connections == 5);

  options = {};
  options.env = {{"RSTMDB_CONFIG", ""}};  // empty = unset
  r = load_config(options);
  REQUIRE(r.ok());
  CHECK(!r.config.config_file);
}

TEST_CASE("a missing, unreadable or malformed file is an error", "[config][loader]") {
  TempDir dir;
  LoadOptions options;

  options.config_path = (dir.path() / "missing.yaml").string();
  LoadResult r = load_config(options);
  CHECK(!r.ok());
  CHECK(any_line_has(r.errors, {"rstmdbd: config error: config file (flag --config): cannot read",
                                "missing.yaml", "No such file"}));

  options = {};
  options.env = {{"RSTMDB_CONFIG", dir.path().string()}};
  r = load_config(options);
  CHECK(any_line_has(r.errors, {"config file (env RSTMDB_CONFIG): cannot read"}));

  if (::geteuid() != 0) {  // root reads anything
    options = {};
    options.config_path = dir.write("secret.yaml", "network: {}\n", 0000);
    r = load_config(options);
    CHECK(any_line_has(r.errors, {"config file (flag --config)", "Permission denied"}));
  }

  options = {};
  options.config_path = dir.write("bad.yaml", "network:\n  bind_addr: [1, 2\n");
  r = load_config(options);
  CHECK(any_line_has(r.errors, {"config file (file:" + *options.config_path + ":", "invalid YAML"}));

  options.config_path = dir.write("two.yaml", "network: {}\n---\nstorage: {}\n");
  r = load_config(options);
  CHECK(any_line_has(r.errors, {"more than one YAML document"}));

  // yaml-cpp's LoadAll loops forever on this; the loader must not.
  options.config_path = dir.write("comma.yaml", "network: {}\n,\n");
  r = load_config(options);
  CHECK(!r.ok());
  options.config_path = dir.write("comma2.yaml", "- a\n,");
  r = load_config(options);
  CHECK(!r.ok());
  options.config_path = dir.write("comma3.yaml", ",");
  r = load_config(options);
  CHECK(!r.ok());

  options.config_path = dir.write("list.yaml", "- network\n");
  r = load_config(options);
  CHECK(any_line_has(r.errors, {"config file (file:", "must be a mapping of sections"}));

  options.config_path = "";
  r = load_config(options);
  CHECK(any_line_has(r.errors, {"config file (flag --config): path is empty"}));
}

TEST_CASE("an empty or comment-only file means defaults", "[config][loader]") {
  TempDir dir;
  for (const char* text : {"", "# nothing here\n", "---\n", "network:\n"}) {
    LoadOptions options;
    options.config_path = dir.write("c.yaml", text);
    const LoadResult r = load_config(options);
    INFO(text);
    REQUIRE(r.ok());
    CHECK(r.warnings.empty());
    CHECK(changed_keys(Config{}, r.config).empty());
  }
}

TEST_CASE("null values leave the lower layer's value", "[config][loader]") {
  const LoadResult r = load_yaml("network:\n  max_connections: ~\n  bind_addr:\ntls:\n  cert_path: null\n");
  REQUIRE(r.ok());
  CHECK(r.config.network.max_connections == 1000);
  CHECK(r.sources.at("network.max_connections") == "default");
  CHECK(!r.config.tls.cert_path);
}

TEST_CASE("values given with --set are YAML", "[config][loader]") {
  LoadOptions options;
  options.flags = {{"storage.fsync_policy", "every_n:5"},
                   {"auth.token_hashes", "[" + kHashA + ", " + kHashB + "]"},
                   {"logging.level", "\"debug\""},
                   {"network.bind_addr", "[::1]:7401"},
                   {"tls.cipher_list", "ECDHE-RSA-AES128-GCM-SHA256"},
                   {"compaction.enabled", "off"}};
  LoadResult r = load_config(options);
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config.storage.fsync_policy.kind == FsyncPolicy::Kind::EveryN);
  CHECK(r.config.storage.fsync_policy.n == 5);
  CHECK(r.config.auth.token_hashes == std::vector<std::string>{kHashA, kHashB});
  CHECK(r.config.logging.level == "debug");
  CHECK(r.config.network.bind_addr == "[::1]:7401");
  CHECK(!r.config.compaction.enabled);

  options.flags = {{"storage.fsync_policy", "{every_ms: 20}"}};
  r = load_config(options);
  REQUIRE(r.ok());
  CHECK(r.config.storage.fsync_policy.kind == FsyncPolicy::Kind::EveryMs);
  CHECK(r.config.storage.fsync_policy.n == 20);
}

TEST_CASE("a --set with an unknown key or no value is an error", "[config][loader]") {
  LoadOptions options;
  options.flags = {{"network.bogus", "1"},
                   {"network.max_connections", ""},
                   {"logging.level", "~"},
                   {"storage.data_dir", " ", "--data-dir"}};
  const LoadResult r = load_config(options);
  CHECK(any_line_has(r.errors, {"network.bogus (flag --set): unknown key"}));
  CHECK(any_line_has(r.errors, {"network.max_connections (flag --set): needs a value"}));
  CHECK(any_line_has(r.errors, {"logging.level (flag --set): needs a value"}));
  CHECK(any_line_has(r.errors, {"storage.data_dir (flag --data-dir): needs a value"}));
}

TEST_CASE("a key with a line break cannot split a message", "[config][loader]") {
  LoadOptions options;
  options.flags = {{"network.x\nrstmdbd: config error: forged", "1"}};
  const LoadResult r = load_yaml("\"net\\nwork\": {}\n", options);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].find('\n') == std::string::npos);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find('\n') == std::string::npos);
}

TEST_CASE("every problem is reported, not just the first", "[config][loader]") {
  LoadOptions options;
  options.env = {{"RSTMDB_MAX_CONNECTIONS", "0"}, {"RSTMDB_IO_THREADS", "99"}};
  options.flags = {{"logging.format", "xml", "--log-format"}};
  const LoadResult r = load_config_from_string("network:\n  max_in_flight: 0\n", options, "/c.yaml");
  CHECK(r.errors.size() == 4);
}

TEST_CASE("changed_keys names differing keys", "[config][keys]") {
  Config a;
  Config b;
  b.network.max_connections = 7;
  b.auth.token_hashes = {kHashA};
  b.auth.token_labels = {""};
  CHECK(changed_keys(a, b) == std::vector<std::string>{"network.max_connections", "auth.token_hashes"});
  Config c = b;
  c.auth.token_labels = {"ci"};
  CHECK(changed_keys(b, c) == std::vector<std::string>{"auth.token_hashes"});
}

TEST_CASE("every key has a unique name, env var and alias", "[config][keys]") {
  std::set<std::string_view> names;
  std::set<std::string_view> envs;
  for (const KeyInfo& key : registered_keys()) {
    CHECK(names.insert(key.key).second);
    if (!key.alias.empty()) CHECK(names.insert(key.alias).second);
    if (!key.env.empty()) CHECK(envs.insert(key.env).second);
    CHECK(find_key(key.key) == &key);
    CHECK(!key.summary.empty());
  }
  CHECK(registered_keys().size() == 50);
  CHECK(find_key("tls.cert_file") == find_key("tls.cert_path"));
  CHECK(find_key("network.nope") == nullptr);
}
