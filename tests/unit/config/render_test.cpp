#include <catch2/catch.hpp>

#include "config/config_test_support.hpp"
#include "config/keys.hpp"
#include "config/loader.hpp"

using namespace rstmdb::config;
using namespace rstmdb::config::test;

TEST_CASE("check-config --print shows every key with value and source", "[config][render]") {
  LoadOptions options;
  options.env = {{"RSTMDB_MAX_CONNECTIONS", "77"}, {"RSTMDB_AUTH_TOKEN_HASH", kHashA + "," + kHashB}};
  options.flags = {{"storage.fsync_policy", "every_ms:20"}, {"logging.level", "debug", "--log-level"}};
  const LoadResult r = load_config_from_string("network:\n  bind_addr: \"[::1]:7401\"\n", options, "/c.yaml");
  REQUIRE(r.ok());
  const std::string text = render_effective_yaml(r);
  INFO(text);
  for (const KeyInfo& key : registered_keys()) {
    const std::string leaf(key.key.substr(key.key.find('.') + 1));
    CHECK(text.find(" " + leaf + ": ") != std::string::npos);
  }
  CHECK(text.find("max_connections: 77") != std::string::npos);
  CHECK(text.find("# env RSTMDB_MAX_CONNECTIONS") != std::string::npos);
  CHECK(text.find("bind_addr: \"[::1]:7401\"") != std::string::npos);
  CHECK(text.find("# file:/c.yaml:2:14") != std::string::npos);
  CHECK(text.find("fsync_policy: \"every_ms:20\"") != std::string::npos);
  CHECK(text.find("level: \"debug\"") != std::string::npos);
  CHECK(text.find("# flag --log-level") != std::string::npos);
  CHECK(text.find("# token_hashes: 2 hash(es), not shown  # env RSTMDB_AUTH_TOKEN_HASH") !=
        std::string::npos);
  CHECK(text.find(kHashA) == std::string::npos);
  CHECK(text.find(kHashB) == std::string::npos);
  CHECK(text.find("socket_path: null") != std::string::npos);
  CHECK(text.find("\"./data/admin.sock\"") != std::string::npos);
}

TEST_CASE("check-config --print output loads back to the same configuration", "[config][render]") {
  LoadOptions options = forms_options();
  options.env = {
      {"RSTMDB_IDLE_TIMEOUT", "5"}, {"RSTMDB_FSYNC_POLICY", "every_n:9"}, {"RSTMDB_ACCESS_LOG", "all"}};
  options.flags = {{"tls.cipher_list", "ECDHE-RSA-AES128-GCM-SHA256"},
                   {"admin.socket_path", "/run/a \"b\".sock"},
                   {"storage.max_open_files", "-1"}};
  const LoadResult first = load_config(options);
  REQUIRE(first.ok());
  const LoadResult second = load_config_from_string(render_effective_yaml(first), forms_options(), "printed");
  INFO(render_effective_yaml(first) << joined(second.errors) << joined(second.warnings));
  REQUIRE(second.ok());
  CHECK(second.warnings.empty());
  CHECK(changed_keys(first.config, second.config).empty());
}
