#include <catch2/catch.hpp>

#include <algorithm>

#include "config/keys.hpp"
#include "config/reload_plan.hpp"

using namespace rstmdb::config;

namespace {

bool has(const std::vector<std::string>& keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

}  // namespace

TEST_CASE("a reload plan takes reloadable keys and keeps restart-only ones", "[config][reload]") {
  Config running;
  running.network.idle_timeout_secs = 300;
  running.network.max_in_flight = 64;
  running.tls.cert_path = "/etc/rstmdb/old.pem";
  Config loaded = running;
  loaded.network.idle_timeout_secs = 1;          // R = y
  loaded.network.max_in_flight = 32;             // restart-only
  loaded.tls.cert_path = "/etc/rstmdb/new.pem";  // R = y
  loaded.tls.enabled = true;                     // restart-only
  loaded.auth.token_hashes = {std::string(64, 'a')};
  loaded.auth.token_labels = {"new-client"};

  const ReloadPlan plan = plan_reload(running, loaded);
  CHECK(plan.next.network.idle_timeout_secs == 1);
  CHECK(plan.next.network.max_in_flight == 64);
  CHECK(plan.next.tls.cert_path == std::optional<std::string>("/etc/rstmdb/new.pem"));
  CHECK_FALSE(plan.next.tls.enabled);
  CHECK(plan.next.auth.token_hashes == loaded.auth.token_hashes);
  CHECK(plan.next.auth.token_labels == loaded.auth.token_labels);  // labels travel with the hashes

  CHECK(has(plan.changed, "network.idle_timeout_secs"));
  CHECK(has(plan.changed, "tls.cert_path"));
  CHECK(has(plan.changed, "auth.token_hashes"));
  CHECK_FALSE(has(plan.changed, "network.max_in_flight"));
  CHECK(has(plan.restart_only, "network.max_in_flight"));
  CHECK(has(plan.restart_only, "tls.enabled"));
  CHECK(plan.restart_only.size() == 2);
  // Every key it lists is registered with the matching reloadable flag.
  for (const auto& key : plan.changed)
    CHECK(find_key(key)->reloadable);
  for (const auto& key : plan.restart_only)
    CHECK_FALSE(find_key(key)->reloadable);
}

TEST_CASE("a reload plan of an unchanged configuration changes nothing", "[config][reload]") {
  Config running;
  running.auth.required = true;
  const ReloadPlan plan = plan_reload(running, running);
  CHECK(plan.changed.empty());
  CHECK(plan.restart_only.empty());
  CHECK(changed_keys(plan.next, running).empty());
}
