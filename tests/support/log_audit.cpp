#include "log_audit.hpp"

#include "protocol/json_text.hpp"
#include "statemachine/context.hpp"
#include "storage/keys.hpp"
#include "storage/records.hpp"

#include <boost/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace rstmdb::test {

namespace json = boost::json;
using storage::Cf;

namespace {

// Failures listed in a report; the rest are counted.
constexpr std::size_t kMaxListedFailures = 40;

struct Replayed {
  std::string machine;
  std::uint32_t version = 0;
  std::string state;
  json::object ctx;
  std::optional<std::string> last_event_id;
  std::uint64_t last_wal_offset = 0;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  bool deleted = false;
};

struct Machine {
  std::string checksum;
  std::string initial;
  std::set<std::tuple<std::string, std::string, std::string>> transitions;  // from, event, to
};

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<std::string> opt_str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::int64_t num(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_number() ? v->to_number<std::int64_t>() : -1;
}

class Auditor {
 public:
  Auditor(const storage::Store& store, AckLedger& ledger) : store_(store), ledger_(ledger) {}

  AuditReport run(bool all_acks_durable) {
    replay_log();
    compare_instances();
    compare_indexes_and_counts();
    compare_machines();
    check_acks(all_acks_durable);
    report_.latest = latest_;
    report_.machines = machines_.size();
    for (const auto& [id, inst] : instances_)
      (inst.deleted ? report_.tombstones : report_.live) += 1;
    return std::move(report_);
  }

 private:
  void fail(const std::string& what) { report_.failures.push_back(what); }

  void replay_log() {
    std::uint64_t expected = 1;
    store_.scan(Cf::Log, "", "", [&](std::string_view key, std::string_view value) {
      const std::uint64_t offset = storage::decode_offset_key(key);
      if (offset != expected) {
        fail("log: offset " + std::to_string(offset) + " where " + std::to_string(expected) +
             " was expected (gap)");
        expected = offset;
      }
      ++expected;
      json::value parsed;
      try {
        parsed = json::parse(value);
      } catch (const std::exception& e) {
        fail("log " + std::to_string(offset) + ": not JSON: " + e.what());
        return true;
      }
      if (!parsed.is_object()) {
        fail("log " + std::to_string(offset) + ": not an object");
        return true;
      }
      entries_[offset] = parsed.as_object();
      apply(offset, entries_[offset]);
      latest_ = offset;
      return true;
    });
    const auto meta = store_.get(Cf::Meta, storage::kMetaLatestOffset);
    const std::uint64_t stored = meta ? storage::decode_u64_value(*meta).value_or(~0ull) : 0;
    if (stored != latest_) {
      fail("meta latest_offset is " + std::to_string(stored) + ", the log ends at " +
           std::to_string(latest_));
    }
  }

  void apply(std::uint64_t offset, const json::object& e) {
    const std::string at = "log " + std::to_string(offset) + ": ";
    const std::string type = str(e, "type");
    const std::int64_t ts = num(e, "timestamp");
    if (type == "put_machine") {
      const auto key = std::make_pair(str(e, "machine"), static_cast<std::uint32_t>(num(e, "version")));
      if (machines_.count(key))
        return fail(at + "machine " + key.first + " v" + std::to_string(key.second) + " put twice");
      Machine m;
      m.checksum = str(e, "definition_hash");
      const auto& def = e.at("definition").as_object();
      m.initial = str(def, "initial");
      for (const auto& t : def.at("transitions").as_array()) {
        const auto& to = t.as_object();
        m.transitions.emplace(str(to, "from"), str(to, "event"), str(to, "to"));
      }
      machines_[key] = std::move(m);
      return;
    }
    const std::string id = str(e, "instance_id");
    const std::string machine = str(e, "machine");
    const auto version = static_cast<std::uint32_t>(num(e, "version"));
    if (!ledger_.was_issued_instance(id)) fail(at + "instance " + id + " was never sent by a writer");
    auto it = instances_.find(id);
    if (type == "create_instance") {
      if (ledger_.was_refused_instance(id))
        fail(at + "create of " + id + ", whose request was answered 'not applied'");
      if (it != instances_.end() && !it->second.deleted) return fail(at + "create of live instance " + id);
      auto m = machines_.find({machine, version});
      if (m == machines_.end()) return fail(at + "create of " + id + " on unknown machine " + machine);
      Replayed r;
      r.machine = machine;
      r.version = version;
      r.state = str(e, "initial_state");
      if (r.state != m->second.initial) fail(at + "initial state " + r.state + " is not the machine's");
      r.ctx = e.at("initial_ctx").as_object();
      r.last_wal_offset = offset;
      r.created_at = r.updated_at = ts;
      instances_[id] = std::move(r);
      return;
    }
    if (it == instances_.end() || it->second.deleted) return fail(at + type + " of absent instance " + id);
    Replayed& r = it->second;
    if (r.machine != machine || r.version != version)
      fail(at + "machine/version differ from instance " + id + "'s");
    if (type == "apply_event") {
      const std::string from = str(e, "from_state");
      const std::string to = str(e, "to_state");
      const std::string event = str(e, "event");
      if (from != r.state) fail(at + id + " leaves " + from + " but was in " + r.state);
      const auto m = machines_.find({r.machine, r.version});
      if (m != machines_.end() && !m->second.transitions.count({from, event, to}))
        fail(at + "no transition " + from + " --" + event + "--> " + to);
      json::object merged = r.ctx;
      statemachine::merge_context(merged, e.at("payload").as_object());
      const auto& ctx = e.at("ctx").as_object();
      if (protocol::to_json(merged) != protocol::to_json(ctx))
        fail(at + "ctx is not the previous ctx merged with the payload");
      const auto event_id = opt_str(e, "event_id");
      if (event_id) {
        if (!ledger_.was_issued_event(*event_id)) fail(at + "event id " + *event_id + " was never sent");
        if (ledger_.was_refused_event(*event_id))
          fail(at + "event " + *event_id + ", whose request was answered 'not applied'");
        if (!event_ids_.insert(*event_id).second) fail(at + "event id " + *event_id + " appears twice");
      }
      r.state = to;
      r.ctx = ctx;
      r.last_event_id = event_id;
      r.last_wal_offset = offset;
      r.updated_at = ts;
      return;
    }
    if (type == "delete_instance") {
      r.deleted = true;
      r.ctx = json::object();
      r.last_event_id.reset();
      r.last_wal_offset = offset;
      r.updated_at = ts;
      return;
    }
    fail(at + "unexpected entry type '" + type + "'");
  }

  void compare_instances() {
    std::set<std::string> stored;
    store_.scan(Cf::Instances, "", "", [&](std::string_view key, std::string_view value) {
      const std::string id(key);
      stored.insert(id);
      storage::InstanceRecord rec;
      if (!storage::decode_instance(value, rec)) {
        fail("instance " + id + ": record does not decode");
        return true;
      }
      auto it = instances_.find(id);
      if (it == instances_.end()) {
        fail("instance " + id + " is stored but no log entry created it");
        return true;
      }
      const Replayed& r = it->second;
      std::string ctx_text;
      try {
        ctx_text = protocol::to_json(json::parse(rec.ctx_json));
      } catch (const std::exception&) {
        ctx_text = "<not JSON: " + rec.ctx_json + ">";
      }
      const auto diff = [&](const char* field, const std::string& stored_value, const std::string& replayed) {
        if (stored_value != replayed)
          fail("instance " + id + " " + field + ": stored " + stored_value + ", log says " + replayed);
      };
      diff("machine", rec.machine, r.machine);
      diff("version", std::to_string(rec.version), std::to_string(r.version));
      diff("state", rec.state, r.state);
      diff("deleted", rec.deleted ? "true" : "false", r.deleted ? "true" : "false");
      diff("ctx", ctx_text, protocol::to_json(r.ctx));
      diff("last_event_id", rec.last_event_id.value_or("<none>"), r.last_event_id.value_or("<none>"));
      diff("last_wal_offset", std::to_string(rec.last_wal_offset), std::to_string(r.last_wal_offset));
      diff("created_at", std::to_string(rec.created_at), std::to_string(r.created_at));
      diff("updated_at", std::to_string(rec.updated_at), std::to_string(r.updated_at));
      return true;
    });
    for (const auto& [id, r] : instances_) {
      if (!stored.count(id))
        fail("instance " + id + " is in the log (last offset " + std::to_string(r.last_wal_offset) +
             ") but not stored");
    }
  }

  void compare_indexes_and_counts() {
    std::set<std::string> expected_index;
    std::map<std::string, std::uint64_t> expected_counts;
    for (const auto& [id, r] : instances_) {
      if (r.deleted) continue;
      expected_index.insert(storage::index_by_machine(r.machine, id));
      expected_index.insert(storage::index_by_machine_state(r.machine, r.state, id));
      ++expected_counts[storage::count_key(r.machine, r.state)];
    }
    std::size_t index_diffs = 0;
    store_.scan(Cf::Index, "", "", [&](std::string_view key, std::string_view) {
      if (expected_index.erase(std::string(key)) == 0) ++index_diffs;
      return true;
    });
    index_diffs += expected_index.size();
    if (index_diffs > 0)
      fail("index: " + std::to_string(index_diffs) + " keys differ from the replayed instances");
    store_.scan(Cf::Counts, "", "", [&](std::string_view key, std::string_view value) {
      std::string machine, state;
      storage::decode_count_key(key, machine, state);
      const auto stored = storage::decode_u64_value(value).value_or(~0ull);
      auto it = expected_counts.find(std::string(key));
      const std::uint64_t want = it == expected_counts.end() ? 0 : it->second;
      if (stored != want)
        fail("count " + machine + "/" + state + ": stored " + std::to_string(stored) + ", replay " +
             std::to_string(want));
      if (it != expected_counts.end()) expected_counts.erase(it);
      return true;
    });
    for (const auto& [key, n] : expected_counts)
      fail("count missing for a (machine, state) with " + std::to_string(n) + " live instances");
  }

  void compare_machines() {
    std::size_t stored = 0;
    store_.scan(Cf::Machines, "", "", [&](std::string_view key, std::string_view value) {
      ++stored;
      std::string name;
      std::uint32_t version = 0;
      storage::MachineRecord rec;
      if (!storage::decode_machine_key(key, name, version) || !storage::decode_machine(value, rec)) {
        fail("machine record does not decode");
        return true;
      }
      auto it = machines_.find({name, version});
      if (it == machines_.end()) {
        fail("machine " + name + " v" + std::to_string(version) + " is stored but not in the log");
      } else if (it->second.checksum != rec.checksum) {
        fail("machine " + name + " v" + std::to_string(version) + ": checksum differs from the log's");
      }
      return true;
    });
    if (stored != machines_.size())
      fail("machines: " + std::to_string(stored) + " stored, " + std::to_string(machines_.size()) +
           " in the log");
  }

  void check_acks(bool all_acks_durable) {
    for (const auto& [offset, ack] : ledger_.acks()) {
      const std::string at =
          "ack " + std::to_string(offset) + " (" + ack.type + " " + ack.instance_id + "): ";
      auto it = entries_.find(offset);
      if (it == entries_.end()) {
        if (all_acks_durable || offset <= latest_) {
          fail(at + "acknowledged but not in the log (log ends at " + std::to_string(latest_) + ")");
        }
        continue;
      }
      ++report_.acks_checked;
      const json::object& e = it->second;
      const auto diff = [&](const char* field, const std::string& logged, const std::string& acked) {
        if (logged != acked)
          fail(at + field + " in the log is " + logged + ", the acknowledgement said " + acked);
      };
      diff("type", str(e, "type"), ack.type);
      diff("instance_id", str(e, "instance_id"), ack.instance_id);
      if (ack.type == "create_instance") {
        diff("initial_state", str(e, "initial_state"), ack.state);
        diff("initial_ctx", protocol::to_json(e.at("initial_ctx")), ack.ctx_json);
      } else if (ack.type == "apply_event") {
        diff("to_state", str(e, "to_state"), ack.state);
        diff("ctx", protocol::to_json(e.at("ctx")), ack.ctx_json);
        diff("event_id", str(e, "event_id"), ack.event_id);
      }
    }
    if (all_acks_durable) {
      for (const auto& [machine, version] : ledger_.machines()) {
        if (!machines_.count({machine, version}))
          fail("acknowledged machine " + machine + " v" + std::to_string(version) + " is not in the log");
      }
    } else {
      report_.acks_lost = ledger_.forget_after(latest_);
      ledger_.forget_machines_except(machine_keys());
    }
  }

  std::set<std::pair<std::string, std::uint32_t>> machine_keys() const {
    std::set<std::pair<std::string, std::uint32_t>> keys;
    for (const auto& [key, m] : machines_)
      keys.insert(key);
    return keys;
  }

  const storage::Store& store_;
  AckLedger& ledger_;
  AuditReport report_;
  std::uint64_t latest_ = 0;
  std::map<std::uint64_t, json::object> entries_;
  std::map<std::string, Replayed> instances_;
  std::map<std::pair<std::string, std::uint32_t>, Machine> machines_;
  std::set<std::string> event_ids_;
};

}  // namespace

std::string AuditReport::failure_text() const {
  std::ostringstream out;
  for (std::size_t i = 0; i < failures.size() && i < kMaxListedFailures; ++i)
    out << failures[i] << '\n';
  if (failures.size() > kMaxListedFailures)
    out << "... and " << failures.size() - kMaxListedFailures << " more\n";
  return out.str();
}

AuditReport audit_image(const storage::Store& store, AckLedger& ledger, bool all_acks_durable) {
  try {
    return Auditor(store, ledger).run(all_acks_durable);
  } catch (const std::exception& e) {
    AuditReport r;
    r.failures.push_back(std::string("audit aborted: ") + e.what());
    return r;
  }
}

}  // namespace rstmdb::test
