#include "tools/bench/runner.hpp"

#include "tools/bench/connection.hpp"
#include "tools/bench/request_builder.hpp"
#include "tools/bench/subscriber.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <sys/resource.h>
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <future>
#include <random>
#include <thread>

namespace rstmdb::bench {

namespace asio = boost::asio;

namespace {

// How often the main thread checks for an interrupt while waiting on the workers.
constexpr auto kPollInterval = std::chrono::milliseconds(100);
// Subscribers connecting at once: well inside any listen backlog, so no SYN is dropped and
// retried a second later.
constexpr std::size_t kSubscribeWave = 64;
// Descriptors the bench needs besides its connections: stdio, epoll/eventfd per I/O thread,
// the JSON file, the resolver.
constexpr std::uint64_t kReservedFds = 64;

// One io_context per thread; connections are spread over them round-robin.
class WorkerPool {
 public:
  explicit WorkerPool(unsigned n) {
    for (unsigned i = 0; i < n; ++i)
      workers_.push_back(std::make_unique<Worker>());
    for (auto& w : workers_) {
      w->thread = std::thread([io = &w->io] {
        while (true) {
          try {
            io->run();
            return;
          } catch (const std::exception& e) {
            std::fprintf(stderr, "rstmdb-bench: internal error in I/O thread: %s\n", e.what());
          }
        }
      });
    }
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() { join(); }

  // Lets each io_context run out of work, then joins its thread.
  void join() {
    for (auto& w : workers_)
      w->guard.reset();
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
  }

  std::size_t size() const noexcept { return workers_.size(); }
  asio::io_context& io(std::size_t i) { return workers_[i % workers_.size()]->io; }
  WorkerStats& stats(std::size_t i) { return workers_[i % workers_.size()]->stats; }
  WatchStats& watch(std::size_t i) { return workers_[i % workers_.size()]->watch; }

 private:
  struct Worker {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
    WorkerStats stats;
    WatchStats watch;
    std::thread thread;
  };
  std::vector<std::unique_ptr<Worker>> workers_;
};

// On every exit path: stop all connections on their own threads, then join the workers, so
// no coroutine outlives the Connection it runs on.
template <typename T>
class Teardown {
 public:
  Teardown(WorkerPool& pool, std::vector<std::unique_ptr<T>>& conns) : pool_(pool), conns_(conns) {}
  Teardown(const Teardown&) = delete;
  Teardown& operator=(const Teardown&) = delete;
  ~Teardown() {
    for (auto& c : conns_)
      asio::post(c->io(), [p = c.get()] { p->shutdown(); });
    pool_.join();
  }

 private:
  WorkerPool& pool_;
  std::vector<std::unique_ptr<T>>& conns_;
};

template <typename T>
T wait_for(std::future<T>& f, const std::atomic<bool>& interrupted) {
  while (f.wait_for(kPollInterval) != std::future_status::ready) {
    if (interrupted.load()) throw BenchError("interrupted");
  }
  return f.get();
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

double to_seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// The soft RLIMIT_NOFILE raised to the hard limit when `needed` descriptors do not fit.
void ensure_fd_limit(std::uint64_t needed) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= needed) return;
  if (lim.rlim_max < needed) {
    throw BenchError("need " + std::to_string(needed) +
                     " file descriptors, but RLIMIT_NOFILE's hard limit is " + std::to_string(lim.rlim_max) +
                     " (raise it, e.g. ulimit -n)");
  }
  lim.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) throw BenchError("cannot raise RLIMIT_NOFILE");
}

// The watch workload's subscribers, on their own I/O threads so that reading events does not
// take the writers' threads.
struct WatchSide {
  explicit WatchSide(unsigned threads) : pool(threads) {}
  WorkerPool pool;
  std::vector<std::unique_ptr<Subscriber>> subs;
  Teardown<Subscriber> teardown{pool, subs};
  std::vector<std::future<void>> running;
};

// Connects every subscriber (in waves): HELLO (+ AUTH) and WATCH_ALL.
void start_watch(WatchSide& w, RunPlan& plan, const BenchOptions& o, const std::atomic<bool>& interrupted) {
  const std::uint32_t total = o.watch_connections();
  const auto t0 = Clock::now();
  for (std::uint32_t i = 0; i < total; ++i) {
    const bool stalled = i >= o.subscribers;
    w.subs.push_back(std::make_unique<Subscriber>(w.pool.io(i), plan, w.pool.stats(i), w.pool.watch(i),
                                                  o.connections + 1 + i, stalled));
  }
  for (std::size_t first = 0; first < total; first += kSubscribeWave) {
    std::vector<std::future<void>> wave;
    for (std::size_t i = first; i < std::min<std::size_t>(total, first + kSubscribeWave); ++i) {
      Subscriber& s = *w.subs[i];
      wave.push_back(asio::co_spawn(s.io(), s.subscribe(), asio::use_future));
    }
    for (auto& f : wave)
      wait_for(f, interrupted);
  }
  std::fprintf(stderr, "rstmdb-bench: %u subscriber(s) reading and %u stalled, WATCH_ALL in %.2f s\n",
               o.subscribers, o.stalled_subscribers, to_seconds(Clock::now() - t0));
}

// Starts the reading subscribers' loops. Call once the plan's times are set: co_spawn orders
// those writes before the loops read them (the events themselves come over TCP, which is no
// ordering the memory model knows).
void start_reading(WatchSide& w) {
  for (auto& s : w.subs) {
    if (!s->stalled()) w.running.push_back(asio::co_spawn(s->io(), s->run(), asio::use_future));
  }
}

// After the writers: every reading subscriber reads on until it has `final`; one that gets
// nothing for --timeout seconds while behind fails. Then the results are merged.
WatchReport finish_watch(WatchSide& w, const AckSet& final, const BenchOptions& o, double duration_s,
                         const std::atomic<bool>& interrupted, bool& was_interrupted) {
  const auto drain_start = Clock::now();
  std::vector<std::uint64_t> progress(w.subs.size(), 0);
  std::vector<Clock::time_point> changed(w.subs.size(), drain_start);
  std::vector<bool> stopped(w.subs.size(), false);
  for (auto& s : w.subs) {
    if (!s->stalled()) asio::post(s->io(), [p = s.get(), final] { p->finish_after(final); });
  }
  const auto timeout = seconds(o.timeout_s);
  while (true) {
    const auto now = Clock::now();
    bool all_done = true;
    for (std::size_t i = 0; i < w.subs.size(); ++i) {
      Subscriber& s = *w.subs[i];
      if (s.stalled() || s.done() || stopped[i]) continue;
      all_done = false;
      std::string reason;
      if (interrupted.load()) {
        reason = "interrupted while behind";
        was_interrupted = true;
      } else if (const std::uint64_t r = s.received(); r != progress[i]) {
        progress[i] = r;
        changed[i] = now;
      } else if (now - changed[i] > timeout) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "no event for %g s with %llu of %llu acknowledged applies in",
                      o.timeout_s, static_cast<unsigned long long>(r),
                      static_cast<unsigned long long>(final.count));
        reason = buf;
      }
      if (!reason.empty()) {
        stopped[i] = true;
        asio::post(s.io(), [p = &s, reason] { p->stop(reason); });
      }
    }
    if (all_done) break;
    std::this_thread::sleep_for(kPollInterval);
  }
  const double drain_s = to_seconds(Clock::now() - drain_start);
  for (auto& f : w.running)
    f.get();
  w.pool.join();  // nothing is pending now: the stalled connections only wait

  WatchReport r;
  r.subscribers = o.subscribers;
  r.stalled = o.stalled_subscribers;
  r.acknowledged = final.count;
  r.drain_s = drain_s;
  for (std::size_t t = 0; t < w.pool.size(); ++t) {
    r.latency.merge(w.pool.watch(t).latency);
    r.latency_from_send.merge(w.pool.watch(t).latency_from_send);
  }
  for (auto& s : w.subs) {
    if (s->stalled()) {
      if (s->still_connected()) ++r.stalled_connected;
      continue;
    }
    r.check.merge(s->check());
    r.per_subscriber_rate.push_back(duration_s > 0 ? static_cast<double>(s->check().in_window) / duration_s
                                                   : 0.0);
  }
  std::sort(r.per_subscriber_rate.begin(), r.per_subscriber_rate.end());
  return r;
}

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Unique per run, so runs never collide on a long-lived server: bench-<time>-<random>.
std::string make_machine_name() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now).count();
  std::random_device rd;
  char buf[64];
  std::snprintf(buf, sizeof buf, "bench-%llx-%05x%04x", static_cast<unsigned long long>(secs),
                static_cast<unsigned>(getpid()) & 0xFFFFF, rd() & 0xFFFF);
  return buf;
}

boost::json::object config_json(const BenchOptions& o, const std::string& machine, std::uint64_t working_set,
                                std::size_t threads) {
  boost::json::object c;
  c["server"] = o.server_text;
  c["local"] = o.local_server.has_value();
  c["workload"] = o.workload.to_string();
  c["connections"] = o.connections;
  c["pipeline"] = o.pipeline;
  c["mode"] = o.rate ? "open" : "closed";
  if (o.rate) {
    c["rate"] = *o.rate;
  } else {
    c["rate"] = nullptr;
  }
  if (o.requests) {
    c["requests"] = *o.requests;
    c["duration_s"] = nullptr;
  } else {
    c["requests"] = nullptr;
    c["duration_s"] = o.duration_s;
  }
  c["warmup_s"] = o.warmup_s;
  c["instances"] = working_set;
  c["payload_bytes"] = o.payload_bytes;
  c["create_ids"] = o.create_ids == CreateIds::Uuid ? "uuid" : "sequential";
  c["lifecycle_applies"] = kLifecycleApplies;
  c["threads"] = threads;
  c["timeout_s"] = o.timeout_s;
  c["auth"] = o.token.has_value();
  c["machine"] = machine;
  c["subscribers"] = o.subscribers;
  c["stalled_subscribers"] = o.stalled_subscribers;
  c["subscriber_threads"] = o.subscriber_threads;
  return c;
}

}  // namespace

RunOutcome run_benchmark(const BenchOptions& o, const std::atomic<bool>& interrupted) {
  const auto started_at = std::chrono::system_clock::now();
  const WorkloadMix& mix = o.workload;
  bool needs_machine = false;
  bool needs_working_set = false;
  for (const MixEntry& e : mix.entries()) {
    needs_machine |= op_uses_machine(e.op);
    needs_working_set |= op_uses_working_set(e.op);
  }

  const std::string machine = make_machine_name();
  const RequestBuilder requests(machine, o.payload_bytes, o.create_ids);
  RunPlan plan;
  plan.options = &o;
  plan.requests = &requests;
  plan.working_set = needs_working_set ? o.instances : 0;
  const bool watching = o.watch_connections() > 0;
  std::unique_ptr<AckTable> acks;
  if (watching) {
    acks = std::make_unique<AckTable>();
    plan.acks = acks.get();
  }
  ensure_fd_limit(std::uint64_t{o.connections} + o.watch_connections() + 1 + kReservedFds);

  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  const unsigned threads = o.threads ? o.threads : std::min<unsigned>(cpus, o.connections);
  WorkerPool pool(threads);
  for (std::size_t t = 0; t < pool.size(); ++t) {
    for (const MixEntry& e : mix.entries()) {
      auto r = std::make_unique<OpResult>();
      r->op = std::string(op_name(e.op));
      pool.stats(t).ops[static_cast<std::size_t>(e.op)] = std::move(r);
    }
  }

  // conns[0] is the control connection; conns[1..] carry the load.
  std::vector<std::unique_ptr<Connection>> conns;
  Teardown<Connection> teardown(pool, conns);
  conns.push_back(std::make_unique<Connection>(pool.io(0), plan, pool.stats(0), o.connections));
  Connection& control = *conns.front();

  // 1. Identify the server and put the machine.
  ServerIdentity server;
  {
    auto f = asio::co_spawn(control.io(), control.control_setup(needs_machine), asio::use_future);
    server = wait_for(f, interrupted);
  }
  std::fprintf(stderr, "rstmdb-bench: connected to %s (%s %s)\n", o.server_text.c_str(),
               server.implementation.value_or(server.server_name.value_or("unknown server")).c_str(),
               server.server_version.value_or("?").c_str());

  // 2. Connect the load connections; each creates working-set instances i, i+c, i+2c, ...
  const auto setup_start = Clock::now();
  std::vector<std::future<void>> pending;
  for (std::uint32_t i = 0; i < o.connections; ++i) {
    conns.push_back(std::make_unique<Connection>(pool.io(i), plan, pool.stats(i), i));
    Connection& c = *conns.back();
    pending.push_back(asio::co_spawn(c.io(), c.setup(i, o.connections, plan.working_set), asio::use_future));
  }
  for (auto& f : pending)
    wait_for(f, interrupted);
  if (needs_machine) {
    std::fprintf(stderr, "rstmdb-bench: machine %s v%u, %llu instances created in %.2f s\n", machine.c_str(),
                 kMachineVersion, static_cast<unsigned long long>(plan.working_set),
                 to_seconds(Clock::now() - setup_start));
  }
  if (mix.contains(Op::WalRead)) {
    auto f = asio::co_spawn(control.io(), control.latest_offset(), asio::use_future);
    plan.wal_latest = wait_for(f, interrupted);
  }
  asio::post(control.io(), [c = &control] { c->shutdown(); });

  // 2b. Subscribers: after the working set, so every event they see is a writer's apply.
  std::unique_ptr<WatchSide> watch;
  if (watching) {
    watch = std::make_unique<WatchSide>(o.subscriber_threads);
    start_watch(*watch, plan, o, interrupted);
  }

  // 3. Load. The plan's times are set before the connections start (co_spawn orders them).
  plan.load_start = Clock::now();
  plan.measure_begin = plan.load_start + seconds(o.warmup_s);
  plan.counted = o.requests.has_value();
  plan.units_left.store(o.requests ? static_cast<std::int64_t>(*o.requests) : 0);
  plan.measure_end = plan.counted ? Clock::time_point::max() : plan.measure_begin + seconds(o.duration_s);
  char stop_condition[64];
  if (o.requests) {
    std::snprintf(stop_condition, sizeof stop_condition, "%llu units",
                  static_cast<unsigned long long>(*o.requests));
  } else {
    std::snprintf(stop_condition, sizeof stop_condition, "%g s", o.duration_s);
  }
  std::fprintf(stderr, "rstmdb-bench: %s, %u connection(s) x pipeline %u; warmup %g s, then measuring %s\n",
               o.rate ? "open loop" : "closed loop", o.connections, o.pipeline, o.warmup_s, stop_condition);

  if (watch) start_reading(*watch);
  pending.clear();
  for (std::size_t i = 1; i < conns.size(); ++i) {
    pending.push_back(asio::co_spawn(conns[i]->io(), conns[i]->run_load(), asio::use_future));
  }
  RunOutcome out;
  Clock::time_point stopped_at = Clock::time_point::max();
  for (auto& f : pending) {
    while (f.wait_for(kPollInterval) != std::future_status::ready) {
      if (interrupted.load() && !plan.stop.load()) {
        plan.stop.store(true);
        stopped_at = Clock::now();
        out.interrupted = true;
        std::fprintf(stderr, "rstmdb-bench: interrupted; draining requests in flight\n");
      }
    }
    f.get();
  }
  pool.join();

  // 4. Merge.
  RunReport& report = out.report;
  report.started_at = iso8601_utc(started_at);
  report.durability = o.durability;
  report.config = config_json(o, machine, plan.working_set, pool.size());
  report.server = std::move(server);
  report.total.op = "total";
  Clock::time_point last_completion{};
  Clock::time_point last_end{};
  for (std::size_t t = 0; t < pool.size(); ++t) {
    WorkerStats& ws = pool.stats(t);
    last_completion = std::max(last_completion, ws.last_completion);
    last_end = std::max(last_end, ws.last_end);
    for (const auto& [code, n] : ws.errors_by_code)
      report.errors_by_code[code] += n;
    out.failures.insert(out.failures.end(), ws.failures.begin(), ws.failures.end());
  }
  for (const MixEntry& e : mix.entries()) {
    OpResult merged;
    merged.op = std::string(op_name(e.op));
    for (std::size_t t = 0; t < pool.size(); ++t)
      merged.merge(*pool.stats(t).ops[static_cast<std::size_t>(e.op)]);
    report.total.merge(merged);
    report.ops.push_back(std::move(merged));
  }
  // The window ends at the end of the plan, or earlier if the run was interrupted or every
  // connection was lost before it.
  Clock::time_point window_end = plan.counted ? last_completion : plan.measure_end;
  window_end = std::min({window_end, stopped_at, last_end});
  report.duration_s = window_end > plan.measure_begin ? to_seconds(window_end - plan.measure_begin) : 0.0;

  if (watch) {
    AckSet final;
    for (std::size_t t = 0; t < pool.size(); ++t)
      final.merge(pool.stats(t).acked);
    std::fprintf(stderr, "rstmdb-bench: writers done; subscribers reading up to offset %llu\n",
                 static_cast<unsigned long long>(final.max_offset));
    bool interrupted_in_drain = false;
    report.watch = finish_watch(*watch, final, o, report.duration_s, interrupted, interrupted_in_drain);
    out.interrupted |= interrupted_in_drain;
    for (std::size_t t = 0; t < watch->pool.size(); ++t) {
      const auto& f = watch->pool.watch(t).failures;
      report.watch->failed += static_cast<std::uint32_t>(f.size());
      out.failures.insert(out.failures.end(), f.begin(), f.end());
    }
  }
  return out;
}

}  // namespace rstmdb::bench
