#include "tools/bench/runner.hpp"

#include "tools/bench/connection.hpp"
#include "tools/bench/request_builder.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

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

 private:
  struct Worker {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
    WorkerStats stats;
    std::thread thread;
  };
  std::vector<std::unique_ptr<Worker>> workers_;
};

// On every exit path: stop all connections on their own threads, then join the workers, so
// no coroutine outlives the Connection it runs on.
class Teardown {
 public:
  Teardown(WorkerPool& pool, std::vector<std::unique_ptr<Connection>>& conns) : pool_(pool), conns_(conns) {}
  Teardown(const Teardown&) = delete;
  Teardown& operator=(const Teardown&) = delete;
  ~Teardown() {
    for (auto& c : conns_)
      asio::post(c->io(), [p = c.get()] { p->shutdown(); });
    pool_.join();
  }

 private:
  WorkerPool& pool_;
  std::vector<std::unique_ptr<Connection>>& conns_;
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
  Teardown teardown(pool, conns);
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
  return out;
}

}  // namespace rstmdb::bench
