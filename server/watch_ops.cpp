#include "server/watch_ops.hpp"

#include "engine/engine.hpp"
#include "engine/identifiers.hpp"
#include "server/event_queue.hpp"
#include "server/params.hpp"
#include "server/subscription_hub.hpp"

namespace rstmdb::server {

namespace json = boost::json;

namespace {

constexpr std::string_view kSubscriptionIdPrefix = "sub-";

struct CommonParams {
  bool include_ctx = true;
  std::optional<std::uint64_t> from_offset;
};

CommonParams common_params(const Params& p) {
  CommonParams c;
  c.include_ctx = p.optional_bool("include_ctx").value_or(true);
  c.from_offset = p.optional_u64("from_offset");
  return c;
}

// Adds up the filter bytes of one subscription, refusing them past kMaxFilterBytes.
class FilterBudget {
 public:
  void take(std::string_view field, const std::vector<std::string>& values) {
    for (const auto& v : values)
      take(field, v.size());
  }
  void take(std::string_view field, std::size_t bytes) {
    used_ += bytes + kFilterValueOverheadBytes;
    if (used_ > kMaxFilterBytes) {
      throw RequestError(invalid_value(
          field, "the filters of one subscription may hold at most " + std::to_string(kMaxFilterBytes) +
                     " bytes (each value counts " + std::to_string(kFilterValueOverheadBytes) + " more)"));
    }
  }

 private:
  std::size_t used_ = 0;
};

EventQueue& subscriptions_of(SessionContext& session) {
  if (session.events == nullptr || !session.events->attached()) {
    throw RequestError(protocol::Error{
        protocol::ErrorCode::InternalError, "internal error: this connection cannot subscribe", {}});
  }
  EventQueue& q = *session.events;
  if (q.subscription_count() >= q.limits().max_subscriptions) {
    throw RequestError(protocol::bad_request(
        "invalid request: too many subscriptions on this connection (at most " +
        std::to_string(q.limits().max_subscriptions) + ", watch.max_subscriptions_per_connection)"));
  }
  return q;
}

// Records the subscription on the connection and hands it to the hub, which answers `done`
// with `result` once it is registered.
void subscribe(SubscriptionHub& hub, EventQueue& q, SubscriptionType type, SubscriptionFilter filter,
               const CommonParams& c, std::uint64_t latest, std::string id, json::object result,
               Completion& done) {
  SubscribeRequest r;
  r.handle = q.add(id, type);
  r.id = std::move(id);
  r.type = type;
  r.filter = std::move(filter);
  r.include_ctx = c.include_ctx;
  r.channel = q.channel();
  // operations.md §26.2: absent or 0 = entries after L (the latest at subscribe time); N ≥ 1 =
  // replay from N.
  r.replay = c.from_offset.value_or(0) >= 1;
  r.first_offset = r.replay ? *c.from_offset : latest + 1;
  r.on_registered = [done = std::make_shared<Completion>(std::move(done)),
                     result = std::move(result)]() mutable { (*done)(Reply::ok(std::move(result))); };
  hub.subscribe(std::move(r));
}

template <typename Body>
Handler handler(Body body) {
  return
      [body = std::move(body)](const protocol::Request& request, SessionContext& session, Completion done) {
        try {
          body(Params(request.params), session, done);
        } catch (RequestError& e) {
          done(Reply::error(std::move(e.error())));
        }
      };
}

}  // namespace

void register_watch_ops(Dispatcher& dispatcher, const Services& services) {
  engine::Engine& eng = *services.engine;
  SubscriptionHub& hub = *services.hub;
  const OpFlags streaming{.needs_auth = true, .writes = false, .streaming = true};

  dispatcher.set_handler("WATCH_INSTANCE", streaming,
                         handler([&eng, &hub](const Params& p, SessionContext& session, Completion& done) {
                           std::string instance_id = p.required_string("instance_id", "id");
                           const CommonParams c = common_params(p);
                           FilterBudget budget;
                           budget.take("instance_id", instance_id.size());
                           EventQueue& q = subscriptions_of(session);
                           // The latest offset is taken before the instance is read, so no change of the
                           // instance can fall between the state answered and the first event delivered.
                           const std::uint64_t latest = eng.latest_offset();
                           auto position = eng.instance_position({instance_id});  // a point read (engine.hpp)
                           if (auto* error = std::get_if<protocol::Error>(&position))
                             throw RequestError(std::move(*error));
                           auto& at = std::get<engine::InstancePosition>(position);
                           std::string id = std::string(kSubscriptionIdPrefix) + engine::uuid_v4();
                           json::object result;
                           result["subscription_id"] = id;
                           result["instance_id"] = instance_id;
                           result["current_state"] = at.state;
                           result["current_wal_offset"] = at.last_wal_offset;
                           subscribe(hub, q, SubscriptionType::Instance,
                                     SubscriptionFilter::instance(std::move(instance_id)), c, latest,
                                     std::move(id), std::move(result), done);
                         }));

  dispatcher.set_handler(
      "WATCH_ALL", streaming,
      handler([&eng, &hub](const Params& p, SessionContext& session, Completion& done) {
        const CommonParams c = common_params(p);
        const auto machines = p.optional_string_array("machines").value_or(std::vector<std::string>{});
        const auto from_states = p.optional_string_array("from_states").value_or(std::vector<std::string>{});
        const auto to_states = p.optional_string_array("to_states").value_or(std::vector<std::string>{});
        const auto events = p.optional_string_array("events").value_or(std::vector<std::string>{});
        FilterBudget budget;
        budget.take("machines", machines);
        budget.take("from_states", from_states);
        budget.take("to_states", to_states);
        budget.take("events", events);
        EventQueue& q = subscriptions_of(session);
        const std::uint64_t latest = eng.latest_offset();
        std::string id = std::string(kSubscriptionIdPrefix) + engine::uuid_v4();
        json::object result;
        result["subscription_id"] = id;
        result["wal_offset"] = latest;
        subscribe(hub, q, SubscriptionType::All,
                  SubscriptionFilter::all(machines, from_states, to_states, events), c, latest, std::move(id),
                  std::move(result), done);
      }));

  dispatcher.set_handler("UNWATCH", streaming,
                         handler([](const Params& p, SessionContext& session, Completion& done) {
                           std::string id = p.required_string("subscription_id");
                           const bool removed = session.events != nullptr && session.events->remove(id);
                           json::object result;
                           result["subscription_id"] = std::move(id);
                           result["removed"] = removed;
                           done(Reply::ok(std::move(result)));
                         }));
}

}  // namespace rstmdb::server
