#include "engine/errors.hpp"
#include "engine/object_writer.hpp"
#include "engine/results.hpp"
#include "engine/write_ops.hpp"
#include "protocol/envelope.hpp"
#include "protocol/json_text.hpp"
#include "storage/keys.hpp"

namespace rstmdb::engine {

namespace json = boost::json;
using protocol::Error;
using storage::Cf;

namespace {

Result run_element(View& v, const OpsContext& ctx, const BatchElement& e) {
  try {
    return std::visit(
        [&](const auto& command) -> Result {
          using T = std::decay_t<decltype(command)>;
          if constexpr (std::is_same_v<T, Error>) {
            return command;
          } else if constexpr (std::is_same_v<T, PutMachine>) {
            return put_machine(v, ctx, command);
          } else if constexpr (std::is_same_v<T, GetMachine>) {
            return get_machine_in(v, command);
          } else if constexpr (std::is_same_v<T, CreateInstance>) {
            return create_instance(v, ctx, command);
          } else if constexpr (std::is_same_v<T, GetInstance>) {
            return get_instance_in(v, command);
          } else if constexpr (std::is_same_v<T, DeleteInstance>) {
            return delete_instance(v, command);
          } else {
            return apply_event(v, ctx, command, protocol::to_json(command.payload));
          }
        },
        e.command);
  } catch (OpFailure& f) {
    return std::move(f.error);
  }
}

}  // namespace

Result batch(View& v, const OpsContext& ctx, const Batch& c) {
  std::string out = "{\"results\":[";
  auto append_ok = [&](const Result& r) {
    out += "{\"status\":\"ok\",\"result\":";
    out += result_text(r);
    out += '}';
  };
  if (c.atomic) {
    View all(v);
    for (std::size_t i = 0; i < c.elements.size(); ++i) {
      Result r = run_element(all, ctx, c.elements[i]);
      if (auto* e = std::get_if<Error>(&r)) {
        json::object d;
        d["failed_index"] = i;
        d["error"] = protocol::error_to_json(*e);
        return Error{
            e->code,
            "batch operation " + std::to_string(i) + " (" + c.elements[i].op + ") failed: " + e->message,
            std::move(d)};
      }
      if (i > 0) out += ',';
      append_ok(r);
    }
    all.merge_into_parent();
  } else {
    for (std::size_t i = 0; i < c.elements.size(); ++i) {
      View one(v);
      Result r = run_element(one, ctx, c.elements[i]);
      if (i > 0) out += ',';
      if (auto* e = std::get_if<Error>(&r)) {
        out += "{\"status\":\"error\",\"error\":";
        protocol::append_error_object(out, *e);
        out += '}';
      } else {
        one.merge_into_parent();
        append_ok(r);
      }
    }
  }
  out += "]}";
  return RawJson{std::move(out)};
}

Result flush_all(View& v, const OpsContext& ctx) {
  const std::uint64_t instances_removed = ctx.state.live_total();
  const std::uint64_t machines_removed = ctx.state.catalog().size();
  // One range deletion per column family, whatever its size: O(column families), not O(keys).
  // FLUSH_ALL runs alone on a drained pipeline, so no key beyond the last one read here can be
  // written before this commit.
  for (Cf cf : {Cf::Machines, Cf::Instances, Cf::Index, Cf::Idempotency, Cf::Snapshots, Cf::Counts}) {
    if (auto last = ctx.store.last_key(cf)) v.del_range(cf, "", *last + '\0');
  }
  v.put(Cf::Meta, std::string(kMetaSnapshotCount), storage::u64_value(0));
  std::string entry;
  ObjectWriter w(entry);
  w.string("type", "flush_all").number("instances_removed", instances_removed);
  w.number("machines_removed", machines_removed).signed_number("timestamp", v.now());
  w.finish();
  v.append_entry(std::move(entry));
  v.after_absorb(ctx.clear_instance_cache);
  v.after_commit(ctx.clear_committed_state);
  json::object r;
  r["flushed"] = true;
  r["instances_removed"] = instances_removed;
  r["machines_removed"] = machines_removed;
  return r;
}

}  // namespace rstmdb::engine
