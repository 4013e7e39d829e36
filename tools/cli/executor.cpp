#include "tools/cli/executor.hpp"

#include "protocol/json_text.hpp"
#include "tools/cli/human_output.hpp"
#include "tools/cli/requests.hpp"

#include <boost/json/array.hpp>

#include <algorithm>
#include <limits>

namespace rstmdb::cli {
namespace json = boost::json;

namespace {

std::string str(const json::object& o, std::string_view key) {
  if (const json::value* v = o.if_contains(key); v != nullptr && v->is_string()) {
    return std::string(v->get_string().data(), v->get_string().size());
  }
  return {};
}

std::optional<std::uint64_t> u64(const json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
  return std::nullopt;
}

std::size_t array_size(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_array() ? v->get_array().size() : 0;
}

// Signals caught, and deferred during calls, for the scope of a watch; the previous settings
// come back however the watch loop ends (the REPL may have had them on, with aborting calls).
class InterruptScope {
 public:
  explicit InterruptScope(client::Connection& c)
      : c_(c), was_catching_(c.catching_interrupts()), calls_(c.call_interrupts()) {
    c_.catch_interrupts(true);
    c_.set_call_interrupts(client::Connection::CallInterrupts::Defer);
  }
  ~InterruptScope() {
    c_.set_call_interrupts(calls_);
    if (!was_catching_) c_.catch_interrupts(false);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  client::Connection& c_;
  bool was_catching_;
  client::Connection::CallInterrupts calls_;
};

}  // namespace

Outcome Executor::run(const Command& command, Form form) {
  try {
    return dispatch(command, form);
  } catch (const ArgumentError& e) {
    out_.error(kErrInvalidArgument, e.what());
    return Outcome::Failed;
  } catch (const client::ClientError& e) {
    if (e.kind() == client::ClientError::Kind::Config || e.kind() == client::ClientError::Kind::Interrupted) {
      out_.error(client::client_error_code(e.kind()), e.what());
      return Outcome::Failed;
    }
    out_.error(client::client_error_code(e.kind()), e.what());
    return Outcome::ConnectionLost;
  }
}

Outcome Executor::dispatch(const Command& command, Form form) {
  if (std::holds_alternative<ListMachinesCommand>(command)) return list_machines(form);
  if (const auto* g = std::get_if<GetMachineCommand>(&command)) return get_machine(*g, form);
  if (const auto* b = std::get_if<BatchCommand>(&command)) return batch(*b);
  if (const auto* h = std::get_if<HashTokenCommand>(&command)) return hash_token(*h);
  if (const auto* w = std::get_if<WatchInstanceCommand>(&command)) return watch(*w);
  if (const auto* w = std::get_if<WatchAllCommand>(&command)) return watch(*w);
  if (std::holds_alternative<ReplCommand>(command)) {
    out_.error(kErrUsage, "already in the REPL");
    return Outcome::Failed;
  }
  return single(command, form);
}

Outcome Executor::single(const Command& command, Form form) {
  const Request request = build_request(command);
  const protocol::ResponseMessage r = connection_.call(request.op, request.params);
  if (!r.ok) {
    out_.server_error(r);
    return Outcome::Failed;
  }
  const Style& s = out_.style();
  const bool repl = form == Form::Repl;
  std::string text = std::visit(
      [&](const auto& c) -> std::string {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, PingCommand>) {
          return human::ping(s);
        } else if constexpr (std::is_same_v<T, InfoCommand>) {
          return human::info(r.result);
        } else if constexpr (std::is_same_v<T, PutMachineCommand>) {
          return repl ? human::repl::put_machine(s, c.name, c.version, r.result)
                      : human::put_machine(s, c.name, c.version, r.result);
        } else if constexpr (std::is_same_v<T, CreateInstanceCommand>) {
          return repl ? human::repl::create_instance(s, r.result)
                      : human::create_instance(s, c.machine, c.version, r.result);
        } else if constexpr (std::is_same_v<T, GetInstanceCommand>) {
          return repl ? human::repl::get_instance(s, r.result) : human::get_instance(s, c.id, r.result);
        } else if constexpr (std::is_same_v<T, ListInstancesCommand>) {
          return repl ? human::repl::list_instances(s, r.result, c.limit)
                      : human::list_instances(s, r.result);
        } else if constexpr (std::is_same_v<T, ApplyEventCommand>) {
          return repl ? human::repl::apply_event(s, c.event, r.result)
                      : human::apply_event(s, c.instance, c.event, r.result);
        } else if constexpr (std::is_same_v<T, DeleteInstanceCommand>) {
          return repl ? human::repl::delete_instance(s, c.id) : human::delete_instance(s, c.id);
        } else if constexpr (std::is_same_v<T, SnapshotInstanceCommand>) {
          return human::snapshot_instance(s, c.id, r.result);
        } else if constexpr (std::is_same_v<T, WalReadCommand>) {
          return repl ? human::repl::wal_read(s, r.result) : human::wal_read(s, r.result);
        } else if constexpr (std::is_same_v<T, WalStatsCommand>) {
          return human::wal_stats(s, r.result);
        } else if constexpr (std::is_same_v<T, CompactCommand>) {
          return human::compact(s, r.result);
        } else if constexpr (std::is_same_v<T, FlushAllCommand>) {
          return human::flush_all(s, r.result);
        } else if constexpr (std::is_same_v<T, UnwatchCommand>) {
          return human::unwatch(s, c.subscription_id, r.result);
        } else {
          return protocol::to_json(r.result);
        }
      },
      command);
  out_.result(text, r.result);
  return Outcome::Ok;
}

Outcome Executor::list_machines(Form form) {
  const protocol::ResponseMessage list = connection_.call("LIST_MACHINES", {});
  if (!list.ok) {
    out_.server_error(list);
    return Outcome::Failed;
  }
  if (out_.json()) {
    out_.result({}, list.result);
    return Outcome::Ok;
  }
  const json::value* items = list.result.if_contains("items");
  if (items == nullptr || !items->is_array()) {
    out_.result(human::info(list.result), list.result);
    return Outcome::Ok;
  }
  // As upstream: one GET_MACHINE per machine for its latest version's state and transition
  // counts; a machine whose definition cannot be read is shown with its version list.
  std::vector<human::MachineSummary> machines;
  for (const json::value& item : items->get_array()) {
    if (!item.is_object()) continue;
    human::MachineSummary m;
    m.name = str(item.get_object(), "machine");
    if (m.name.empty()) m.name = "?";
    if (const json::value* vs = item.get_object().if_contains("versions"); vs != nullptr && vs->is_array()) {
      for (const json::value& v : vs->get_array())
        if (auto n = u64(v)) m.versions.push_back(*n);
    }
    if (!m.versions.empty()) {
      m.latest = *std::max_element(m.versions.begin(), m.versions.end());
      if (*m.latest <= std::numeric_limits<std::uint32_t>::max()) {
        const Request get = get_machine_request(m.name, static_cast<std::uint32_t>(*m.latest));
        const protocol::ResponseMessage def = connection_.call(get.op, get.params);
        if (def.ok) {
          if (const json::value* d = def.result.if_contains("definition"); d != nullptr && d->is_object()) {
            m.states = array_size(d->get_object(), "states");
            m.transitions = array_size(d->get_object(), "transitions");
          }
        }
      }
    }
    machines.push_back(std::move(m));
  }
  const Style& s = out_.style();
  out_.result(
      form == Form::Repl ? human::repl::list_machines(s, machines) : human::list_machines(s, machines),
      list.result);
  return Outcome::Ok;
}

Outcome Executor::get_machine(const GetMachineCommand& command, Form form) {
  std::uint32_t version = 0;
  if (command.version) {
    version = *command.version;
  } else {
    // No -v: the latest version, from the machine list.
    const protocol::ResponseMessage list = connection_.call("LIST_MACHINES", {});
    if (!list.ok) {
      out_.server_error(list);
      return Outcome::Failed;
    }
    std::optional<std::uint64_t> latest;
    if (const json::value* items = list.result.if_contains("items"); items != nullptr && items->is_array()) {
      for (const json::value& item : items->get_array()) {
        if (!item.is_object() || str(item.get_object(), "machine") != command.name) continue;
        if (const json::value* vs = item.get_object().if_contains("versions");
            vs != nullptr && vs->is_array()) {
          for (const json::value& v : vs->get_array())
            if (auto n = u64(v); n && (!latest || *n > *latest)) latest = n;
        }
      }
    }
    if (!latest || *latest > std::numeric_limits<std::uint32_t>::max()) {
      out_.error("MACHINE_NOT_FOUND", "machine not found: " + command.name);
      return Outcome::Failed;
    }
    version = static_cast<std::uint32_t>(*latest);
  }
  const Request get = get_machine_request(command.name, version);
  const protocol::ResponseMessage r = connection_.call(get.op, get.params);
  if (!r.ok) {
    out_.server_error(r);
    return Outcome::Failed;
  }
  // --json: the result with the machine and version it is for (the version may have been
  // chosen here), then the server's fields.
  json::object shown;
  shown["machine"] = command.name;
  shown["version"] = version;
  for (const auto& member : r.result)
    shown[member.key()] = member.value();
  const Style& s = out_.style();
  out_.result(form == Form::Repl ? human::repl::get_machine(r.result)
                                 : human::get_machine(s, command.name, version, r.result),
              shown);
  return Outcome::Ok;
}

Outcome Executor::batch(const BatchCommand& command) {
  const Request request = batch_request(command);
  const protocol::ResponseMessage r = connection_.call(request.op, request.params);
  if (!r.ok) {
    out_.server_error(r);
    return Outcome::Failed;
  }
  std::size_t failed = 0;
  const std::string text =
      human::batch(out_.style(), command.atomic, request.params.at("ops").get_array(), r.result, failed);
  out_.result(text, r.result);
  if (failed > 0) {
    out_.error(kErrBatchFailed, std::to_string(failed) + " of " +
                                    std::to_string(array_size(r.result, "results")) +
                                    " batch operations failed");
    return Outcome::Failed;
  }
  return Outcome::Ok;
}

Outcome Executor::hash_token(const HashTokenCommand& command) {
  const std::string hash = sha256_hex(hash_token_input(command));
  json::object o;
  o["hash"] = hash;
  out_.result(hash, o);
  return Outcome::Ok;
}

template <typename WatchCommand>
Outcome Executor::watch(const WatchCommand& command) {
  // Caught from before the subscription exists: a Ctrl+C at any point after this unsubscribes
  // cleanly (one during the WATCH request is handled as soon as its response is in).
  InterruptScope interrupts(connection_);
  const Request request = watch_request(command);
  const protocol::ResponseMessage r = connection_.call(request.op, request.params);
  if (!r.ok) {
    out_.server_error(r);
    return Outcome::Failed;
  }
  const std::string subscription = str(r.result, "subscription_id");
  if (out_.json()) {
    out_.note_json(r.result);
  } else if constexpr (std::is_same_v<WatchCommand, WatchInstanceCommand>) {
    out_.note(human::watch_instance_banner(out_.err_style(), command.id, r.result));
  } else {
    out_.note(human::watch_all_banner(out_.err_style(), r.result));
  }

  // Events of this subscription, one compact JSON line each, as they arrive; the `end`
  // message too, since a consumer of the stream needs to see why it stopped.
  bool ended = false;
  std::string end_reason;
  auto on_stream = [&](const protocol::StreamMessage& m) {
    if (str(m.body, "subscription_id") != subscription) return;
    if (m.type == "event") {
      out_.line(protocol::to_json(m.body));
    } else if (m.type == "end") {
      out_.line(protocol::to_json(m.body));
      ended = true;
      end_reason = str(m.body, "reason");
    }
  };
  connection_.set_stream_handler(on_stream);
  struct HandlerReset {
    client::Connection& c;
    ~HandlerReset() { c.set_stream_handler({}); }
  } reset{connection_};

  while (!ended) {
    auto got = connection_.receive(std::nullopt);
    if (std::holds_alternative<client::Interrupted>(got)) {
      out_.note("\n" + out_.err_style().dimmed("Stopping watch..."));
      json::object p;
      p["subscription_id"] = subscription;
      const protocol::ResponseMessage u = connection_.call("UNWATCH", p);
      if (!u.ok) {
        out_.server_error(u);
        return Outcome::Failed;
      }
      if (ended) break;  // the subscription ended on its own just before the UNWATCH
      return Outcome::Ok;
    }
    auto& message = std::get<protocol::ServerMessage>(got);
    if (auto* stream = std::get_if<protocol::StreamMessage>(&message)) {
      on_stream(*stream);
      continue;
    }
    throw client::ClientError(
        client::ClientError::Kind::Protocol,
        "unexpected response id '" + std::get<protocol::ResponseMessage>(message).id + "' while watching");
  }
  out_.error(kErrSubscriptionEnded,
             "subscription ended: " + (end_reason.empty() ? "unknown reason" : end_reason));
  return Outcome::Failed;
}

}  // namespace rstmdb::cli
