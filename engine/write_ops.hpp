// The write operations (operations.md §2, §5, §8-11, §18, §23-24), staged into a View on the
// sequencer thread. Each function validates in the order its op's spec lists, stages every
// change (state, indexes, counters, log entry, idempotency record) and returns the result;
// it throws OpFailure (errors.hpp) to answer an error, and the pipeline then drops whatever it
// staged. They never write to storage themselves: the pipeline commits the group.
//
// Thread: the sequencer (they are only ever called from a Job's run function).
#pragma once

#include "engine/commands.hpp"
#include "engine/committed_state.hpp"
#include "engine/options.hpp"
#include "engine/view.hpp"
#include "storage/store.hpp"

#include <functional>
#include <string_view>

namespace rstmdb::engine {

// What the operations need besides the view.
struct OpsContext {
  const EngineOptions& options;
  const CommittedState& state;
  const storage::Store& store;  // FLUSH_ALL's range ends
  // Build CommittedEvents for applied events (only when someone listens: the commit hook).
  bool build_events = false;
  // FLUSH_ALL empties the sequencer's instance cache once its commit is absorbed.
  std::function<void()> clear_instance_cache;
  // FLUSH_ALL empties the published state once its commit is durable.
  std::function<void()> clear_committed_state;
};

// machine_ops.cpp
Result put_machine(View& v, const OpsContext& ctx, const PutMachine& c);
Result get_machine_in(View& v, const GetMachine& c);

// instance_ops.cpp
Result create_instance(View& v, const OpsContext& ctx, const CreateInstance& c);
// `payload_json` is c.payload serialized; the caller may do that off the sequencer.
Result apply_event(View& v, const OpsContext& ctx, const ApplyEvent& c, std::string_view payload_json);
Result delete_instance(View& v, const DeleteInstance& c);
Result get_instance_in(View& v, const GetInstance& c);
Result snapshot_instance(View& v, const SnapshotInstance& c);
// Stages a snapshot of the live instance `current` (COMPACT force_snapshot reads instances
// without caching them and hands them in here).
Result snapshot_of(View& v, const std::string& id, const Instance& current);

// batch_ops.cpp
Result batch(View& v, const OpsContext& ctx, const Batch& c);
// Runs alone on fully committed state (an exclusive job).
Result flush_all(View& v, const OpsContext& ctx);

}  // namespace rstmdb::engine
