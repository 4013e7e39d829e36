// The read operations (operations.md §3, §4, §6, §7, §12, §13) against committed data only:
// RocksDB makes a synced write visible only after its WAL sync, so a read never sees data that
// is not yet durable under every_write.
//
// Thread-safety: every function may run on any thread concurrently with writes. get_instance
// and get_machine are point reads (one RocksDB get, usually from the memtable or block cache;
// an in-memory lookup) and may run on an I/O thread; list_* and wal_read scan and must not.
// Each throws StorageError on a storage failure.
#pragma once

#include "engine/commands.hpp"
#include "engine/committed_state.hpp"
#include "engine/options.hpp"
#include "storage/store.hpp"

namespace rstmdb::engine {

class Reads {
 public:
  Reads(const storage::Store& store, const CommittedState& state, const EngineOptions& options)
      : store_(store), state_(state), options_(options) {}

  Result get_instance(const GetInstance& q) const;
  Result get_machine(const GetMachine& q) const;
  Result list_machines(const ListMachines& q) const;
  Result list_instances(const ListInstances& q) const;
  Result wal_read(const WalRead& q) const;
  Result wal_stats() const;
  std::variant<InstancePosition, protocol::Error> instance_position(const GetInstance& q) const;
  void read_log(std::uint64_t from, std::uint64_t through,
                const std::function<bool(std::uint64_t, std::string_view)>& visit) const;

 private:
  // Room kept in a response for the envelope around a list page.
  static constexpr std::size_t kEnvelopeReserveBytes = 4096;
  std::size_t page_budget() const { return options_.max_response_bytes - kEnvelopeReserveBytes; }

  const storage::Store& store_;
  const CommittedState& state_;
  const EngineOptions& options_;
};

// Change-log entries are written by this engine, so their first key is "type" and their last
// is "timestamp" (operations.md §25.2); that lets readers splice them without parsing.
std::string_view entry_type(std::string_view entry);
std::int64_t entry_timestamp(std::string_view entry);

}  // namespace rstmdb::engine
