#include <catch2/catch.hpp>

#include <set>

#include "config/config_test_support.hpp"
#include "config/features.hpp"
#include "config/keys.hpp"
#include "config/loader.hpp"

using namespace rstmdb::config;
using namespace rstmdb::config::test;

namespace {

LoadResult load_this_build(std::string_view yaml, std::map<std::string, std::string> env = {}) {
  LoadOptions options;  // default features: this build's
  options.env = std::move(env);
  options.check_files = false;
  return load_config_from_string(yaml, options, "/etc/rstmdb/config.yaml");
}

}  // namespace

TEST_CASE("every feature key is a registered key, listed once", "[config][features]") {
  std::set<std::string_view> seen;
  for (const FeatureKey& fk : feature_keys()) {
    INFO(fk.key);
    CHECK(find_key(fk.key) != nullptr);
    CHECK(seen.insert(fk.key).second);
  }
}

TEST_CASE("keys that turn on an unbuilt feature are refused, naming key and source", "[config][features]") {
  // Every feature is built now: builds without them are simulated with FeatureSet.

  // A build without TLS (FeatureSet without it) refuses tls.enabled the same way.
  LoadOptions no_tls;
  no_tls.features = FeatureSet{};
  no_tls.check_files = false;
  LoadResult r = load_config_from_string("tls:\n  enabled: true\n  cert_file: /c.pem\n  key_file: /k.pem\n",
                                         no_tls, "/etc/rstmdb/config.yaml");
  INFO(joined(r.errors));
  CHECK(r.errors.size() == 1);
  CHECK(
      any_line_has(r.errors, {"rstmdbd: config error: tls.enabled (file:/etc/rstmdb/config.yaml:2:12): "
                              "cannot be true yet: this rstmdbd is built without TLS (leave it at false)"}));

  // A build without the metrics endpoint or the access log refuses them the same way.
  LoadOptions without;
  without.features = FeatureSet{Feature::AdminSocket};
  without.check_files = false;
  r = load_config_from_string("metrics:\n  enabled: true\n", without, "/etc/rstmdb/config.yaml");
  CHECK(r.errors.size() == 1);
  CHECK(any_line_has(
      r.errors, {"metrics.enabled (file:", "cannot be true yet: this rstmdbd is built without the metrics"}));
  for (const char* mode : {"writes", "all"}) {
    r = load_config_from_string(std::string("logging:\n  access_log: ") + mode + "\n", without,
                                "/etc/rstmdb/config.yaml");
    INFO(mode);
    CHECK(r.errors.size() == 1);
    CHECK(
        any_line_has(r.errors, {"logging.access_log (file:", "cannot be \"",
                                "yet: this rstmdbd is built without the access log (leave it at \"off\")"}));
  }
}

TEST_CASE("this build serves the metrics endpoint and the access log", "[config][features]") {
  REQUIRE(FeatureSet::this_build().has(Feature::Metrics));
  REQUIRE(FeatureSet::this_build().has(Feature::AccessLog));
  LoadResult r = load_this_build("", {{"RSTMDB_METRICS_ENABLED", "yes"}});
  INFO(joined(r.errors));
  CHECK(r.ok());
  CHECK(r.config.metrics.enabled);
  for (const char* mode : {"writes", "all"}) {
    r = load_this_build(std::string("logging:\n  access_log: ") + mode + "\n");
    INFO(mode);
    CHECK(r.ok());
    CHECK(r.config.logging.access_log == mode);
  }
}

TEST_CASE("turning a feature off explicitly, or leaving it at its default, is fine", "[config][features]") {
  const LoadResult r = load_this_build(
      "tls: {enabled: false}\nmetrics: {enabled: false, bind_addr: \"0.0.0.0:9100\", state_gauges: false}\n"
      "logging: {access_log: \"off\"}\n"
      "network: {handshake_timeout_secs: 10}\n"
      "watch: {max_subscriptions_per_connection: 1024, queue_events: 4096, queue_bytes: 16777216}\n");
  INFO(joined(r.errors) << joined(r.warnings));
  CHECK(r.ok());
  CHECK(r.warnings.empty());
}

TEST_CASE("TLS is built: tls.enabled and its tuning keys are ordinary keys", "[config][features]") {
  REQUIRE(FeatureSet::this_build().has(Feature::Tls));
  const LoadResult r = load_this_build(
      "network: {handshake_timeout_secs: 3}\ntls:\n  enabled: true\n  cert_file: /c.pem\n  key_file: "
      "/k.pem\n");
  INFO(joined(r.errors) << joined(r.warnings));
  CHECK(r.ok());
  CHECK(r.warnings.empty());
  CHECK(r.config.tls.enabled);
  CHECK(r.config.network.handshake_timeout_secs == 3);
}

TEST_CASE("tuning keys of an unbuilt feature warn that they have no effect yet", "[config][features]") {
  LoadOptions no_tls;
  no_tls.features = FeatureSet{Feature::Subscriptions};
  no_tls.check_files = false;
  no_tls.env = {{"RSTMDB_WATCH_QUEUE_EVENTS", "100"}};
  LoadResult r =
      load_config_from_string("network: {handshake_timeout_secs: 3}\n", no_tls, "/etc/rstmdb/config.yaml");
  INFO(joined(r.errors) << joined(r.warnings));
  CHECK(r.ok());
  CHECK(r.warnings.size() == 1);
  CHECK(any_line_has(
      r.warnings,
      {"rstmdbd: config warning: network.handshake_timeout_secs "
       "(file:/etc/rstmdb/config.yaml:1:35): has no effect yet: this rstmdbd is built without TLS"}));
}

TEST_CASE("the admin socket is built: its path is an ordinary key", "[config][features]") {
  const LoadResult r = load_this_build("admin: {socket_path: /run/rstmdb/admin.sock}\n");
  INFO(joined(r.errors) << joined(r.warnings));
  CHECK(r.ok());
  CHECK(r.warnings.empty());
  CHECK(r.config.admin.socket_path == "/run/rstmdb/admin.sock");
  CHECK(admin_socket_path(r.config) == "/run/rstmdb/admin.sock");
}

TEST_CASE("check-config --strict keeps 'no effect yet' a warning", "[config][features]") {
  LoadOptions options;
  options.strict = true;
  // A build without TLS (every feature is built now), where this key has no effect.
  options.features =
      FeatureSet{Feature::Metrics, Feature::AccessLog, Feature::Subscriptions, Feature::AdminSocket};
  const LoadResult r = load_config_from_string("network: {handshake_timeout_secs: 3}\n", options, "c.yaml");
  CHECK(r.ok());
  CHECK(r.warnings.size() == 1);
}

TEST_CASE("subscriptions are built: watch.* keys take effect without a warning", "[config][features]") {
  REQUIRE(FeatureSet::this_build().has(Feature::Subscriptions));
  const LoadResult r = load_this_build("watch: {max_subscriptions_per_connection: 8, queue_bytes: 1048576}\n",
                                       {{"RSTMDB_WATCH_QUEUE_EVENTS", "100"}});
  INFO(joined(r.errors) << joined(r.warnings));
  CHECK(r.ok());
  CHECK(r.warnings.empty());
  CHECK(r.config.watch.max_subscriptions_per_connection == 8);
  CHECK(r.config.watch.queue_events == 100);
  CHECK(r.config.watch.queue_bytes == 1048576);
}

TEST_CASE("with the feature built, its keys are ordinary keys", "[config][features]") {
  LoadOptions options;
  options.features = FeatureSet{Feature::AccessLog, Feature::Subscriptions};
  const LoadResult r =
      load_config_from_string("logging: {access_log: all}\nwatch: {queue_events: 7}\n", options, "c.yaml");
  CHECK(r.ok());
  CHECK(r.warnings.empty());
  CHECK(r.config.logging.access_log == "all");
}
