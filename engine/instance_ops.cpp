#include "engine/errors.hpp"
#include "engine/identifiers.hpp"
#include "engine/object_writer.hpp"
#include "engine/results.hpp"
#include "engine/write_ops.hpp"
#include "protocol/crc32c.hpp"
#include "protocol/json_text.hpp"
#include "statemachine/context.hpp"
#include "statemachine/transition.hpp"
#include "storage/keys.hpp"

namespace rstmdb::engine {

namespace json = boost::json;
using protocol::Error;
using protocol::ErrorCode;
using storage::Cf;

namespace {

// Two index entries per live instance: by machine, and by (machine, state). A state-only
// LIST_INSTANCES merges the (machine, state) ranges of every machine, which keeps an
// APPLY_EVENT that changes state at two index writes instead of four.
void put_indexes(View& v, const std::string& id, const storage::InstanceRecord& rec) {
  v.put(Cf::Index, storage::index_by_machine(rec.machine, id), "");
  v.put(Cf::Index, storage::index_by_machine_state(rec.machine, rec.state, id), "");
}

void delete_state_index(View& v, const std::string& id, const storage::InstanceRecord& rec) {
  v.del(Cf::Index, storage::index_by_machine_state(rec.machine, rec.state, id));
}

}  // namespace

Result create_instance(View& v, const OpsContext& ctx, const CreateInstance& c) {
  std::string idempotency_key;
  if (c.idempotency_key) {
    idempotency_key = storage::idempotency_create_key(*c.idempotency_key);
    if (auto replay = v.idempotent_result(idempotency_key)) return RawJson{std::move(*replay)};
  }
  const std::string id = c.instance_id ? *c.instance_id : uuid_v4();
  const Instance* existing = v.instance(id);
  if (existing != nullptr && (!existing->rec.deleted || !ctx.options.allow_instance_recreate)) {
    json::object d;
    d["instance_id"] = id;
    fail(ErrorCode::InstanceExists, "instance already exists: " + id, std::move(d));
  }
  MachinePtr machine = v.machine(c.machine, c.version);
  if (!machine) throw OpFailure{machine_not_found(c.machine, c.version)};

  const std::uint64_t offset = v.next_offset();
  std::string ctx_json = protocol::to_json(c.initial_ctx);
  const std::string& initial = machine->definition.initial();
  std::string entry;
  entry.reserve(ctx_json.size() + 200);
  ObjectWriter w(entry);
  w.string("type", "create_instance").string("instance_id", id).string("machine", c.machine);
  w.number("version", c.version).string("initial_state", initial).raw("initial_ctx", ctx_json);
  if (c.idempotency_key) w.string("idempotency_key", *c.idempotency_key);
  w.signed_number("timestamp", v.now());
  w.finish();
  check_entry_size(entry.size());
  v.append_entry(std::move(entry));

  if (existing != nullptr) {
    // A brand-new incarnation: nothing of the deleted one carries over.
    v.erase_idempotency_prefix(storage::idempotency_instance_prefix('a', id));
    v.erase_idempotency_prefix(storage::idempotency_instance_prefix('d', id));
  }
  Instance inst;
  inst.rec.machine = c.machine;
  inst.rec.version = c.version;
  inst.rec.state = initial;
  inst.rec.ctx_json = std::move(ctx_json);
  inst.rec.last_wal_offset = offset;
  inst.rec.created_at = v.now();
  inst.rec.updated_at = v.now();
  inst.ctx = c.initial_ctx;
  put_indexes(v, id, inst.rec);
  v.count_delta(c.machine, initial, +1);
  v.put_instance(id, std::move(inst));

  std::string result;
  ObjectWriter r(result);
  r.string("instance_id", id).string("state", initial).number("wal_offset", offset);
  r.finish();
  if (c.idempotency_key) v.put_idempotent_result(idempotency_key, result);
  return RawJson{std::move(result)};
}

Result apply_event(View& v, const OpsContext& ctx, const ApplyEvent& c, std::string_view payload_json) {
  const Instance* current = v.instance(c.instance_id);
  if (current == nullptr || current->rec.deleted) throw OpFailure{instance_not_found(c.instance_id)};
  std::string idempotency_key;
  if (c.idempotency_key) {
    idempotency_key = storage::idempotency_apply_key(c.instance_id, *c.idempotency_key);
    if (auto replay = v.idempotent_result(idempotency_key)) return RawJson{as_replay(std::move(*replay))};
  }
  const auto& rec = current->rec;
  if (c.expected_state && *c.expected_state != rec.state) {
    json::object d;
    d["expected_state"] = *c.expected_state;
    d["actual_state"] = rec.state;
    fail(ErrorCode::Conflict,
         "state conflict: expected '" + *c.expected_state + "', actual '" + rec.state + "'", std::move(d));
  }
  if (c.expected_wal_offset && *c.expected_wal_offset != rec.last_wal_offset) {
    json::object d;
    d["expected_wal_offset"] = *c.expected_wal_offset;
    d["actual_wal_offset"] = rec.last_wal_offset;
    fail(ErrorCode::Conflict,
         "WAL offset conflict: expected " + std::to_string(*c.expected_wal_offset) + ", actual " +
             std::to_string(rec.last_wal_offset),
         std::move(d));
  }
  MachinePtr machine = v.machine(rec.machine, rec.version);
  if (!machine) throw OpFailure{machine_not_found(rec.machine, rec.version)};
  auto selected = statemachine::select_transition(machine->definition, rec.state, c.event, current->ctx);
  if (auto* e = std::get_if<Error>(&selected)) throw OpFailure{std::move(*e)};
  const statemachine::Transition& transition = *std::get<const statemachine::Transition*>(selected);

  Instance next = *current;
  statemachine::merge_context(next.ctx, c.payload);
  std::string ctx_json = protocol::to_json(next.ctx);
  const std::uint64_t offset = v.next_offset();

  std::string entry;
  entry.reserve(ctx_json.size() + payload_json.size() + 256);
  ObjectWriter w(entry);
  w.string("type", "apply_event").string("instance_id", c.instance_id).string("machine", rec.machine);
  w.number("version", rec.version).string("event", c.event).string("from_state", rec.state);
  w.string("to_state", transition.to).raw("payload", payload_json);
  const std::size_t payload_pos = entry.size() - payload_json.size();
  w.raw("ctx", ctx_json);
  const std::size_t ctx_pos = entry.size() - ctx_json.size();
  if (c.event_id) w.string("event_id", *c.event_id);
  if (c.idempotency_key) w.string("idempotency_key", *c.idempotency_key);
  w.signed_number("timestamp", v.now());
  w.finish();
  check_entry_size(entry.size());
  v.append_entry(std::move(entry));

  std::string result;
  result.reserve(ctx_json.size() + 128);
  ObjectWriter r(result);
  r.string("from_state", rec.state).string("to_state", transition.to).raw("ctx", ctx_json);
  r.number("wal_offset", offset).boolean("applied", true);
  if (c.event_id) r.string("event_id", *c.event_id);
  r.finish();

  if (ctx.build_events) {
    v.add_event(CommittedEvent{offset,
                               c.instance_id,
                               rec.machine,
                               rec.version,
                               c.event,
                               rec.state,
                               transition.to,
                               {},
                               payload_pos,
                               payload_json.size(),
                               ctx_pos,
                               ctx_json.size()});
  }
  if (transition.to != rec.state) {
    delete_state_index(v, c.instance_id, rec);
    v.count_delta(rec.machine, rec.state, -1);
    v.count_delta(rec.machine, transition.to, +1);
    next.rec.state = transition.to;
    v.put(Cf::Index, storage::index_by_machine_state(rec.machine, transition.to, c.instance_id), "");
  }
  next.rec.ctx_json = std::move(ctx_json);
  next.rec.last_event_id = c.event_id;
  next.rec.last_wal_offset = offset;
  next.rec.updated_at = v.now();
  v.put_instance(c.instance_id, std::move(next));
  if (c.idempotency_key) v.put_idempotent_result(idempotency_key, result);
  return RawJson{std::move(result)};
}

Result delete_instance(View& v, const DeleteInstance& c) {
  const Instance* current = v.instance(c.instance_id);
  if (current == nullptr) throw OpFailure{instance_not_found(c.instance_id)};
  std::string idempotency_key;
  if (c.idempotency_key) {
    idempotency_key = storage::idempotency_delete_key(c.instance_id, *c.idempotency_key);
    if (auto replay = v.idempotent_result(idempotency_key)) return RawJson{std::move(*replay)};
  }
  auto result = [&](std::uint64_t offset) {
    std::string out;
    ObjectWriter r(out);
    r.string("instance_id", c.instance_id).boolean("deleted", true).number("wal_offset", offset);
    r.finish();
    return out;
  };
  if (current->rec.deleted) return RawJson{result(current->rec.last_wal_offset)};

  const auto& rec = current->rec;
  const std::uint64_t offset = v.next_offset();
  std::string entry;
  ObjectWriter w(entry);
  w.string("type", "delete_instance").string("instance_id", c.instance_id).string("machine", rec.machine);
  w.number("version", rec.version);
  if (c.idempotency_key) w.string("idempotency_key", *c.idempotency_key);
  w.signed_number("timestamp", v.now());
  w.finish();
  check_entry_size(entry.size());
  v.append_entry(std::move(entry));

  v.del(Cf::Index, storage::index_by_machine(rec.machine, c.instance_id));
  delete_state_index(v, c.instance_id, rec);
  v.count_delta(rec.machine, rec.state, -1);
  v.remove_snapshot(c.instance_id);
  Instance tombstone;
  tombstone.rec = rec;
  tombstone.rec.ctx_json = "{}";
  tombstone.rec.last_event_id.reset();
  tombstone.rec.deleted = true;
  tombstone.rec.last_wal_offset = offset;
  tombstone.rec.updated_at = v.now();
  v.put_instance(c.instance_id, std::move(tombstone));

  std::string out = result(offset);
  if (c.idempotency_key) v.put_idempotent_result(idempotency_key, out);
  return RawJson{std::move(out)};
}

Result get_instance_in(View& v, const GetInstance& c) {
  const Instance* current = v.instance(c.instance_id);
  if (current == nullptr || current->rec.deleted) throw OpFailure{instance_not_found(c.instance_id)};
  return RawJson{instance_result(c.instance_id, current->rec)};
}

Result snapshot_instance(View& v, const SnapshotInstance& c) {
  const Instance* current = v.instance(c.instance_id);
  if (current == nullptr || current->rec.deleted) throw OpFailure{instance_not_found(c.instance_id)};
  return snapshot_of(v, c.instance_id, *current);
}

Result snapshot_of(View& v, const std::string& id, const Instance& current) {
  const SnapshotInstance c{id};
  const auto& rec = current.rec;
  const std::string snapshot_id = "snap-" + uuid_v4();
  std::string doc;
  doc.reserve(rec.ctx_json.size() + 256);
  ObjectWriter w(doc);
  w.string("snapshot_id", snapshot_id).string("instance_id", c.instance_id).string("machine", rec.machine);
  w.number("version", rec.version).string("state", rec.state).raw("ctx", rec.ctx_json);
  if (rec.last_event_id) w.string("last_event_id", *rec.last_event_id);
  w.number("wal_offset", rec.last_wal_offset).signed_number("created_at", v.now());
  w.finish();
  const auto size = doc.size();
  const auto checksum = hex8(protocol::crc32c(doc));
  const auto wal_offset = rec.last_wal_offset;
  v.set_snapshot(c.instance_id, std::move(doc));
  v.count_write_without_entry();

  json::object r;
  r["instance_id"] = c.instance_id;
  r["snapshot_id"] = snapshot_id;
  r["wal_offset"] = wal_offset;
  r["size_bytes"] = size;
  r["checksum"] = checksum;
  return r;
}

}  // namespace rstmdb::engine
