// Result objects built as JSON text (protocol.md §6.6 conventions), splicing stored JSON
// (ctx, definitions) without re-parsing it.
#pragma once

#include "engine/catalog.hpp"
#include "engine/commands.hpp"
#include "storage/records.hpp"

#include <string>

namespace rstmdb::engine {

// GET_INSTANCE's result.
std::string instance_result(const std::string& id, const storage::InstanceRecord& rec);
// GET_MACHINE's result: the definition exactly as submitted, and its checksum.
std::string machine_result(const MachineVersion& m);
// A result as compact JSON text.
std::string result_text(const Result& r);
// An APPLY_EVENT replay answers the stored result with "applied":false.
std::string as_replay(std::string stored_result);

}  // namespace rstmdb::engine
