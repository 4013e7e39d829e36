// What a configuration reload reports (runtime.md §5.4), whichever way it was asked for
// (SIGHUP, `rstmdbd reload` through ADMIN_RELOAD, `systemctl reload`). Server::reload is the
// one place a reload happens; ADMIN_RELOAD returns its result to the operator.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace rstmdb::server {

struct ReloadResult {
  enum class Outcome {
    Applied,   // every reloadable key swapped at once
    Rejected,  // validation failed; nothing changed
    NotBuilt,  // this build cannot reload its configuration yet
  };
  Outcome outcome = Outcome::NotBuilt;
  std::vector<std::string> changed;       // Applied: keys whose value changed
  std::vector<std::string> restart_only;  // Applied: changed keys that need a restart (one WARN)
  // Rejected: "reload rejected: <key> (<source>): <problem>; keeping previous configuration".
  // NotBuilt: why.
  std::string message;
};

// The last reload that ran (Applied or Rejected), for ADMIN_STATUS.
struct ReloadRecord {
  std::chrono::system_clock::time_point at;
  std::string trigger;  // "SIGHUP", "admin socket"
  ReloadResult result;
};

}  // namespace rstmdb::server
