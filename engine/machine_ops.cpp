#include "engine/errors.hpp"
#include "engine/object_writer.hpp"
#include "engine/results.hpp"
#include "engine/write_ops.hpp"
#include "protocol/json_text.hpp"
#include "statemachine/definition.hpp"
#include "storage/keys.hpp"
#include "storage/records.hpp"

namespace rstmdb::engine {

namespace json = boost::json;
using protocol::Error;
using protocol::ErrorCode;
using storage::Cf;

Result put_machine(View& v, const OpsContext& ctx, const PutMachine& c) {
  auto parsed = statemachine::parse_machine_definition(c.definition);
  if (auto* e = std::get_if<Error>(&parsed)) return std::move(*e);
  auto& definition = std::get<statemachine::MachineDefinition>(parsed);
  const std::string checksum = definition.checksum();
  if (c.checksum && !protocol::ascii_iequals(*c.checksum, checksum)) {
    json::object d;
    d["field"] = "checksum";
    fail(ErrorCode::BadRequest, "checksum mismatch: computed " + checksum + ", supplied " + *c.checksum,
         std::move(d));
  }

  auto result = [&](bool created) {
    json::object r;
    r["machine"] = c.machine;
    r["version"] = c.version;
    r["stored_checksum"] = checksum;
    r["created"] = created;
    return r;
  };
  if (MachinePtr existing = v.machine(c.machine, c.version)) {
    if (existing->definition.checksum() == checksum) return result(false);
    json::object d;
    d["machine"] = c.machine;
    d["version"] = c.version;
    d["stored_checksum"] = existing->definition.checksum();
    d["submitted_checksum"] = checksum;
    fail(ErrorCode::MachineVersionExists,
         "machine version already exists: " + c.machine + " v" + std::to_string(c.version), std::move(d));
  }
  const std::uint32_t max_versions = ctx.options.max_machine_versions;
  if (max_versions > 0) {
    const std::size_t versions = v.machine_versions(c.machine);
    if (versions >= max_versions) {
      json::object d;
      d["machine"] = c.machine;
      d["limit"] = max_versions;
      d["versions"] = versions;
      fail(ErrorCode::MachineVersionLimitExceeded,
           "machine version limit exceeded: machine '" + c.machine + "' already has " +
               std::to_string(versions) + " versions (limit: " + std::to_string(max_versions) + ")",
           std::move(d));
    }
  }

  std::string definition_json = protocol::to_json(c.definition);
  std::string entry;
  entry.reserve(definition_json.size() + 160);
  ObjectWriter w(entry);
  w.string("type", "put_machine").string("machine", c.machine).number("version", c.version);
  w.string("definition_hash", checksum)
      .raw("definition", definition_json)
      .signed_number("timestamp", v.now());
  w.finish();
  check_entry_size(entry.size());
  v.append_entry(std::move(entry));
  v.put(Cf::Machines, storage::machine_key(c.machine, c.version),
        storage::encode_machine({definition_json, checksum, v.now()}));
  v.put_machine(std::make_shared<MachineVersion>(
      MachineVersion{c.machine, c.version, std::move(definition), std::move(definition_json), v.now()}));
  return result(true);
}

Result get_machine_in(View& v, const GetMachine& c) {
  MachinePtr m = v.machine(c.machine, c.version);
  if (!m) throw OpFailure{machine_not_found(c.machine, c.version)};
  return RawJson{machine_result(*m)};
}

}  // namespace rstmdb::engine
