// What a reload changes (runtime.md §5.4), decided from the running configuration and a freshly
// loaded, fully validated one. Pure: no I/O, no logging.
//
// Every reloadable key (R = y in runtime.md §1.3, KeyInfo::reloadable) takes the loaded value;
// every restart-only key keeps the running value, and those that differ are listed so the
// caller can name them in one WARN. The token labels travel with auth.token_hashes.
#pragma once

#include "config/config.hpp"

#include <string>
#include <vector>

namespace rstmdb::config {

struct ReloadPlan {
  Config next;                            // the configuration to run with after the reload
  std::vector<std::string> changed;       // reloadable keys whose value changes, registry order
  std::vector<std::string> restart_only;  // keys that differ but apply only at the next start
};

ReloadPlan plan_reload(const Config& running, const Config& loaded);

}  // namespace rstmdb::config
