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

#include <functional>
#include <string_view>

namespace rstmdb::server {

void for_each_batch_element_error(std::string_view result_json,
                                  const std::function<void(protocol::ErrorCode)>& on_error);

}  // namespace rstmdb::server
