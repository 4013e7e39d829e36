#include "engine/stored_json.hpp"

#include "protocol/json_text.hpp"
#include "storage/storage_error.hpp"

#include <string>

namespace rstmdb::engine {

boost::json::value parse_stored(std::string_view text, std::string_view what) {
  boost::json::value out;
  protocol::JsonParseError error;
  if (!protocol::parse_stored_json(text, out, error)) {
    throw storage::StorageError("stored " + std::string(what) + " does not parse: " + error.reason,
                                storage::StorageError::Kind::Corruption);
  }
  return out;
}

}  // namespace rstmdb::engine
