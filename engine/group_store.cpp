#include "engine/group_store.hpp"

#include "storage/keys.hpp"
#include "storage/records.hpp"

namespace rstmdb::engine {

using storage::Cf;

namespace {

struct RocksPrepared final : PreparedGroup {
  explicit RocksPrepared(storage::Batch b) : batch(std::move(b)) {}
  storage::Batch batch;
};

}  // namespace

std::unique_ptr<PreparedGroup> RocksGroupStore::prepare(const View& view) {
  auto prepared = std::make_unique<RocksPrepared>(store_.new_batch());
  storage::Batch& batch = prepared->batch;
  // Range deletions first: puts staged after an erase must survive it.
  for (const auto& prefix : view.erased_prefixes())
    batch.delete_range(Cf::Idempotency, prefix, storage::prefix_end(prefix));
  for (const auto& m : view.mutations()) {
    switch (m.kind) {
      case Mutation::Kind::Put:
        batch.put(m.cf, m.key, m.value);
        break;
      case Mutation::Kind::Delete:
        batch.del(m.cf, m.key);
        break;
      case Mutation::Kind::DeleteRange:
        batch.delete_range(m.cf, m.key, m.value);
        break;
    }
  }
  for (const auto& [id, inst] : view.instances())
    batch.put(Cf::Instances, id, storage::encode_instance(inst.rec));
  for (const auto& [key, value] : view.idempotency()) {
    if (value) {
      batch.put(Cf::Idempotency, key, storage::encode_idempotency({value->created_at, value->result_json}));
    } else {
      batch.del(Cf::Idempotency, key);
    }
  }
  if (view.entries() > 0)
    batch.put(Cf::Meta, std::string(storage::kMetaLatestOffset), storage::u64_value(view.next_offset() - 1));
  return prepared;
}

std::optional<storage::StorageError> RocksGroupStore::write(
    PreparedGroup& prepared, const View& view, const std::vector<CommittedState::CountUpdate>& counts,
    std::uint64_t snapshot_count, bool sync) {
  storage::Batch& batch = static_cast<RocksPrepared&>(prepared).batch;
  for (const auto& update : counts) {
    const auto key = storage::count_key(update.key.first, update.key.second);
    if (update.value == 0) {
      batch.del(Cf::Counts, key);
    } else {
      batch.put(Cf::Counts, key, storage::u64_value(update.value));
    }
  }
  if (view.snapshot_delta() != 0)
    batch.put(Cf::Meta, std::string(kMetaSnapshotCount), storage::u64_value(snapshot_count));
  return store_.write(batch, sync);
}

}  // namespace rstmdb::engine
