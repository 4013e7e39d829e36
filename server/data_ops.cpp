#include "server/data_ops.hpp"

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "server/batch_errors.hpp"
#include "server/params.hpp"
#include "server/request_metrics.hpp"
#include "server/request_parsing.hpp"

namespace rstmdb::server {

namespace json = boost::json;
using engine::Result;

namespace {

Reply to_reply(Result result) {
  return std::visit(
      [](auto& r) -> Reply {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, json::object>) {
          return Reply::ok(std::move(r));
        } else if constexpr (std::is_same_v<T, engine::RawJson>) {
          return Reply::ok_raw(std::move(r.text));
        } else {
          return Reply::error(std::move(r));
        }
      },
      result);
}

// A ResultCallback that answers the request; safe to call from the engine's threads.
engine::ResultCallback answer(Completion done) {
  return [done = std::make_shared<Completion>(std::move(done))](Result r) mutable {
    (*done)(to_reply(std::move(r)));
  };
}

// --- registration helpers

// A handler whose body may throw RequestError while parsing, then hands `done` on.
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

void register_data_ops(Dispatcher& dispatcher, const Services& services) {
  engine::Engine& eng = *services.engine;
  const OpFlags write{.needs_auth = true, .writes = true, .streaming = false};
  const OpFlags read{.needs_auth = true, .writes = false, .streaming = false};

  dispatcher.set_handler("PUT_MACHINE", write,
                         handler([&eng](const Params& p, SessionContext&, Completion& done) {
                           auto command = parse_put_machine(p);
                           eng.put_machine(std::move(command), answer(std::move(done)));
                         }));
  dispatcher.set_handler("CREATE_INSTANCE", write,
                         handler([&eng](const Params& p, SessionContext&, Completion& done) {
                           auto command = parse_create_instance(p);
                           eng.create_instance(std::move(command), answer(std::move(done)));
                         }));
  dispatcher.set_handler("APPLY_EVENT", write,
                         handler([&eng](const Params& p, SessionContext&, Completion& done) {
                           auto command = parse_apply_event(p);
                           eng.apply_event(std::move(command), answer(std::move(done)));
                         }));
  dispatcher.set_handler("DELETE_INSTANCE", write,
                         handler([&eng](const Params& p, SessionContext&, Completion& done) {
                           auto command = parse_delete_instance(p);
                           eng.delete_instance(std::move(command), answer(std::move(done)));
                         }));
  dispatcher.set_handler(
      "BATCH", write, handler([&eng, &services](const Params& p, SessionContext&, Completion& done) {
        auto command = parse_batch(p);
        RequestMetrics* metrics = services.request_metrics;
        if (metrics == nullptr) {
          eng.batch(std::move(command), answer(std::move(done)));
          return;
        }
        // rstmdb_requests_total and rstmdb_errors_total count BATCH elements too.
        for (const auto& element : command.elements)
          metrics->batch_element(Dispatcher::operation_index(element.op));
        eng.batch(std::move(command),
                  [metrics, done = std::make_shared<Completion>(std::move(done))](Result r) mutable {
                    if (const auto* text = std::get_if<engine::RawJson>(&r)) {
                      for_each_batch_element_error(text->text, [metrics](protocol::ErrorCode code) {
                        metrics->batch_element_error(code);
                      });
                    }
                    (*done)(to_reply(std::move(r)));
                  });
      }));
  dispatcher.set_handler("SNAPSHOT_INSTANCE", write,
                         handler([&eng](const Params& p, SessionContext&, Completion& done) {
                           auto command = parse_snapshot_instance(p);  // before `done` is moved
                           eng.snapshot_instance(std::move(command), answer(std::move(done)));
                         }));
  dispatcher.set_handler(
      "FLUSH_ALL", write, handler([&eng, &services](const Params&, SessionContext&, Completion& done) {
        if (!services.config->storage.allow_flush_all) {
          throw RequestError(protocol::bad_request(
              "invalid request: FLUSH_ALL is disabled. Set storage.allow_flush_all=true in config "
              "to enable."));
        }
        eng.flush_all(answer(std::move(done)));
      }));
  // COMPACT runs on the engine's maintenance thread, not through the write FIFO, so it is
  // ordered like a read: after every earlier request of the connection has finished.
  dispatcher.set_handler("COMPACT", read, handler([&eng](const Params& p, SessionContext&, Completion& done) {
                           const auto command = parse_compact(p);  // before `done` is moved
                           eng.compact(command, answer(std::move(done)));
                         }));

  // Point reads, served inline on the I/O thread: one RocksDB get (memtable or block cache
  // in the common case) or an in-memory lookup.
  dispatcher.set_handler("GET_INSTANCE", read,
                         handler([&eng](const Params& p, SessionContext&, Completion& done) {
                           done(to_reply(eng.get_instance(parse_get_instance(p))));
                         }));
  dispatcher.set_handler("GET_MACHINE", read,
                         handler([&eng](const Params& p, SessionContext&, Completion& done) {
                           done(to_reply(eng.get_machine(parse_get_machine(p))));
                         }));

  // Scans run on the blocking pool.
  auto blocking = [&services](Completion& done, std::function<Result()> work) {
    services.run_blocking([done = std::make_shared<Completion>(std::move(done)),
                           work = std::move(work)]() mutable { (*done)(to_reply(work())); });
  };
  dispatcher.set_handler("LIST_MACHINES", read,
                         handler([&eng, blocking](const Params& p, SessionContext&, Completion& done) {
                           auto q = parse_list_machines(p);
                           blocking(done, [&eng, q] { return eng.list_machines(q); });
                         }));
  dispatcher.set_handler("LIST_INSTANCES", read,
                         handler([&eng, blocking](const Params& p, SessionContext&, Completion& done) {
                           auto q = parse_list_instances(p);
                           blocking(done, [&eng, q] { return eng.list_instances(q); });
                         }));
  dispatcher.set_handler("WAL_READ", read,
                         handler([&eng, blocking](const Params& p, SessionContext&, Completion& done) {
                           auto q = parse_wal_read(p);
                           blocking(done, [&eng, q] { return eng.wal_read(q); });
                         }));
  dispatcher.set_handler("WAL_STATS", read,
                         handler([&eng, blocking](const Params&, SessionContext&, Completion& done) {
                           blocking(done, [&eng] { return eng.wal_stats(); });
                         }));
}

}  // namespace rstmdb::server
