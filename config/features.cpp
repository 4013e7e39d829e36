#include "config/features.hpp"

#include <array>

namespace rstmdb::config {

namespace {

struct FeatureInfo {
  Feature feature;
  std::string_view name;
  bool built;  // flip to true in the change that builds the feature
};

constexpr std::array<FeatureInfo, 5> kFeatures = {{
    {Feature::Tls, "TLS", true},
    {Feature::Metrics, "the metrics/health HTTP endpoint", true},
    {Feature::AccessLog, "the access log", true},
    {Feature::Subscriptions, "subscriptions (WATCH_*)", true},
    {Feature::AdminSocket, "the admin socket", true},
}};

const FeatureInfo& info(Feature feature) {
  for (const auto& f : kFeatures) {
    if (f.feature == feature) return f;
  }
  return kFeatures.front();  // unreachable: every enumerator has a row
}

}  // namespace

FeatureSet::FeatureSet(std::initializer_list<Feature> features) {
  for (Feature f : features)
    bits_ |= bit(f);
}

FeatureSet FeatureSet::this_build() {
  FeatureSet set;
  for (const auto& f : kFeatures) {
    if (f.built) set.bits_ |= bit(f.feature);
  }
  return set;
}

FeatureSet FeatureSet::all() {
  FeatureSet set;
  for (const auto& f : kFeatures)
    set.bits_ |= bit(f.feature);
  return set;
}

std::string_view feature_name(Feature feature) {
  return info(feature).name;
}

const std::vector<FeatureKey>& feature_keys() {
  using R = UnbuiltKeyRule;
  // Tuning keys warn rather than refuse: upstream configs and the Helm chart set some of them,
  // and they cannot change what the server does while their feature is absent
  // (docs/decisions.md "Configured features that are not built").
  static const std::vector<FeatureKey> keys = {
      {"network.handshake_timeout_secs", Feature::Tls, R::WarnWhenSet},
      {"tls.enabled", Feature::Tls, R::RefuseWhenSet},
      {"metrics.enabled", Feature::Metrics, R::RefuseWhenSet},
      {"logging.access_log", Feature::AccessLog, R::RefuseWhenSet},
      {"watch.max_subscriptions_per_connection", Feature::Subscriptions, R::WarnWhenSet},
      {"watch.queue_events", Feature::Subscriptions, R::WarnWhenSet},
      {"watch.queue_bytes", Feature::Subscriptions, R::WarnWhenSet},
      {"admin.socket_path", Feature::AdminSocket, R::WarnWhenSet},
  };
  return keys;
}

}  // namespace rstmdb::config
