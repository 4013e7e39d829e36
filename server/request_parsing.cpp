#include "server/request_parsing.hpp"

#include "server/dispatcher.hpp"

#include <charconv>
#include <string_view>

namespace rstmdb::server {

namespace json = boost::json;

std::optional<std::string> idempotency_key(const Params& p) {
  auto key = p.optional_string("idempotency_key");
  if (key && key->empty()) return std::nullopt;  // "" counts as absent (operations.md §1.1)
  return key;
}

std::string instance_id(const Params& p) {
  return p.required_string("instance_id", "id");
}

engine::PutMachine parse_put_machine(const Params& p) {
  engine::PutMachine c;
  c.machine = p.required_string("machine");
  c.version = p.required_u32("version");
  const json::value* definition = p.find("definition");
  if (definition == nullptr) throw RequestError(missing_field("definition"));
  c.definition = *definition;
  c.checksum = p.optional_string("checksum");
  return c;
}

engine::GetMachine parse_get_machine(const Params& p) {
  return engine::GetMachine{p.required_string("machine"), p.required_u32("version")};
}

engine::CreateInstance parse_create_instance(const Params& p) {
  engine::CreateInstance c;
  c.instance_id = p.optional_string("instance_id", "id");
  c.machine = p.required_string("machine");
  c.version = p.required_u32("version");
  if (auto ctx = p.optional_object("initial_ctx", "context")) c.initial_ctx = std::move(*ctx);
  c.idempotency_key = idempotency_key(p);
  return c;
}

engine::GetInstance parse_get_instance(const Params& p) {
  return engine::GetInstance{instance_id(p)};
}

engine::DeleteInstance parse_delete_instance(const Params& p) {
  return engine::DeleteInstance{instance_id(p), idempotency_key(p)};
}

engine::ApplyEvent parse_apply_event(const Params& p) {
  engine::ApplyEvent c;
  c.instance_id = instance_id(p);
  c.event = p.required_string("event");
  if (auto payload = p.optional_object("payload")) c.payload = std::move(*payload);
  c.expected_state = p.optional_string("expected_state");
  c.expected_wal_offset = p.optional_u64("expected_wal_offset");
  c.event_id = p.optional_string("event_id");
  c.idempotency_key = idempotency_key(p);
  return c;
}

engine::BatchElement parse_batch_element(const json::value& element) {
  engine::BatchElement out;
  try {
    if (!element.is_object())
      throw RequestError(protocol::bad_request("invalid request: batch operation must be an object"));
    const auto& object = element.get_object();
    const auto* op = object.if_contains("op");
    if (op == nullptr || !op->is_string())
      throw RequestError(protocol::bad_request("invalid request: missing field 'op'"));
    out.op = std::string(op->get_string());
    static const json::object kEmpty;
    const auto* params_value = object.if_contains("params");
    if (params_value != nullptr && !params_value->is_null() && !params_value->is_object()) {
      throw RequestError(protocol::bad_request("invalid request: params must be an object"));
    }
    const Params p(params_value != nullptr && params_value->is_object() ? params_value->get_object()
                                                                        : kEmpty);
    if (out.op == "PUT_MACHINE") {
      out.command = parse_put_machine(p);
    } else if (out.op == "GET_MACHINE") {
      out.command = parse_get_machine(p);
    } else if (out.op == "CREATE_INSTANCE") {
      out.command = parse_create_instance(p);
    } else if (out.op == "GET_INSTANCE") {
      out.command = parse_get_instance(p);
    } else if (out.op == "DELETE_INSTANCE") {
      out.command = parse_delete_instance(p);
    } else if (out.op == "APPLY_EVENT") {
      out.command = parse_apply_event(p);
    } else if (Dispatcher::is_known_operation(out.op)) {
      throw RequestError(protocol::bad_request("operation " + out.op + " is not allowed in a batch"));
    } else {
      throw RequestError(Dispatcher::unknown_operation(out.op));
    }
  } catch (RequestError& e) {
    out.command = std::move(e.error());
  }
  return out;
}

engine::Batch parse_batch(const Params& p) {
  engine::Batch c;
  const auto mode = p.optional_string("mode").value_or("best_effort");
  if (mode == "atomic") {
    c.atomic = true;
  } else if (mode != "best_effort") {
    throw RequestError(invalid_value("mode", "expected \"atomic\" or \"best_effort\", got \"" + mode + "\""));
  }
  const json::value* ops = p.find("ops");
  if (ops == nullptr) throw RequestError(missing_field("ops"));
  if (!ops->is_array()) throw RequestError(invalid_type("ops", "array"));
  const auto& array = ops->get_array();
  if (array.size() > engine::kMaxBatchOps) {
    throw RequestError(protocol::bad_request_field("invalid request: batch size " +
                                                       std::to_string(array.size()) + " exceeds limit " +
                                                       std::to_string(engine::kMaxBatchOps),
                                                   "ops"));
  }
  c.elements.reserve(array.size());
  for (const auto& element : array)
    c.elements.push_back(parse_batch_element(element));
  return c;
}

// WAL_READ's from_offset: a u64, or a string of decimal digits (operations.md §12).
std::uint64_t parse_from_offset(const Params& p) {
  const json::value* v = p.find("from_offset", "fromOffset");
  if (v == nullptr) return 0;
  if (v->is_string()) {
    const auto s = std::string_view(v->get_string());
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
      throw RequestError(invalid_value("from_offset", "expected a decimal offset"));
    }
    return n;
  }
  return *p.optional_u64("from_offset", "fromOffset");
}

engine::SnapshotInstance parse_snapshot_instance(const Params& p) {
  return engine::SnapshotInstance{instance_id(p)};
}

engine::Compact parse_compact(const Params& p) {
  engine::Compact c;
  c.force_snapshot = p.optional_bool("force_snapshot").value_or(false);
  return c;
}

engine::ListMachines parse_list_machines(const Params& p) {
  engine::ListMachines q;
  q.limit = p.optional_u32("limit").value_or(0);
  q.cursor = p.optional_string("cursor");
  return q;
}

engine::ListInstances parse_list_instances(const Params& p) {
  engine::ListInstances q;
  q.machine = p.optional_string("machine");
  q.state = p.optional_string("state");
  q.limit = p.optional_u32("limit").value_or(100);
  q.offset = p.optional_u32("offset").value_or(0);
  q.cursor = p.optional_string("cursor");
  return q;
}

engine::WalRead parse_wal_read(const Params& p) {
  engine::WalRead q;
  q.from_offset = parse_from_offset(p);
  q.limit = p.optional_u32("limit").value_or(100);
  return q;
}

}  // namespace rstmdb::server
