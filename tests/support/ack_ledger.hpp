// What the writers of the durability harness were told and what they asked for
// (tests/support/durable_load.hpp writes it, tests/support/log_audit.hpp checks a reopened
// store against it). Thread-safe.
#pragma once

#include <cstdint>
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

}  // namespace rstmdb::test
