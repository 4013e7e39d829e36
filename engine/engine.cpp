#include "engine/engine.hpp"

#include "engine/committed_reader.hpp"
#include "engine/committed_state.hpp"
#include "engine/errors.hpp"
#include "engine/group_store.hpp"
#include "engine/maintenance.hpp"
#include "engine/reads.hpp"
#include "engine/write_ops.hpp"
#include "engine/write_pipeline.hpp"
#include "protocol/json_text.hpp"

#include <map>

namespace rstmdb::engine {

// The parts, in construction order (each refers only to those before it).
class Engine::Impl {
 public:
  Impl(storage::Store& store, EngineOptions options)
      : options_(std::move(options)),
        store_(store),
        reader_(store_, state_, options_.idempotency_ttl_secs, options_.instance_cache_bytes),
        group_store_(store_),
        pipeline_(group_store_, reader_, state_, options_.fsync_policy, failure_),
        reads_(store_, state_, options_),
        maintenance_(store_, state_, pipeline_, options_),
        ops_{options_,
             state_,
             store_,
             false,
             [this] { reader_.cache().clear(); },
             [this] { state_.clear_all(); }} {
    state_.load(store_);
    // RocksDB's background errors (flush, compaction, WAL) trip the same latch. The handler
    // holds the latch, not the engine: RocksDB may call it while the engine is being destroyed.
    store_.set_background_error_handler([latch = failure_, &store](const storage::StorageError& e) {
      store.mark_failed(e);
      latch->trip(e);
    });
    pipeline_.start();
    maintenance_.start();
  }

  ~Impl() { shutdown(); }

  void shutdown() {
    maintenance_.shutdown();  // first: it submits internal jobs to the pipeline
    pipeline_.shutdown();
  }

  void submit(std::function<Result(View&)> run, ResultCallback done, bool exclusive = false,
              std::string instance_hint = {}) {
    pipeline_.submit(Job{std::move(run), std::move(done), exclusive, false, {}, std::move(instance_hint)});
  }

  EngineOptions options_;
  storage::Store& store_;
  CommittedState state_;
  std::shared_ptr<FailureLatch> failure_ = std::make_shared<FailureLatch>();
  StoreReader reader_;
  RocksGroupStore group_store_;
  WritePipeline pipeline_;
  Reads reads_;
  Maintenance maintenance_;
  OpsContext ops_;
  bool has_commit_hook_ = false;
};

Engine::Engine(storage::Store& store, EngineOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}

Engine::~Engine() {
  impl_->shutdown();
}

void Engine::shutdown() {
  impl_->shutdown();
}

bool Engine::set_reloadable(const ReloadableOptions& options) {
  // The sequenced part: the ops read these (through OpsContext) only inside sequenced jobs.
  auto result = impl_->pipeline_.run_and_wait([this, options](View&) -> Result {
    impl_->options_.max_machine_versions = options.max_machine_versions;
    impl_->options_.allow_instance_recreate = options.allow_instance_recreate;
    impl_->options_.idempotency_ttl_secs = options.idempotency_ttl_secs;
    impl_->reader_.set_idempotency_ttl_secs(options.idempotency_ttl_secs);
    return boost::json::object{};
  });
  if (std::holds_alternative<protocol::Error>(result)) return false;
  impl_->maintenance_.set_settings(options.compaction, options.idempotency_ttl_secs);
  return true;
}

void Engine::put_machine(PutMachine command, ResultCallback done) {
  impl_->submit([this, c = std::move(command)](View& v) { return engine::put_machine(v, impl_->ops_, c); },
                std::move(done));
}

void Engine::create_instance(CreateInstance command, ResultCallback done) {
  impl_->submit(
      [this, c = std::move(command)](View& v) { return engine::create_instance(v, impl_->ops_, c); },
      std::move(done));
}

void Engine::apply_event(ApplyEvent command, ResultCallback done) {
  std::string hint = command.instance_id;
  // The payload is serialized here, on the submitting thread, not on the sequencer.
  impl_->submit([this, payload = protocol::to_json(command.payload),
                 c = std::move(command)](View& v) { return engine::apply_event(v, impl_->ops_, c, payload); },
                std::move(done), false, std::move(hint));
}

void Engine::delete_instance(DeleteInstance command, ResultCallback done) {
  impl_->submit([c = std::move(command)](View& v) { return engine::delete_instance(v, c); }, std::move(done));
}

void Engine::batch(Batch command, ResultCallback done) {
  impl_->submit([this, c = std::move(command)](View& v) { return engine::batch(v, impl_->ops_, c); },
                std::move(done));
}

void Engine::snapshot_instance(SnapshotInstance command, ResultCallback done) {
  impl_->submit([c = std::move(command)](View& v) { return engine::snapshot_instance(v, c); },
                std::move(done));
}

void Engine::flush_all(ResultCallback done) {
  impl_->submit([this](View& v) { return engine::flush_all(v, impl_->ops_); }, std::move(done), true);
}

void Engine::compact(Compact command, ResultCallback done) {
  impl_->maintenance_.compact(command, std::move(done));
}

namespace {

template <typename Fn>
Result guarded_read(Fn&& fn) {
  try {
    return fn();
  } catch (const storage::StorageError& e) {
    return storage_failure(e);
  }
}

}  // namespace

Result Engine::get_machine(const GetMachine& q) const {
  return guarded_read([&] { return impl_->reads_.get_machine(q); });
}
Result Engine::get_instance(const GetInstance& q) const {
  return guarded_read([&] { return impl_->reads_.get_instance(q); });
}
Result Engine::list_machines(const ListMachines& q) const {
  return guarded_read([&] { return impl_->reads_.list_machines(q); });
}
Result Engine::list_instances(const ListInstances& q) const {
  return guarded_read([&] { return impl_->reads_.list_instances(q); });
}
Result Engine::wal_read(const WalRead& q) const {
  return guarded_read([&] { return impl_->reads_.wal_read(q); });
}
Result Engine::wal_stats() const {
  return guarded_read([&] { return impl_->reads_.wal_stats(); });
}

std::variant<InstancePosition, protocol::Error> Engine::instance_position(const GetInstance& q) const {
  try {
    return impl_->reads_.instance_position(q);
  } catch (const storage::StorageError& e) {
    return storage_failure(e);
  }
}

std::optional<protocol::Error> Engine::read_log(
    std::uint64_t from, std::uint64_t through,
    const std::function<bool(std::uint64_t offset, std::string_view entry)>& visit) const {
  try {
    impl_->reads_.read_log(from, through, visit);
    return std::nullopt;
  } catch (const storage::StorageError& e) {
    return storage_failure(e);
  }
}

void Engine::set_completion_executor(std::function<void(std::function<void()>)> run) {
  impl_->pipeline_.set_completion_executor(std::move(run));
}

void Engine::set_commit_hook(std::function<void(CommitNotice)> hook) {
  impl_->has_commit_hook_ = static_cast<bool>(hook);
  impl_->ops_.build_events = impl_->has_commit_hook_ || impl_->pipeline_.observer() != nullptr;
  impl_->pipeline_.set_commit_hook(std::move(hook));
}

void Engine::set_observer(EngineObserver* observer) {
  impl_->ops_.build_events = impl_->has_commit_hook_ || observer != nullptr;
  impl_->pipeline_.set_observer(observer);
}

Engine::LeadScope::LeadScope(Engine& engine)
    : engine_(engine), outer_(engine.impl_->pipeline_.begin_deferring()) {}

Engine::LeadScope::~LeadScope() {
  engine_.impl_->pipeline_.end_deferring(static_cast<WritePipeline*>(outer_));
}

void Engine::set_lead_mode(LeadMode mode) {
  using P = WritePipeline::LeadMode;
  impl_->pipeline_.set_lead_mode(mode == LeadMode::Never         ? P::Never
                                 : mode == LeadMode::WithoutSync ? P::WithoutSync
                                                                 : P::Always);
}

void Engine::set_lead_sync_hook(std::function<void(bool blocking)> hook) {
  impl_->pipeline_.set_lead_sync_hook(std::move(hook));
}

void Engine::set_failure_handler(std::function<void(const storage::StorageError&)> handler) {
  impl_->failure_->set_handler(std::move(handler));
}

std::optional<storage::StorageError> Engine::failure() const {
  return impl_->failure_->cause();
}

std::uint64_t Engine::latest_offset() const noexcept {
  return impl_->state_.latest_offset();
}
std::uint64_t Engine::oldest_offset() const noexcept {
  return impl_->state_.oldest_offset();
}
std::uint64_t Engine::instance_count() const {
  return impl_->state_.live_total();
}
std::uint64_t Engine::machine_count() const {
  return impl_->state_.catalog().size();
}
IoStats Engine::io_stats() const {
  return impl_->state_.io_stats();
}

std::vector<Engine::StateCount> Engine::instances_by_state() const {
  const auto& state = impl_->state_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> counts;
  bool more = false;
  for (const auto& listing : state.catalog().list(std::nullopt, 0, more)) {
    for (const std::uint32_t version : listing.versions) {
      if (auto m = state.catalog().find(listing.machine, version)) {
        for (const auto& s : m->definition.states())
          counts.try_emplace({listing.machine, s}, 0);
      }
    }
  }
  for (const auto& [key, n] : state.counts())
    counts[key] = n;
  std::vector<StateCount> out;
  out.reserve(counts.size());
  for (auto& [key, n] : counts)
    out.push_back(StateCount{key.first, key.second, n});
  return out;
}

}  // namespace rstmdb::engine
