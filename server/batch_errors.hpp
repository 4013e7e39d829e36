// The error codes of a BATCH result's failed elements, read from the result text the engine
// wrote (operations.md §10: {"results":[{"status":"ok","result":…},{"status":"error",
// "error":{"code":"…",…}},…]}), for rstmdb_errors_total, which counts BATCH element errors too.
//
// One pass over the text without building a JSON value: elements are told apart by depth, and
// strings are skipped with their escapes, so nothing a result contains (a ctx holding
// {"status":"error"…}, quotes, brackets) is mistaken for an element. Text that does not have
// the shape above yields nothing.
#pragma once

#include "protocol/error.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace rstmdb::server {

void for_each_batch_element_error(std::string_view result_json,
                                  const std::function<void(protocol::ErrorCode)>& on_error);

// The unsigned integer value of the top-level member `key` of a compact JSON object text the
// engine wrote (e.g. a write's "wal_offset", for the request log lines), found the same way:
// members of nested values (a ctx with a "wal_offset" key) are skipped. None if absent or not
// an unsigned integer.
std::optional<std::uint64_t> top_level_uint(std::string_view object_json, std::string_view key);

}  // namespace rstmdb::server
