// The sequencer's reads of committed state: the instance cache first, then the store; the
// machine catalog from CommittedState; the idempotency TTL. The bottom of every view chain.
//
// Thread: sequencer only.
#pragma once

#include "engine/committed_state.hpp"
#include "engine/instance_cache.hpp"
#include "engine/view.hpp"
#include "storage/store.hpp"

#include <cstdint>

namespace rstmdb::engine {

class StoreReader final : public CommittedReader {
 public:
  StoreReader(const storage::Store& store, const CommittedState& state, std::uint64_t idempotency_ttl_secs,
              std::uint64_t cache_bytes)
      : store_(store), state_(state), ttl_secs_(idempotency_ttl_secs), cache_(cache_bytes) {}

  const Instance* instance(const std::string& id) override;
  const Instance* peek_instance(const std::string& id) override;
  std::optional<IdempotencyValue> idempotency(const std::string& key) override;
  bool snapshot_exists(const std::string& id) override;
  MachinePtr machine(const std::string& name, std::uint32_t version) override;
  std::vector<std::uint32_t> machine_versions(const std::string& name) override;
  bool expired(std::int64_t created_at, std::int64_t now) const override;
  void begin_request() override { cache_.begin_request(); }
  void prefetch_instances(std::span<const std::string_view> ids) override { cache_.prefetch(ids); }
  void absorb(View& group) override;

  InstanceCache& cache() noexcept { return cache_; }
  // storage.idempotency_ttl_secs after a reload; called in a sequenced job.
  void set_idempotency_ttl_secs(std::uint64_t secs) noexcept { ttl_secs_ = secs; }

 private:
  const storage::Store& store_;
  const CommittedState& state_;
  std::uint64_t ttl_secs_;
  InstanceCache cache_;
  std::optional<Instance> peeked_;  // the last instance peek_instance read from the store
};

// Reads and parses one stored instance (nullopt when absent). Throws StorageError.
std::optional<Instance> read_instance(const storage::Store& store, const std::string& id);

}  // namespace rstmdb::engine
