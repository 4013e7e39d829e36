// Checks a store reopened from a power-cut image against the change log and the writers'
// ledger (docs/storage.md "Proving durability").
//
// audit_image() reads the whole store directly (storage::Store scans, no engine) and checks:
//   - the log holds offsets 1..L with no gap, and meta latest_offset is L;
//   - replaying the entries in offset order is valid: a create names a stored machine version
//     and an absent or deleted id; an event names a live instance, leaves the stored
//     from_state by a transition of the machine, and its ctx is the previous ctx merged with
//     its payload; a delete names a live instance; a machine version is put once; every entry
//     was issued by a writer, none was answered "not applied", and no event id appears twice;
//   - the replayed instances (state, ctx, last_event_id, last_wal_offset, timestamps,
//     tombstones) equal the Instances column family record for record, and the Index, Counts
//     and Machines column families are exactly what the replay implies;
//   - every acknowledgement in the ledger at an offset <= L matches the entry at that offset
//     (type, instance, state, ctx, event id). An acknowledgement beyond L is a failure when
//     `all_acks_durable` (every_write); otherwise it is forgotten (lost, as every_n/every_ms
//     allow), and so are acknowledged machine versions, which carry no offset.
#pragma once

#include "durable_load.hpp"
#include "storage/store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace rstmdb::test {

struct AuditReport {
  std::uint64_t latest = 0;  // the log's entries are 1..latest
  std::size_t live = 0;
  std::size_t tombstones = 0;
  std::size_t machines = 0;
  std::size_t acks_checked = 0;
  std::size_t acks_lost = 0;  // forgotten: beyond the log (only when !all_acks_durable)
  std::vector<std::string> failures;

  std::string failure_text() const;  // the first failures, one per line
};

AuditReport audit_image(const storage::Store& store, AckLedger& ledger, bool all_acks_durable);

}  // namespace rstmdb::test
