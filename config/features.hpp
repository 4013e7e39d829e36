// Optional features of rstmdbd, whether this build has them, and which configuration keys
// belong to each (runtime.md §1.3; STANDARDS: "a configured feature that is not built refuses
// to start; nothing fails open").
//
// The keys of every feature exist in the registry from the start, so configurations written for
// the full server (upstream's, the Helm chart's) parse. Until a feature is built, the loader
// judges its keys by the table in features.cpp:
//   - a key that would turn the feature on (tls.enabled: true, metrics.enabled: true,
//     logging.access_log: writes|all) is an error: the server refuses to start (exit 78) and
//     check-config fails, naming the key and its source;
//   - a key that only tunes the feature (watch.*, network.handshake_timeout_secs,
//     admin.socket_path) set to anything but its default is a warning that it has no effect yet.
// The work that builds a feature flips its `built` flag in kFeatures (features.cpp); nothing else
// needs to change for the keys, and the protocol features INFO/HELLO advertise follow the same
// flags (server/session_ops.cpp).
#pragma once

#include <initializer_list>
#include <string_view>
#include <vector>

namespace rstmdb::config {

enum class Feature {
  Tls,            // TLS on the RCP listener (runtime.md §3.2)
  Metrics,        // HTTP endpoint with /metrics, /health, /ready (§4.1)
  AccessLog,      // audit lines (§4.4)
  Subscriptions,  // WATCH_INSTANCE, WATCH_ALL, UNWATCH (protocol "watch" feature)
  AdminSocket,    // reload/status/checkpoints over a unix socket (§5.7)
};

// A set of features; the loader validates against one (LoadOptions::features).
class FeatureSet {
 public:
  FeatureSet() = default;
  FeatureSet(std::initializer_list<Feature> features);

  // What this binary has built (the `built` column of kFeatures).
  static FeatureSet this_build();
  // Every feature; for tests of the configuration forms independent of this build.
  static FeatureSet all();

  bool has(Feature feature) const noexcept { return (bits_ & bit(feature)) != 0; }

 private:
  static unsigned bit(Feature feature) noexcept { return 1u << static_cast<unsigned>(feature); }
  unsigned bits_ = 0;
};

// "TLS", "the metrics endpoint", ...: used in messages.
std::string_view feature_name(Feature feature);

// How a key of a feature is judged while the feature is not built.
enum class UnbuiltKeyRule {
  RefuseWhenSet,  // a non-default value turns the feature on: config error
  WarnWhenSet,    // a non-default value only tunes it: warning "has no effect yet"
};

struct FeatureKey {
  std::string_view key;  // canonical name, a registered key (config/keys.hpp)
  Feature feature;
  UnbuiltKeyRule rule;
};

// Every key that belongs to an optional feature, in registry order.
const std::vector<FeatureKey>& feature_keys();

}  // namespace rstmdb::config
