// The configuration in force. A reload (runtime.md §5.4) builds a whole new generation —
// configuration and token verifier — and publishes it with one atomic pointer swap, so every
// reader sees either the old generation or the new one, never a mix.
//
//   auto g = services.live->current();   // one generation: use it when keys must agree
//   services.config->auth.required       // one key of the generation in force now
//
// Restart-only keys keep their startup values in every generation (server/reload_plan.hpp), so
// reading them through here is always what the process really runs with.
//
// Threads: current() and publish() are safe from any thread; a generation is immutable.
#pragma once

#include "config/config.hpp"
#include "server/auth.hpp"

#include <atomic>
#include <memory>

namespace rstmdb::server {

struct ConfigGeneration {
  config::Config config;
  TokenVerifier tokens;
  std::uint64_t number = 1;  // 1 at startup, +1 per applied reload
};

class LiveConfig {
 public:
  explicit LiveConfig(config::Config initial);

  std::shared_ptr<const ConfigGeneration> current() const noexcept { return current_.load(); }
  // Makes `next` the configuration in force (its token verifier is built here).
  void publish(config::Config next);

 private:
  std::atomic<std::shared_ptr<const ConfigGeneration>> current_;
};

// `services.config->key`: reads one key of the generation in force (the generation is held
// until the end of the full expression).
class ConfigView {
 public:
  ConfigView() = default;
  explicit ConfigView(const LiveConfig* live) : live_(live) {}

  std::shared_ptr<const config::Config> get() const {
    auto generation = live_->current();
    return {generation, &generation->config};  // aliasing: keeps the generation alive
  }
  std::shared_ptr<const config::Config> operator->() const { return get(); }

 private:
  const LiveConfig* live_ = nullptr;
};

}  // namespace rstmdb::server
