// Request params → engine commands, for every data operation (operations.md §2–§14, §18):
// the one place a front end turns a request's `params` object into the typed command the
// engine takes, so the RCP dispatcher (server/data_ops.cpp) and any later front end (an HTTP
// gateway) parse, default and reject exactly alike.
//
// Contract: every function reads only `p` and throws RequestError (server/params.hpp) with
// the exact BAD_REQUEST of operations.md §1.1 when a field is missing, mistyped or invalid.
// parse_batch never throws for a bad element: that element's command is its error (BATCH
// answers per element); it throws only for the batch as a whole (mode, ops, size).
// Pure functions: callable from any thread.
#pragma once

#include "engine/commands.hpp"
#include "server/params.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace rstmdb::server {

// `idempotency_key`; "" counts as absent (operations.md §1.1).
std::optional<std::string> idempotency_key(const Params& p);
// `instance_id` (alias `id`), required.
std::string instance_id(const Params& p);

engine::PutMachine parse_put_machine(const Params& p);
engine::GetMachine parse_get_machine(const Params& p);
engine::CreateInstance parse_create_instance(const Params& p);
engine::GetInstance parse_get_instance(const Params& p);
engine::DeleteInstance parse_delete_instance(const Params& p);
engine::ApplyEvent parse_apply_event(const Params& p);
engine::SnapshotInstance parse_snapshot_instance(const Params& p);
engine::Compact parse_compact(const Params& p);
engine::ListMachines parse_list_machines(const Params& p);
engine::ListInstances parse_list_instances(const Params& p);
engine::WalRead parse_wal_read(const Params& p);

// One element of BATCH's `ops`; a bad element becomes an element whose command is its error.
engine::BatchElement parse_batch_element(const boost::json::value& element);
engine::Batch parse_batch(const Params& p);

// WAL_READ's from_offset (alias fromOffset): a u64, or a string of decimal digits
// (operations.md §12); absent → 0.
std::uint64_t parse_from_offset(const Params& p);

}  // namespace rstmdb::server
