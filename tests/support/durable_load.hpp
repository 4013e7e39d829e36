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

#include "engine/engine.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace rstmdb::test {

// An acknowledged write and what the change log must hold at its offset.
struct Ack {
  std::uint64_t offset = 0;
  std::string type;  // the log entry's type: create_instance, apply_event, delete_instance
  std::string instance_id;
  std::string state;     // create_instance: initial state; apply_event: to_state
  std::string ctx_json;  // create_instance: initial ctx; apply_event: ctx after (compact JSON)
  std::string event_id;  // apply_event, "" if none was sent
};

// What writers were told, and what they asked for. Thread-safe.
class AckLedger {
 public:
  void acked(Ack ack);
  void acked_machine(const std::string& machine, std::uint32_t version);
  void issued_event(const std::string& event_id);
  void issued_instance(const std::string& instance_id);
  // A request answered "not applied" (after a storage failure): its new event id or new
  // instance must not be in the log.
  void refused(const std::vector<std::string>& instance_ids, const std::vector<std::string>& event_ids);

  // Acknowledgements by offset (several acks may name one offset: idempotent replays, deletes
  // of deleted instances).
  std::multimap<std::uint64_t, Ack> acks() const;
  std::set<std::pair<std::string, std::uint32_t>> machines() const;
  bool was_issued_event(const std::string& event_id) const;
  bool was_issued_instance(const std::string& instance_id) const;
  bool was_refused_event(const std::string& event_id) const;
  bool was_refused_instance(const std::string& instance_id) const;
  // Forgets acknowledgements past `latest` (lost under every_n / every_ms, as they allow).
  std::size_t forget_after(std::uint64_t latest);
  // Forgets acknowledged machine versions not in `kept` (lost under every_n / every_ms).
  void forget_machines_except(const std::set<std::pair<std::string, std::uint32_t>>& kept);
  std::size_t size() const;

  // The whole ledger as one JSON document, for a test that runs the load in a child process
  // (tests/unit/engine/storage_fault_test.cpp). load() adds what `path` holds to this ledger;
  // it throws std::runtime_error on bad input.
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  mutable std::mutex mutex_;
  std::multimap<std::uint64_t, Ack> acks_;
  std::set<std::pair<std::string, std::uint32_t>> machines_;
  std::set<std::string> events_;
  std::set<std::string> instances_;
  std::set<std::string> refused_events_;
  std::set<std::string> refused_instances_;
};

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

// Runs options.writers threads until each has made ops_per_writer requests or `stop()` (by
// default `cut()`) is true before a request. Returns when all have finished.
LoadStats run_load(engine::Engine& engine, const LoadOptions& options, AckLedger& ledger,
                   const std::function<bool()>& cut, const std::function<bool()>& stop = {});

}  // namespace rstmdb::test
