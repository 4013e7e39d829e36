// Context and payload merge (operations.md §21).
#pragma once

#include <boost/json/object.hpp>

namespace rstmdb::statemachine {

// Shallow top-level overwrite: ctx[k] = payload[k] for every key of `payload`, in payload
// order. A key already in `ctx` keeps its position; new keys are appended. Nested objects are
// replaced whole, and a null value is stored as null (keys are never removed).
// Copies go to ctx's memory resource. `ctx` and `payload` must not be the same object.
void merge_context(boost::json::object& ctx, const boost::json::object& payload);

}  // namespace rstmdb::statemachine
