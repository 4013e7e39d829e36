// Concurrent write load on a real engine::Engine, and the ledger of what it acknowledged, for
// the power-cut harness (tests/unit/engine/power_cut_test.cpp, docs/storage.md "Proving
// durability").
//
// Writers are closed-loop threads (one request in flight each) issuing a mix of every write
// the engine sequences: create (with and without idempotency keys, re-creates of deleted ids),
// apply_event with payloads of up to `max_blob` bytes (event ids, idempotency keys, guarded
// transitions, expected_state conflicts, retries of idempotent requests), delete, put_machine,
// atomic batches (some failing as a whole) and best-effort batches (some elements failing),
// and events on a few instances shared by every writer. Errors are part of the mix; only
// successful results are acknowledgements.
//
// Every acknowledgement is classified at the moment its callback runs: it counts only if the
// power had not been cut yet (`cut()` false), which means its sync was recorded before the cut
// (see FaultFs::power_cut).
#pragma once

#include "ack_ledger.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "storage/store.hpp"

#include <rocksdb/env.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rstmdb::test {

struct LoadOptions {
  int writers = 16;
  int ops_per_writer = 40;  // each writer stops after this many requests (or at the cut)
  std::uint64_t seed = 1;
  std::string tag;  // makes ids unique across the epochs of one data directory
  std::size_t max_blob = 1500;
};

struct LoadStats {
  std::uint64_t requests = 0;
  std::uint64_t acked = 0;            // successful results delivered before the cut
  std::uint64_t acked_after_cut = 0;  // not counted
  std::uint64_t errors = 0;           // error results (conflicts, not found, ...)
  // WAL_IO_ERROR answers after a storage failure (engine fail-stop): the write being written
  // ("outcome ... unknown"), writes never attempted ("not applied"), anything else.
  std::uint64_t outcome_unknown = 0;
  std::uint64_t not_applied = 0;
  std::uint64_t other_storage_errors = 0;
};

// The machine every writer uses (set up once per data directory by setup_load).
inline constexpr const char* kLoadMachine = "door";

// Creates the load's machine and shared instances (tag-specific); acknowledged like any write.
void setup_load(engine::Engine& engine, const LoadOptions& options, AckLedger& ledger,
                const std::function<bool()>& cut);

// ---- The engine under the harness (power_cut_test.cpp, storage_fault_test.cpp).

// The unsigned number in environment variable `name` (a test's scale or seed), else `fallback`.
std::uint64_t env_number(const char* name, std::uint64_t fallback);

// Where the harness's data directories go: $RSTMDB_TEST_TMPDIR, else /dev/shm, else the system
// temp dir. The fault model does not depend on the real disk's fsync, and tmpfs makes it free.
std::filesystem::path scratch_root();

// A Store on `data_dir` over `env` (FaultFs's, or nullptr for the default) opened with
// harness_store_options (harness_store_options.hpp). Throws std::runtime_error with the
// store's message if it does not open.
std::unique_ptr<storage::Store> open_harness_store(const std::filesystem::path& data_dir,
                                                   storage::MemtableKind memtable, rocksdb::Env* env);

// Engine options for `policy`, with log trimming off: the audit replays the log from offset 1.
engine::EngineOptions harness_engine_options(const config::FsyncPolicy& policy);

// Runs options.writers threads until each has made ops_per_writer requests or `stop()` (by
// default `cut()`) is true before a request. Returns when all have finished.
LoadStats run_load(engine::Engine& engine, const LoadOptions& options, AckLedger& ledger,
                   const std::function<bool()>& cut, const std::function<bool()>& stop = {});

}  // namespace rstmdb::test
