#include "engine/committed_reader.hpp"

#include "engine/stored_json.hpp"
#include "storage/records.hpp"

namespace rstmdb::engine {

using storage::Cf;
using storage::StorageError;

std::optional<Instance> read_instance(const storage::Store& store, const std::string& id) {
  auto bytes = store.get(Cf::Instances, id);
  if (!bytes) return std::nullopt;
  Instance inst;
  if (!storage::decode_instance(*bytes, inst.rec))
    throw StorageError("corrupt instance record: " + id, StorageError::Kind::Corruption);
  auto ctx = parse_stored(inst.rec.ctx_json, "ctx of instance " + id);
  if (!ctx.is_object())
    throw StorageError("stored ctx of instance " + id + " is not an object", StorageError::Kind::Corruption);
  inst.ctx = std::move(ctx.get_object());
  return inst;
}

const Instance* StoreReader::instance(const std::string& id) {
  if (const Instance* cached = cache_.find(id)) return cached;
  auto inst = read_instance(store_, id);
  if (!inst) return nullptr;
  return cache_.put(id, std::move(*inst), /*pin=*/true);
}

const Instance* StoreReader::peek_instance(const std::string& id) {
  if (const Instance* cached = cache_.peek(id)) return cached;
  peeked_ = read_instance(store_, id);
  return peeked_ ? &*peeked_ : nullptr;
}

std::optional<IdempotencyValue> StoreReader::idempotency(const std::string& key) {
  auto bytes = store_.get(Cf::Idempotency, key);
  if (!bytes) return std::nullopt;
  storage::IdempotencyRecord record;
  if (!storage::decode_idempotency(*bytes, record))
    throw StorageError("corrupt idempotency record", StorageError::Kind::Corruption);
  return IdempotencyValue{record.created_at, std::move(record.result_json)};
}

bool StoreReader::snapshot_exists(const std::string& id) {
  return store_.get(Cf::Snapshots, id).has_value();
}

MachinePtr StoreReader::machine(const std::string& name, std::uint32_t version) {
  return state_.catalog().find(name, version);
}

std::vector<std::uint32_t> StoreReader::machine_versions(const std::string& name) {
  return state_.catalog().versions(name);
}

bool StoreReader::expired(std::int64_t created_at, std::int64_t now) const {
  return ttl_secs_ != 0 && now - created_at >= static_cast<std::int64_t>(ttl_secs_) * 1000;
}

void StoreReader::absorb(View& group) {
  for (auto& [id, inst] : group.instances())
    cache_.put(id, std::move(inst), /*pin=*/false);
  for (const auto& fn : group.after_absorb_fns())
    fn();
}

}  // namespace rstmdb::engine
