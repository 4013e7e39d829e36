#include "engine/results.hpp"

#include "engine/object_writer.hpp"
#include "protocol/json_text.hpp"

namespace rstmdb::engine {

std::string instance_result(const std::string& id, const storage::InstanceRecord& rec) {
  std::string out;
  out.reserve(160 + rec.ctx_json.size());
  ObjectWriter w(out);
  w.string("instance_id", id)
      .string("machine", rec.machine)
      .number("version", rec.version)
      .string("state", rec.state);
  w.raw("ctx", rec.ctx_json);
  if (rec.last_event_id) w.string("last_event_id", *rec.last_event_id);
  w.number("last_wal_offset", rec.last_wal_offset)
      .signed_number("created_at", rec.created_at)
      .signed_number("updated_at", rec.updated_at);
  w.finish();
  return out;
}

std::string machine_result(const MachineVersion& m) {
  std::string out;
  ObjectWriter w(out);
  w.raw("definition", m.definition_json).string("checksum", m.definition.checksum());
  w.finish();
  return out;
}

std::string result_text(const Result& r) {
  if (auto* o = std::get_if<boost::json::object>(&r)) return protocol::to_json(*o);
  return std::get<RawJson>(r).text;
}

// The stored text was written by apply_event and holds `,"applied":true` exactly once outside
// any string (a JSON string cannot contain an unescaped quote), as its last such occurrence.
std::string as_replay(std::string stored) {
  constexpr std::string_view kApplied = ",\"applied\":true";
  const auto pos = stored.rfind(kApplied);
  if (pos != std::string::npos) stored.replace(pos, kApplied.size(), ",\"applied\":false");
  return stored;
}

}  // namespace rstmdb::engine
