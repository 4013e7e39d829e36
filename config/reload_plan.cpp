#include "config/reload_plan.hpp"

#include "config/keys.hpp"

#include <algorithm>
#include <variant>

namespace rstmdb::config {

ReloadPlan plan_reload(const Config& running, const Config& loaded) {
  ReloadPlan plan;
  plan.next = running;
  // The accessors take a mutable Config because the loader writes through them.
  Config& source = const_cast<Config&>(loaded);
  const std::vector<std::string> differing = changed_keys(running, loaded);
  for (const KeyInfo& key : registered_keys()) {
    if (std::find(differing.begin(), differing.end(), key.key) == differing.end()) continue;
    if (!key.reloadable) {
      plan.restart_only.emplace_back(key.key);
      continue;
    }
    std::visit([&](auto get) { get(plan.next) = get(source); }, key.field);
    if (key.kind == ValueKind::TokenHashes) plan.next.auth.token_labels = loaded.auth.token_labels;
    plan.changed.emplace_back(key.key);
  }
  return plan;
}

}  // namespace rstmdb::config
