#include <catch2/catch.hpp>

#include "config/config_test_support.hpp"
#include "config/loader.hpp"
#include "config/tls_fixture.hpp"

using namespace rstmdb::config;
using namespace rstmdb::config::test;

namespace {

// What the upstream Helm chart's configmap template renders with auth, TLS (mTLS), metrics and
// compaction on; only the mount paths are replaced by temp files.
std::string helm_config(const std::string& tokens, const std::string& cert, const std::string& key,
                        const std::string& ca, const std::string& fsync, const std::string& level) {
  return "network:\n"
         "  bind_addr: \"0.0.0.0:7401\"\n"
         "  idle_timeout_secs: 300\n"
         "  max_connections: 1000\n"
         "\n"
         "storage:\n"
         "  data_dir: \"/data\"\n"
         "  wal_segment_size_mb: 64\n"
         "  fsync_policy: \"" +
         fsync +
         "\"\n"
         "auth:\n"
         "  required: true\n"
         "  token_hashes_file: " +
         tokens +
         "\n"
         "tls:\n"
         "  enabled: true\n"
         "  cert_file: " +
         cert +
         "\n"
         "  key_file: " +
         key +
         "\n"
         "  require_client_cert: true\n"
         "  ca_file: " +
         ca +
         "\n"
         "\n"
         "compaction:\n"
         "  enabled: true\n"
         "  events_threshold: 10000\n"
         "  size_threshold_mb: 100\n"
         "  min_interval_secs: 60\n"
         "\n"
         "metrics:\n"
         "  enabled: true\n"
         "  bind_addr: \"0.0.0.0:9090\"\n"
         "\n"
         "logging:\n"
         "  level: \"" +
         level + "\"\n";
}

}  // namespace

TEST_CASE("the Helm chart's rendered config loads without warnings", "[config][helm]") {
  TempDir dir;
  // The chart's secret template renders a leading blank line, then one hash per line.
  const std::string tokens = dir.write("tokens.secret", "\n" + kHashA + "\n" + kHashB + "\n", 0640);
  const std::string cert = dir.write("tls.crt", kCert);
  const std::string key = dir.write("tls.key", kKey);
  const std::string ca = dir.write("ca.crt", kCert);

  for (const char* fsync : {"every_write", "every_n:100", "every_ms:50", "never"}) {
    for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
      LoadOptions options = forms_options();
      options.config_path = dir.write("config.yaml", helm_config(tokens, cert, key, ca, fsync, level));
      options.strict = true;
      const LoadResult r = load_config(options);
      INFO(fsync << " " << level << "\n" << joined(r.errors) << joined(r.warnings));
      REQUIRE(r.ok());
      CHECK(r.warnings.empty());
      CHECK(r.config.auth.required);
      CHECK(r.config.auth.token_hashes.size() == 2);
      CHECK(r.config.tls.cert_path == cert);
      CHECK(r.config.tls.key_path == key);
      CHECK(r.config.tls.client_ca_path == ca);
      CHECK(r.config.storage.fsync_policy.to_string() == fsync);
      CHECK(r.config.logging.level == level);
      CHECK(r.sources.at("tls.cert_path").rfind("file:" + *options.config_path + ":15:", 0) == 0);
    }
  }
}

TEST_CASE("this build loads the full Helm config (every feature it uses is built)", "[config][helm]") {
  TempDir dir;
  const std::string tokens = dir.write("tokens.secret", "\n" + kHashA + "\n", 0640);
  const std::string cert = dir.write("tls.crt", kCert);
  const std::string key = dir.write("tls.key", kKey);
  LoadOptions options;  // this build's features: all of them
  options.config_path = dir.write("config.yaml", helm_config(tokens, cert, key, cert, "every_write", "info"));
  options.strict = true;
  const LoadResult r = load_config(options);
  INFO(joined(r.errors) << joined(r.warnings));
  CHECK(r.errors.empty());
  CHECK(r.config.metrics.enabled);
  CHECK(r.warnings.empty());
}

TEST_CASE("the Helm chart's minimal config (auth and TLS off) loads", "[config][helm]") {
  LoadOptions this_build;
  this_build.check_files = false;
  const LoadResult r = load_yaml(
      "network:\n  bind_addr: \"0.0.0.0:7401\"\n  idle_timeout_secs: 300\n  max_connections: 1000\n\n"
      "storage:\n  data_dir: \"/data\"\n  wal_segment_size_mb: 64\n  fsync_policy: \"every_write\"\n"
      "auth:\n  required: false\n\ncompaction:\n  enabled: false\n\nmetrics:\n  enabled: false\n\n"
      "logging:\n  level: \"info\"\n",
      this_build);
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  CHECK(!r.config.compaction.enabled);
}
