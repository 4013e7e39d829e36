// JSON the engine stored, read back: definitions, ctx, snapshots. Everything goes through
// protocol::parse_stored_json (the stored-depth limit and the request number rules), so what
// the server accepted it can always read again after a restart.
#pragma once

#include <boost/json/value.hpp>

#include <string_view>

namespace rstmdb::engine {

// Throws storage::StorageError (Kind::Corruption) naming `what` if the text does not parse.
boost::json::value parse_stored(std::string_view text, std::string_view what);

}  // namespace rstmdb::engine
