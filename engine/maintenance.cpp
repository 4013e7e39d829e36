#include "engine/maintenance.hpp"

#include "engine/errors.hpp"
#include "engine/identifiers.hpp"
#include "engine/reads.hpp"
#include "engine/stored_json.hpp"
#include "engine/write_ops.hpp"
#include "storage/keys.hpp"
#include "storage/records.hpp"

#include <pthread.h>

namespace rstmdb::engine {

namespace json = boost::json;
using protocol::Error;
using protocol::ErrorCode;
using storage::Cf;

Maintenance::Maintenance(storage::Store& store, CommittedState& state, WritePipeline& pipeline,
                         const EngineOptions& options)
    : store_(store),
      state_(state),
      pipeline_(pipeline),
      settings_{options.compaction, options.idempotency_ttl_secs} {}

void Maintenance::set_settings(config::CompactionConfig compaction, std::uint64_t idempotency_ttl_secs) {
  std::lock_guard lock(settings_mutex_);
  settings_ = Settings{compaction, idempotency_ttl_secs};
}

Maintenance::Settings Maintenance::settings() const {
  std::lock_guard lock(settings_mutex_);
  return settings_;
}

Maintenance::~Maintenance() {
  shutdown();
}

void Maintenance::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rstmdb-maint");
    loop();
  });
}

void Maintenance::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Maintenance::compact(Compact c, ResultCallback done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      jobs_.push_back([this, c, done = std::move(done)]() mutable {
        done(run_compaction(c.force_snapshot, CompactionTrigger::Manual));
      });
      cv_.notify_one();
      return;
    }
  }
  done(Error{ErrorCode::InternalError, "server is shutting down", {}});
}

std::uint64_t Maintenance::retention_point() const {
  const std::uint64_t latest = state_.latest_offset();
  const std::uint64_t oldest = state_.oldest_offset();
  if (latest == 0) return oldest;
  const auto c = settings().compaction;
  // Lowest offset the count rule keeps: offsets <= latest - retain_entries may go.
  std::uint64_t point = latest;
  if (c.retain_entries > 0) point = latest > c.retain_entries ? latest - c.retain_entries + 1 : 1;
  point = std::min(point, latest);  // the latest entry is never trimmed
  if (c.retain_secs > 0 && point > oldest) {
    const std::int64_t cutoff = now_ms() - static_cast<std::int64_t>(c.retain_secs) * 1000;
    store_.scan(Cf::Log, "", storage::offset_key(oldest), [&](std::string_view key, std::string_view entry) {
      const std::uint64_t offset = storage::decode_offset_key(key);
      if (offset >= point) return false;
      if (entry_timestamp(entry) >= cutoff) {
        point = offset;
        return false;
      }
      return true;
    });
  }
  return std::max(point, oldest);
}

std::uint64_t Maintenance::purge_expired_idempotency() {
  const auto ttl = settings().idempotency_ttl_secs;
  if (ttl == 0) return 0;
  auto expired = [ttl](std::int64_t created_at, std::int64_t now) {
    return now - created_at >= static_cast<std::int64_t>(ttl) * 1000;
  };
  std::uint64_t purged = 0;
  for (;;) {
    std::vector<std::string> expired_keys;
    const std::int64_t now = now_ms();
    store_.scan(Cf::Idempotency, "", "", [&](std::string_view key, std::string_view value) {
      storage::IdempotencyRecord record;
      if (storage::decode_idempotency(value, record) && expired(record.created_at, now)) {
        expired_keys.emplace_back(key);
      }
      return expired_keys.size() < kPurgeChunk;
    });
    if (expired_keys.empty()) return purged;
    auto result = pipeline_.run_and_wait([&](View& v) -> Result {
      for (const auto& key : expired_keys) {
        // Re-checked in sequence: a request may have re-created the key since the scan.
        if (!v.idempotent_result(key)) v.del(Cf::Idempotency, key);
      }
      return json::object{};
    });
    if (std::holds_alternative<Error>(result)) return purged;
    purged += expired_keys.size();
    if (expired_keys.size() < kPurgeChunk) return purged;
  }
}

std::uint64_t Maintenance::snapshot_changed_instances() {
  std::uint64_t created = 0;
  std::optional<std::string> resume_after;
  for (;;) {
    // Which instances of the next chunk need a snapshot: read here, off the sequencer.
    std::vector<std::string> candidates;
    std::string last_seen;
    std::size_t seen = 0;
    std::uint64_t bytes = 0;
    bool more = false;
    const std::string start = resume_after ? *resume_after + '\0' : std::string();
    store_.scan(Cf::Instances, "", start, [&](std::string_view key, std::string_view value) {
      if (seen == kSnapshotChunkInstances || bytes >= kSnapshotChunkBytes) {
        more = true;
        return false;
      }
      ++seen;
      last_seen.assign(key);
      storage::InstanceRecord rec;
      if (!storage::decode_instance(value, rec) || rec.deleted) return true;
      if (auto snap = store_.get(Cf::Snapshots, key)) {
        json::value doc = parse_stored(*snap, "snapshot of " + std::string(key));
        const auto* offset = doc.is_object() ? doc.get_object().if_contains("wal_offset") : nullptr;
        if (offset != nullptr && offset->is_number() &&
            offset->to_number<std::uint64_t>() >= rec.last_wal_offset) {
          return true;  // its snapshot is current
        }
      }
      candidates.emplace_back(key);
      bytes += rec.ctx_json.size();
      return true;
    });
    if (!candidates.empty()) {
      std::uint64_t in_chunk = 0;
      auto r = pipeline_.run_and_wait([&](View& v) -> Result {
        for (const auto& id : candidates) {
          // Read through the view (it may have changed since the scan), never into the cache.
          const Instance* inst = v.peek_instance(id);
          if (inst == nullptr || inst->rec.deleted) continue;
          snapshot_of(v, id, *inst);
          ++in_chunk;
        }
        return json::object{};
      });
      if (auto* e = std::get_if<Error>(&r)) throw OpFailure{*e};
      created += in_chunk;
    }
    if (!more) return created;
    resume_after = std::move(last_seen);
  }
}

Result Maintenance::run_compaction(bool force_snapshot, CompactionTrigger trigger) {
  try {
    const std::uint64_t snapshots_created = force_snapshot ? snapshot_changed_instances() : 0;

    const std::uint64_t before = store_.disk_bytes();
    const std::uint64_t oldest = state_.oldest_offset();
    const std::uint64_t point = retention_point();
    std::uint64_t trimmed = 0;
    if (point > oldest) {
      auto r = pipeline_.run_and_wait([&](View& v) -> Result {
        v.del_range(Cf::Log, storage::offset_key(oldest), storage::offset_key(point));
        v.put(Cf::Meta, std::string(storage::kMetaOldestOffset), storage::u64_value(point));
        v.after_commit([this, point] { state_.set_oldest_offset(point); });
        return json::object{};
      });
      if (auto* e = std::get_if<Error>(&r)) return *e;
      trimmed = point - oldest;
    }
    purge_expired_idempotency();
    for (Cf cf : {Cf::Log, Cf::Idempotency}) {
      if (auto e = store_.compact_range(cf, "", "")) return storage_failure(*e);
    }
    const std::uint64_t after = store_.disk_bytes();
    state_.reset_entries_since_compaction();
    if (auto* observer = pipeline_.observer()) observer->on_compaction(trigger);

    json::object r;
    r["snapshots_created"] = snapshots_created;
    r["segments_deleted"] = trimmed;
    r["bytes_reclaimed"] = before > after ? before - after : 0;
    r["total_snapshots"] = state_.snapshot_count();
    r["wal_segments"] = std::max<std::uint64_t>(1, store_.cf_files(Cf::Log).file_count);
    r["entries_trimmed"] = trimmed;
    return r;
  } catch (const storage::StorageError& e) {
    return storage_failure(e);
  } catch (OpFailure& f) {
    return std::move(f.error);
  }
}

void Maintenance::loop() {
  auto last_compaction = std::chrono::steady_clock::now();
  auto last_purge = std::chrono::steady_clock::now();
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, kTick, [&] { return stopping_ || !jobs_.empty(); });
      // Queued COMPACTs still run when stopping (the pipeline stops after this thread).
      if (!jobs_.empty()) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      } else if (stopping_) {
        return;
      }
    }
    if (job) {
      job();
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    const auto c = settings().compaction;  // a reload may change it between passes
    try {
      if (c.enabled && now - last_compaction >= std::chrono::seconds(c.min_interval_secs)) {
        const bool by_events =
            c.events_threshold > 0 && state_.entries_since_compaction() >= c.events_threshold;
        const bool by_size = c.size_threshold_mb > 0 &&
                             store_.cf_files(Cf::Log).total_bytes > c.size_threshold_mb * 1024 * 1024 &&
                             retention_point() > state_.oldest_offset();
        if (by_events || by_size) {
          run_compaction(false, by_events ? CompactionTrigger::Events : CompactionTrigger::Size);
          last_compaction = now;
          last_purge = now;
        }
      }
      if (now - last_purge >= kIdempotencyPurgeInterval) {
        purge_expired_idempotency();
        last_purge = now;
      }
    } catch (const std::exception&) {
      // A failed background pass is retried on the next tick; a storage failure has already
      // stopped the engine and is reported through its failure handler.
    }
  }
}

}  // namespace rstmdb::engine
