// The engine's settings, taken from the configuration at startup.
#pragma once

#include "config/config.hpp"

#include <cstddef>
#include <cstdint>

namespace rstmdb::engine {

struct EngineOptions {
  config::FsyncPolicy fsync_policy;
  std::uint32_t max_machine_versions = 0;  // 0 = unlimited
  bool allow_instance_recreate = true;
  std::uint64_t idempotency_ttl_secs = 86400;  // 0 = forever
  config::CompactionConfig compaction;
  // Bytes of parsed instances the sequencer caches (storage.instance_cache_mb).
  std::uint64_t instance_cache_bytes = 64ull << 20;
  // Largest response payload (the frame limit); list/read pages are shortened to fit.
  std::size_t max_response_bytes = 16 * 1024 * 1024;
};

// The settings a configuration reload may change (runtime.md §1.3, R = y): Engine::set_reloadable.
struct ReloadableOptions {
  std::uint32_t max_machine_versions = 0;
  bool allow_instance_recreate = true;
  std::uint64_t idempotency_ttl_secs = 86400;
  config::CompactionConfig compaction;
};

}  // namespace rstmdb::engine
