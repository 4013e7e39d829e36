#include "durable_load.hpp"

#include "harness_store_options.hpp"

#include "protocol/json_text.hpp"

#include <boost/json.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

namespace rstmdb::test {

namespace json = boost::json;

// --- the load -----------------------------------------------------------------------------------

namespace {

// Waiting longer than this for one result means the engine is stuck: fail loudly.
constexpr auto kResultTimeout = std::chrono::seconds(60);
// Instances every writer sends events to (conflicts on expected_state).
constexpr int kSharedInstances = 4;

json::value door_definition() {
  return json::parse(R"({"states":["closed","open","locked"],"initial":"closed","transitions":[
      {"from":"closed","event":"OPEN","to":"open"},{"from":"open","event":"CLOSE","to":"closed"},
      {"from":"closed","event":"LOCK","to":"locked","guard":"ctx.flag == true"},
      {"from":"locked","event":"UNLOCK","to":"closed"}]})");
}

// The event that leaves `state`, as the writer believes it to be.
std::string valid_event(const std::string& state, bool lock) {
  if (state == "open") return "CLOSE";
  if (state == "locked") return "UNLOCK";
  return lock ? "LOCK" : "OPEN";
}

std::string shared_id(const std::string& tag, int i) {
  return "shared-" + tag + "-" + std::to_string(i);
}

struct Outcome {
  engine::Result result;
  bool before_cut = false;
};

// Submits one request and waits for its result; records whether it was delivered before the cut.
Outcome call(const std::function<void(engine::ResultCallback)>& submit, const std::function<bool()>& cut) {
  auto promise = std::make_shared<std::promise<Outcome>>();
  auto future = promise->get_future();
  // Copies `cut`: after a timeout the callback may still run, after this frame is gone.
  submit([promise, cut](engine::Result r) { promise->set_value(Outcome{std::move(r), !cut()}); });
  if (future.wait_for(kResultTimeout) != std::future_status::ready)
    throw std::runtime_error("no result from the engine within 60 s");
  return future.get();
}

std::optional<json::object> ok_object(const engine::Result& r) {
  if (std::holds_alternative<protocol::Error>(r)) return std::nullopt;
  if (auto* o = std::get_if<json::object>(&r)) return *o;
  return json::parse(std::get<engine::RawJson>(r).text).as_object();
}

std::string string_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::uint64_t offset_of(const json::object& o) {
  return o.at("wal_offset").to_number<std::uint64_t>();
}

class Writer {
 public:
  Writer(engine::Engine& engine, const LoadOptions& options, int index, AckLedger& ledger,
         const std::function<bool()>& cut, const std::function<bool()>& stop)
      : engine_(engine),
        options_(options),
        index_(index),
        ledger_(ledger),
        cut_(cut),
        stop_(stop),
        rng_(options.seed * 1000003 + static_cast<std::uint64_t>(index)),
        prefix_(options.tag + "-w" + std::to_string(index) + "-") {}

  void run(LoadStats& stats) {
    for (int i = 0; i < options_.ops_per_writer && !stop_(); ++i) {
      step();
      ++stats_.requests;
    }
    stats = stats_;
  }

 private:
  struct Element {
    enum class Kind { Create, Apply, Delete } kind;
    std::string instance_id;
    std::string initial_ctx;  // Create
  };

  std::uint64_t pick(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_); }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }
  std::string next_id(const char* what) { return prefix_ + what + std::to_string(counter_++); }

  json::object payload() {
    json::object p;
    p["n"] = counter_;
    p["w"] = index_;
    p["flag"] = chance(50);
    std::string blob(pick(options_.max_blob + 1), 'x');
    for (auto& c : blob)
      c = static_cast<char>('a' + pick(26));
    p["blob"] = std::move(blob);
    return p;
  }

  // `fresh`: an id no request has used before, so the log may hold a create of it only if
  // this request was applied.
  engine::CreateInstance create_command(const std::string& id, bool fresh) {
    if (fresh) new_instances_.push_back(id);
    engine::CreateInstance c;
    c.instance_id = id;
    c.machine = kLoadMachine;
    c.version = 1;
    c.initial_ctx["owner"] = index_;
    c.initial_ctx["created"] = counter_;
    ledger_.issued_instance(id);
    return c;
  }

  engine::ApplyEvent apply_command(const std::string& id, const std::string& state_guess) {
    engine::ApplyEvent a;
    a.instance_id = id;
    a.event = chance(85) ? valid_event(state_guess, chance(30))
                         : std::vector<std::string>{"OPEN", "CLOSE", "LOCK", "UNLOCK"}[pick(4)];
    a.payload = payload();
    if (chance(80)) {
      a.event_id = next_id("ev");
      ledger_.issued_event(*a.event_id);
      new_events_.push_back(*a.event_id);
    }
    if (chance(15)) a.idempotency_key = next_id("ik");
    if (chance(10)) a.expected_state = std::vector<std::string>{"closed", "open", "locked"}[pick(3)];
    return a;
  }

  void record_create(const json::object& r, const std::string& ctx_json) {
    const std::string id = string_of(r, "instance_id");
    ledger_.acked(Ack{offset_of(r), "create_instance", id, string_of(r, "state"), ctx_json, ""});
    if (live_.count(id) == 0) live_[id] = string_of(r, "state");
    deleted_.erase(id);
  }

  void record_apply(const json::object& r, const std::string& id) {
    ledger_.acked(Ack{offset_of(r), "apply_event", id, string_of(r, "to_state"),
                      protocol::to_json(r.at("ctx")), string_of(r, "event_id")});
    if (auto it = live_.find(id); it != live_.end()) it->second = string_of(r, "to_state");
  }

  void record_delete(const json::object& r, const std::string& id) {
    ledger_.acked(Ack{offset_of(r), "delete_instance", id, "", "", ""});
    live_.erase(id);
    deleted_.insert(id);
    // A re-create erases the instance's idempotency records (a new incarnation), so a retry
    // would rightly apply again: retries stay within one incarnation.
    std::erase_if(idempotent_, [&](const engine::ApplyEvent& a) { return a.instance_id == id; });
  }

  // Runs `submit`; on success before the cut hands the result to `record`.
  void run_one(const std::function<void(engine::ResultCallback)>& submit,
               const std::function<void(const json::object&)>& record) {
    const auto instances = std::exchange(new_instances_, {});
    const auto events = std::exchange(new_events_, {});
    Outcome out = call(submit, cut_);
    auto r = ok_object(out.result);
    if (!r) {
      ++stats_.errors;
      const auto& e = std::get<protocol::Error>(out.result);
      if (e.code == protocol::ErrorCode::WalIoError) {
        if (e.message.find("was not applied") != std::string::npos) {
          ++stats_.not_applied;
          ledger_.refused(instances, events);
        } else if (e.message.find("outcome of this write is unknown") != std::string::npos) {
          ++stats_.outcome_unknown;
        } else {
          ++stats_.other_storage_errors;
        }
      }
      return;
    }
    if (!out.before_cut) {
      ++stats_.acked_after_cut;
      return;
    }
    ++stats_.acked;
    record(*r);
  }

  std::string random_live() {
    auto it = live_.begin();
    std::advance(it, static_cast<long>(pick(live_.size())));
    return it->first;
  }

  void step() {
    const int r = static_cast<int>(pick(100));
    if (live_.empty() || r < 12) return create(next_id("i"), true);
    if (r < 50) return apply(random_live());
    if (r < 55 && !idempotent_.empty()) return retry_idempotent();
    if (r < 62) return remove(random_live());
    if (r < 66 && !deleted_.empty())
      return create(*std::next(deleted_.begin(), static_cast<long>(pick(deleted_.size()))), false);
    if (r < 69) return put_machine();
    if (r < 79) return batch(true);
    if (r < 89) return batch(false);
    return apply_shared();
  }

  void create(const std::string& id, bool fresh) {
    engine::CreateInstance c = create_command(id, fresh);
    if (chance(25)) c.idempotency_key = next_id("ck");
    const std::string ctx = protocol::to_json(c.initial_ctx);
    run_one([&](engine::ResultCallback done) { engine_.create_instance(c, std::move(done)); },
            [&](const json::object& res) { record_create(res, ctx); });
    if (c.idempotency_key && chance(30)) {
      // The same request again: answered from the idempotency record, no new entry.
      run_one([&](engine::ResultCallback done) { engine_.create_instance(c, std::move(done)); },
              [&](const json::object& res) { record_create(res, ctx); });
    }
  }

  void apply(const std::string& id) {
    engine::ApplyEvent a = apply_command(id, live_[id]);
    run_one([&](engine::ResultCallback done) { engine_.apply_event(a, std::move(done)); },
            [&](const json::object& res) { record_apply(res, id); });
    if (a.idempotency_key) idempotent_.push_back(a);
  }

  void retry_idempotent() {
    const engine::ApplyEvent a = idempotent_[pick(idempotent_.size())];
    run_one([&](engine::ResultCallback done) { engine_.apply_event(a, std::move(done)); },
            [&](const json::object& res) { record_apply(res, a.instance_id); });
  }

  void remove(const std::string& id) {
    engine::DeleteInstance d;
    d.instance_id = id;
    if (chance(20)) d.idempotency_key = next_id("dk");
    run_one([&](engine::ResultCallback done) { engine_.delete_instance(d, std::move(done)); },
            [&](const json::object& res) { record_delete(res, id); });
  }

  void put_machine() {
    engine::PutMachine p;
    p.machine = prefix_ + "machine";
    p.version = ++machine_versions_;
    p.definition = door_definition();
    run_one([&](engine::ResultCallback done) { engine_.put_machine(p, std::move(done)); },
            [&](const json::object& res) {
              if (res.at("created").as_bool()) ledger_.acked_machine(p.machine, p.version);
            });
  }

  // Atomic: create X, then events on X (all or nothing; sometimes one element fails). Best
  // effort: an event on one of ours, an event on a missing instance (fails alone), a create.
  void batch(bool atomic) {
    engine::Batch b;
    b.atomic = atomic;
    std::vector<Element> elements;
    if (atomic) {
      const std::string id = next_id("b");
      engine::CreateInstance c = create_command(id, true);
      elements.push_back({Element::Kind::Create, id, protocol::to_json(c.initial_ctx)});
      b.elements.push_back({"CREATE_INSTANCE", std::move(c)});
      std::string state = "closed";
      for (int i = 0, n = 1 + static_cast<int>(pick(3)); i < n; ++i) {
        engine::ApplyEvent a = apply_command(id, state);
        state = a.event == "OPEN" ? "open" : "closed";
        elements.push_back({Element::Kind::Apply, id, ""});
        b.elements.push_back({"APPLY_EVENT", std::move(a)});
      }
      if (chance(25)) {
        elements.push_back({Element::Kind::Apply, "missing", ""});
        b.elements.push_back({"APPLY_EVENT", apply_command(next_id("missing"), "closed")});
      }
    } else {
      if (!live_.empty()) {
        const std::string id = random_live();
        elements.push_back({Element::Kind::Apply, id, ""});
        b.elements.push_back({"APPLY_EVENT", apply_command(id, live_[id])});
      }
      elements.push_back({Element::Kind::Apply, "missing", ""});
      b.elements.push_back({"APPLY_EVENT", apply_command(next_id("missing"), "closed")});
      const std::string id = next_id("i");
      engine::CreateInstance c = create_command(id, true);
      elements.push_back({Element::Kind::Create, id, protocol::to_json(c.initial_ctx)});
      b.elements.push_back({"CREATE_INSTANCE", std::move(c)});
    }
    run_one([&](engine::ResultCallback done) { engine_.batch(b, std::move(done)); },
            [&](const json::object& res) {
              const auto& results = res.at("results").as_array();
              for (std::size_t i = 0; i < results.size() && i < elements.size(); ++i) {
                const auto& item = results[i].as_object();
                if (item.at("status").as_string() != "ok") continue;
                const auto& result = item.at("result").as_object();
                switch (elements[i].kind) {
                  case Element::Kind::Create:
                    record_create(result, elements[i].initial_ctx);
                    break;
                  case Element::Kind::Apply:
                    record_apply(result, elements[i].instance_id);
                    break;
                  case Element::Kind::Delete:
                    record_delete(result, elements[i].instance_id);
                    break;
                }
              }
            });
  }

  void apply_shared() {
    const std::string id = shared_id(options_.tag, static_cast<int>(pick(kSharedInstances)));
    engine::ApplyEvent a = apply_command(id, "closed");
    a.event = std::vector<std::string>{"OPEN", "CLOSE"}[pick(2)];
    run_one([&](engine::ResultCallback done) { engine_.apply_event(a, std::move(done)); },
            [&](const json::object& res) { record_apply(res, id); });
  }

  engine::Engine& engine_;
  const LoadOptions& options_;
  const int index_;
  AckLedger& ledger_;
  const std::function<bool()>& cut_;
  const std::function<bool()>& stop_;
  std::mt19937_64 rng_;
  const std::string prefix_;
  std::uint64_t counter_ = 0;
  std::uint32_t machine_versions_ = 0;
  std::map<std::string, std::string> live_;  // own instances believed live → believed state
  std::set<std::string> deleted_;
  std::vector<engine::ApplyEvent> idempotent_;
  // New instance ids and event ids of the request being built (see create_command).
  std::vector<std::string> new_instances_;
  std::vector<std::string> new_events_;
  LoadStats stats_;
};

}  // namespace

void setup_load(engine::Engine& engine, const LoadOptions& options, AckLedger& ledger,
                const std::function<bool()>& cut) {
  engine::PutMachine p;
  p.machine = kLoadMachine;
  p.version = 1;
  p.definition = door_definition();
  Outcome out = call([&](engine::ResultCallback done) { engine.put_machine(p, std::move(done)); }, cut);
  auto r = ok_object(out.result);
  if (!r)
    throw std::runtime_error("setup: PUT_MACHINE failed: " + std::get<protocol::Error>(out.result).message);
  if (out.before_cut && r->at("created").as_bool()) ledger.acked_machine(p.machine, p.version);
  for (int i = 0; i < kSharedInstances; ++i) {
    engine::CreateInstance c;
    c.instance_id = shared_id(options.tag, i);
    c.machine = kLoadMachine;
    c.version = 1;
    ledger.issued_instance(*c.instance_id);
    out = call([&](engine::ResultCallback done) { engine.create_instance(c, std::move(done)); }, cut);
    r = ok_object(out.result);
    if (!r) throw std::runtime_error("setup: CREATE_INSTANCE failed");
    if (out.before_cut)
      ledger.acked(Ack{offset_of(*r), "create_instance", *c.instance_id, "closed", "{}", ""});
  }
}

LoadStats run_load(engine::Engine& engine, const LoadOptions& options, AckLedger& ledger,
                   const std::function<bool()>& cut, const std::function<bool()>& stop_when) {
  const std::function<bool()>& stop = stop_when ? stop_when : cut;
  std::vector<LoadStats> per_writer(static_cast<std::size_t>(options.writers));
  std::vector<std::string> failures(per_writer.size());
  std::vector<std::thread> threads;
  for (int i = 0; i < options.writers; ++i) {
    threads.emplace_back([&, i] {
      try {
        Writer(engine, options, i, ledger, cut, stop).run(per_writer[static_cast<std::size_t>(i)]);
      } catch (const std::exception& e) {
        failures[static_cast<std::size_t>(i)] = e.what();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  LoadStats total;
  for (std::size_t i = 0; i < per_writer.size(); ++i) {
    if (!failures[i].empty()) throw std::runtime_error("writer " + std::to_string(i) + ": " + failures[i]);
    total.requests += per_writer[i].requests;
    total.acked += per_writer[i].acked;
    total.acked_after_cut += per_writer[i].acked_after_cut;
    total.errors += per_writer[i].errors;
    total.outcome_unknown += per_writer[i].outcome_unknown;
    total.not_applied += per_writer[i].not_applied;
    total.other_storage_errors += per_writer[i].other_storage_errors;
  }
  return total;
}

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

std::filesystem::path scratch_root() {
  if (const char* v = std::getenv("RSTMDB_TEST_TMPDIR"); v != nullptr && *v != '\0') return v;
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  return std::filesystem::temp_directory_path();
}

std::unique_ptr<storage::Store> open_harness_store(const std::filesystem::path& data_dir,
                                                   storage::MemtableKind memtable, rocksdb::Env* env) {
  const storage::StoreOptions o = harness_store_options(data_dir, memtable, env);
  auto r = storage::Store::open(o);
  if (!r.store) throw std::runtime_error("cannot open the store at " + o.data_dir + ": " + r.message);
  return std::move(r.store);
}

engine::EngineOptions harness_engine_options(const config::FsyncPolicy& policy) {
  engine::EngineOptions o;
  o.fsync_policy = policy;
  o.compaction.enabled = false;
  return o;
}

}  // namespace rstmdb::test
