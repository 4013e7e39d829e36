#include "server/server.hpp"

#include "engine/engine.hpp"
#include "server/data_ops.hpp"
#include "server/logging.hpp"
#include "server/session_ops.hpp"
#include "server/watch_ops.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <thread>
#include <vector>

namespace rstmdb::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr unsigned kMaxIoThreads = 16;
// Threads for scans (LIST_*, WAL_READ): enough to overlap two long reads on a 2-core box.
constexpr std::size_t kBlockingThreads = 2;
// Pause after an accept failure (EMFILE, ENFILE, ENOBUFS, ...): short, so a transient shortage
// costs little latency; doubled per consecutive failure up to the cap, so a lasting one costs
// one accept attempt per second instead of a spinning core.
constexpr auto kAcceptBackoffInitial = std::chrono::milliseconds(10);
constexpr auto kAcceptBackoffMax = std::chrono::milliseconds(1000);
// Waiting connections closed per pause under fd exhaustion, at most; the rest wait for the next
// round, so one burst cannot hold the acceptor's strand.
constexpr std::size_t kMaxShedPerPause = 1024;
// How often suppressed-warning counts are looked at; each is reported once its 10 s window has
// passed, so the report comes at most this late.
constexpr auto kWarningFlushTick = std::chrono::seconds(1);

std::string endpoint_text(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

const char* signal_name(int signal_number) {
  switch (signal_number) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "signal";
  }
}

// Compares with an errno value without going through error_condition (whose virtual
// equivalence check is not needed for accept()'s plain system errors).
bool is_errno(const boost::system::error_code& ec, int value) {
  return ec.category() == boost::system::system_category() && ec.value() == value;
}

// accept() failed for a reason that belongs to one connection, not to the process.
bool is_per_connection_error(const boost::system::error_code& ec) {
  return is_errno(ec, ECONNABORTED) || is_errno(ec, EPROTO);
}

int open_reserve_fd() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

}  // namespace

bool split_host_port(std::string_view addr, std::string& host, std::string& port) {
  std::size_t colon;
  if (!addr.empty() && addr.front() == '[') {
    const auto close = addr.find(']');
    if (close == std::string_view::npos || close + 1 >= addr.size() || addr[close + 1] != ':') return false;
    host = std::string(addr.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = addr.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(addr.substr(0, colon));
    if (host.find(':') != std::string::npos) return false;  // bare IPv6 needs brackets
  }
  port = std::string(addr.substr(colon + 1));
  return !host.empty() && !port.empty();
}

Server::Server(StartupConfig startup, engine::Engine& engine, storage::Store& store,
               const ServiceNotifier& notifier, std::optional<std::chrono::microseconds> watchdog_interval,
               std::chrono::steady_clock::time_point process_started)
    : live_(std::move(startup.config)),
      load_options_(std::move(startup.load_options)),
      engine_(engine),
      store_(store),
      change_log_(engine),
      hub_(change_log_),
      blocking_pool_(kBlockingThreads),
      started_at_(process_started),
      observability_(live_.current()->config, engine, process_started),
      io_threads_(live_.current()->config.network.io_threads != 0
                      ? live_.current()->config.network.io_threads
                      : std::clamp(std::thread::hardware_concurrency(), 1u, kMaxIoThreads)),
      io_(static_cast<int>(io_threads_)),
      io_loop_(io_, std::chrono::microseconds(live_.current()->config.network.io_spin_us)),
      acceptor_(asio::make_strand(io_)),
      signals_(io_, SIGTERM, SIGINT, SIGHUP),
      grace_timer_(io_),
      accept_backoff_timer_(acceptor_.get_executor()),
      warning_flush_timer_(io_),
      warnings_(get_logger("server")),
      notifier_(notifier),
      heartbeat_(io_.get_executor(), notifier, watchdog_interval, [this] { return service_status(); }),
      checkpoints_(store, rocksdb_log_sink()),
      admin_ops_(AdminServices{.status = [this] { return admin_status(); },
                               .reload = [this](std::string_view trigger) { return reload(trigger); },
                               .checkpoints = &checkpoints_}),
      admin_socket_(io_, blocking_pool_.get_executor(), config::admin_socket_path(live_.current()->config),
                    admin_ops_, checkpoints_, warnings_) {
  services_.config = ConfigView(&live_);
  services_.live = &live_;
  tls_.store(startup.tls);
  if (auto tls = startup.tls) {
    counters_.tls_certificate_expiry_unix_s =
        std::chrono::duration_cast<std::chrono::seconds>(tls->certificate_expiry().time_since_epoch())
            .count();
  }
  services_.engine = &engine;
  services_.hub = &hub_;
  engine.set_commit_hook(hub_.commit_hook());
  engine.set_completion_executor([this](std::function<void()> task) { asio::post(io_, std::move(task)); });
  engine.set_failure_handler([this](const storage::StorageError& e) {
    get_logger("storage")->error("storage failure: {}; writes stopped, draining connections, then exiting",
                                 e.what());
    observability_.health().set_failed(e.what());
    stop_after_storage_failure();
  });
  dispatcher_.set_traffic_recorder(&observability_.traffic());
  if (auto* metrics = observability_.metrics()) {
    services_.request_metrics = &metrics->requests();
    metrics->set_connection_sources([this] { return static_cast<std::uint64_t>(live_sessions()); },
                                    [this] { return static_cast<std::uint64_t>(max_connections_.load()); });
    metrics->set_subscription_source([this] {
      const WatchCounters w = watch_counters();
      constexpr auto i = static_cast<std::size_t>(SubscriptionType::Instance);
      constexpr auto a = static_cast<std::size_t>(SubscriptionType::All);
      return SubscriptionCounts{w.active[i],    w.active[a], w.forwarded[i],
                                w.forwarded[a], w.lagged[i], w.lagged[a]};
    });
    metrics->set_reload_source([this] {
      ReloadCounts r;
      r.succeeded = counters_.reloads_applied.load(std::memory_order_relaxed);
      r.failed = counters_.reloads_rejected.load(std::memory_order_relaxed);
      r.last_success_unix_seconds = static_cast<double>(counters_.last_reload_success_unix_s.load());
      return r;
    });
    metrics->set_tls_certificate_source([this]() -> std::optional<double> {
      const auto expiry = counters_.tls_certificate_expiry_unix_s.load(std::memory_order_relaxed);
      if (expiry == 0) return std::nullopt;
      return static_cast<double>(expiry);
    });
    metrics->set_backup_source([this]() -> std::optional<double> {
      const auto b = checkpoints_.last_backup();
      if (!b) return std::nullopt;
      return std::chrono::duration<double>(b->at.time_since_epoch()).count();
    });
  }
  services_.run_blocking = [this](std::function<void()> work) {
    asio::post(blocking_pool_, std::move(work));
  };
  register_session_ops(dispatcher_, services_);
  register_data_ops(dispatcher_, services_);
  register_watch_ops(dispatcher_, services_);
  // Leader/follower group commit (engine.hpp): the writes a connection starts in one batch are
  // led on its I/O thread when the batch ends. A leader holds its thread through the fsync, so
  // synced groups are led only when another I/O thread is left to serve everyone else.
  engine.set_lead_mode(io_threads_ >= 2 ? engine::Engine::LeadMode::Always
                                        : engine::Engine::LeadMode::WithoutSync);
  // With busy-polling, the other I/O threads are parked while one serves: a leader's fsync
  // wakes one of them to serve meanwhile if there is anyone else to serve (io_loop.hpp).
  engine.set_lead_sync_hook(
      [this](bool blocking) { io_loop_.set_blocking(blocking, blocking && live_sessions() > 1); });
  dispatcher_.set_request_batch_scope([&engine](const std::function<void()>& batch) {
    engine::Engine::LeadScope scope(engine);
    batch();
  });
}

std::optional<protocol::Error> Server::EngineChangeLog::read(
    std::uint64_t from, std::uint64_t through,
    const std::function<bool(std::uint64_t, std::string_view)>& visit) const {
  return engine_.read_log(from, through, visit);
}

Server::~Server() {
  // The endpoint's thread reads members declared after observability_ (sessions, checkpoints):
  // it stops before any of them is destroyed, whichever way run() returned.
  observability_.stop_http();
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

SessionLimits Server::session_limits(const config::Config& config) const {
  return SessionLimits{
      .max_frame_bytes = config.network.max_frame_bytes,
      .max_in_flight = config.network.max_in_flight,
      .max_write_buffer_bytes = config.network.max_write_buffer_bytes,
      .idle_timeout = std::chrono::seconds(config.network.idle_timeout_secs),
      .write_timeout = std::chrono::seconds(config.network.write_timeout_secs),
      .auth_required = config.auth.required,
      .max_auth_failures = config.auth.max_failures_per_connection,
      .watch = EventQueue::Limits{.max_subscriptions = config.watch.max_subscriptions_per_connection,
                                  .queue_events = config.watch.queue_events,
                                  .queue_bytes = static_cast<std::size_t>(config.watch.queue_bytes)},
      .handshake_timeout = std::chrono::seconds(config.network.handshake_timeout_secs),
  };
}

std::string Server::service_status() const {
  std::size_t conns;
  {
    std::lock_guard lock(sessions_mutex_);
    conns = sessions_.size();
  }
  return std::string(shutting_down_ ? "draining" : "ready") + "; " + std::to_string(conns) +
         " conns; offset " + std::to_string(engine_.latest_offset());
}

std::string_view Server::state_name() const noexcept {
  if (storage_failed_) return "failed";
  if (shutting_down_) return "draining";
  return ready_ ? "ready" : "starting";
}

boost::json::object Server::admin_status() const {
  std::size_t conns;
  {
    std::lock_guard lock(sessions_mutex_);
    conns = sessions_.size();
  }
  boost::json::object o;
  o["state"] = state_name();
  o["uptime_s"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_at_)
          .count();
  o["connections"] = conns;
  // The rstmdb_subscriptions_active gauge (runtime.md §4.2), by type.
  const WatchCounters watch = hub_.metrics().snapshot();
  boost::json::object subscriptions;
  for (auto type : {SubscriptionType::Instance, SubscriptionType::All})
    subscriptions[subscription_type_label(type)] = watch.active[static_cast<std::size_t>(type)];
  o["subscriptions"] = std::move(subscriptions);
  o["latest_offset"] = engine_.latest_offset();
  o["pid"] = static_cast<std::int64_t>(::getpid());
  o["version"] = RSTMDB_VERSION;
  std::error_code ec;
  const std::string& configured_dir = live_.current()->config.storage.data_dir;  // restart-only
  const auto data_dir = std::filesystem::absolute(configured_dir, ec);
  o["data_dir"] = ec ? configured_dir : data_dir.lexically_normal().string();
  if (auto r = last_reload()) {
    boost::json::object reload;
    reload["at"] = admin_time_text(r->at);
    reload["trigger"] = r->trigger;
    reload["result"] = r->result.outcome == ReloadResult::Outcome::Applied ? "applied" : "rejected";
    if (!r->result.message.empty()) reload["message"] = r->result.message;
    o["last_reload"] = std::move(reload);
  } else {
    o["last_reload"] = nullptr;
  }
  if (auto b = checkpoints_.last_backup()) {
    boost::json::object backup;
    backup["at"] = admin_time_text(b->at);
    backup["unix_s"] = std::chrono::duration_cast<std::chrono::seconds>(b->at.time_since_epoch()).count();
    backup["checkpoint"] = b->checkpoint;
    backup["latest_offset"] = b->latest_offset;
    o["last_backup"] = std::move(backup);
  } else {
    o["last_backup"] = nullptr;
  }
  o["checkpoints_open"] = checkpoints_.open_count();
  // TLS and reloads: what an operator checks after rotating a certificate or a token (the
  // same counts the metrics endpoint will export, server_counters.hpp).
  if (const auto tls = tls_.load()) {
    boost::json::object t;
    t["certificate_sha256"] = tls->certificate_fingerprint();
    t["certificate_expires"] = utc_time_text(tls->certificate_expiry());
    t["client_certificate_required"] = tls->client_certificate_required();
    o["tls"] = std::move(t);
  } else {
    o["tls"] = nullptr;
  }
  boost::json::object rejected;
  rejected["tls_handshake"] = counters_.rejected_tls_handshake.load(std::memory_order_relaxed);
  rejected["handshake_timeout"] = counters_.rejected_handshake_timeout.load(std::memory_order_relaxed);
  o["connections_rejected"] = std::move(rejected);
  boost::json::object reloads;
  reloads["applied"] = counters_.reloads_applied.load(std::memory_order_relaxed);
  reloads["rejected"] = counters_.reloads_rejected.load(std::memory_order_relaxed);
  o["reloads"] = std::move(reloads);
  o["config_generation"] = live_.current()->number;
  return o;
}

int Server::run() {
  auto log = get_logger("server");
  const auto startup = live_.current();
  const config::Config& config = startup->config;
  fd_budget_ = apply_fd_budget(config.network.max_connections, config.storage.max_open_files);
  max_connections_ = fd_budget_.effective_connections;
  if (fd_budget_.clamped()) {
    log->warn(
        "fd budget: {} does not fit; accepting at most {} connection(s) instead of {} (raise LimitNOFILE "
        "/ ulimit -n, or lower storage.max_open_files or network.max_connections)",
        describe(fd_budget_), fd_budget_.effective_connections, fd_budget_.configured_connections);
  } else {
    log->info("fd budget: {}", describe(fd_budget_));
  }
  reserve_fd_ = open_reserve_fd();

  // runtime.md §5.1 step 6: metrics first, then the RCP listener.
  if (auto problem = observability_.start_http(); !problem.empty()) {
    log->error("cannot bind metrics {}: {}", config.metrics.bind_addr, problem);
    return kExitCannotBind;
  }
  if (auto warning = metrics_exposure_warning(config)) log->warn("{}", *warning);

  std::string host, port;
  if (!split_host_port(config.network.bind_addr, host, port)) {
    log->error("cannot bind {}: not host:port", config.network.bind_addr);
    return kExitCannotBind;
  }
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  auto endpoints = resolver.resolve(host, port, tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    log->error("cannot bind {}: {}", config.network.bind_addr, ec ? ec.message() : "no address");
    return kExitCannotBind;
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only: SO_REUSEPORT would let a second server share the port.
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  // shed_waiting_connections() calls accept4() itself and must never block.
  if (!ec) acceptor_.native_non_blocking(true, ec);
  if (ec) {
    log->error("cannot bind {}: {}", config.network.bind_addr, ec.message());
    return kExitCannotBind;
  }
  // The admin socket before the "listening" line: whoever waits for that line (a test, a
  // script) may use `rstmdbd status` at once.
  if (const std::string problem = admin_socket_.start(); !problem.empty()) {
    log->error("{}", problem);
    return kExitCannotBind;
  }
  const auto local = acceptor_.local_endpoint(ec);
  log->info("Server listening on {} ({})", endpoint_text(local), tls_.load() ? "tls" : "plain");

  hub_.start();
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
  asio::co_spawn(io_, signal_loop(), asio::detached);
  asio::co_spawn(io_, warning_flush_loop(), asio::detached);
  observability_.health().set_listener_open(true);
  observability_.health().set_ready();
  const auto ready_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_at_)
          .count();
  log->info("ready in {} ms", ready_ms);
  ready_ = true;
  notifier_.ready(service_status());
  heartbeat_.start();

  std::vector<std::thread> threads;
  threads.reserve(io_threads_ - 1);
  for (unsigned i = 1; i < io_threads_; ++i) {
    threads.emplace_back([this] {
      pthread_setname_np(pthread_self(), "rstmdb-io");
      io_loop_.run();
    });
  }
  io_loop_.run();
  for (auto& t : threads)
    t.join();
  admin_socket_.stop();
  blocking_pool_.join();
  notifier_.status("stopping: connections closed; syncing storage");
  // Every write already handed to the engine completes and is synced; its completion (posted
  // to io_) then runs against the closed sessions, so nothing is left queued.
  engine_.shutdown();
  hub_.stop();
  io_.restart();
  io_.poll();
  observability_.stop_http();

  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_at_)
          .count();
  if (storage_failed_) {
    log->error("Server stopped after a storage failure (uptime {}s); exiting with status {}", uptime,
               kExitRuntimeError);
    return kExitRuntimeError;
  }
  log->info("Server stopped (uptime {}s)", uptime);
  return kExitOk;
}

asio::awaitable<void> Server::accept_loop() {
  auto backoff = std::chrono::duration_cast<std::chrono::steady_clock::duration>(kAcceptBackoffInitial);
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), kUseTuple);
    if (shutting_down_) co_return;
    if (!ec) {
      backoff = kAcceptBackoffInitial;
      if (reserve_fd_ < 0) reserve_fd_ = open_reserve_fd();  // lost to a race while shedding
      accept_connection(std::move(socket));
      continue;
    }
    if (ec == asio::error::operation_aborted) co_return;
    if (is_per_connection_error(ec)) {
      warnings_.accept_failed.warn("accept failed: {}", ec.message());
      continue;
    }
    // Out of descriptors (or kernel memory): waiting clients are told at once instead of
    // hanging in the backlog, then accepting pauses.
    const bool out_of_fds = is_errno(ec, EMFILE) || is_errno(ec, ENFILE);
    if (reserve_fd_ < 0) reserve_fd_ = open_reserve_fd();
    const std::size_t shed = out_of_fds ? shed_waiting_connections() : 0;
    warnings_.accept_failed.warn(
        "accept failed: {} (RLIMIT_NOFILE {}, {} connection(s) open); closed {} waiting connection(s), "
        "pausing accepts for {} ms",
        ec.message(), fd_budget_.after.soft, live_sessions(), shed,
        std::chrono::duration_cast<std::chrono::milliseconds>(backoff).count());
    accept_backoff_timer_.expires_after(backoff);
    observability_.health().set_listener_open(false);  // /ready: degraded while paused
    co_await accept_backoff_timer_.async_wait(kUseTuple);
    if (shutting_down_) co_return;
    observability_.health().set_listener_open(true);
    backoff = std::min<std::chrono::steady_clock::duration>(backoff * 2, kAcceptBackoffMax);
  }
}

void Server::accept_connection(tcp::socket socket) {
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(sessions_mutex_);
    const std::uint32_t limit = max_connections_.load();
    if (sessions_.size() >= limit) {
      if (auto* metrics = observability_.metrics())
        metrics->connection_rejected(ServerMetrics::RejectReason::Limit);
      boost::system::error_code ignored;
      warnings_.connection_limit.warn("connection limit reached ({}), rejecting {}", limit,
                                      endpoint_text(socket.remote_endpoint(ignored)));
      socket.close(ignored);
      return;
    }
    boost::system::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);
    socket.set_option(asio::socket_base::keep_alive(true), opt_ec);
    if (auto* metrics = observability_.metrics()) metrics->connection_accepted();
    const std::uint64_t id = next_session_id_++;
    session =
        std::make_shared<Session>(std::move(socket), tls_.load(), id, session_limits(live_.current()->config),
                                  dispatcher_, *this, warnings_, &hub_);
    sessions_.emplace(id, session);
    io_loop_.set_connections(sessions_.size());
  }
  session->start();
}

std::size_t Server::shed_waiting_connections() {
  std::size_t shed = 0;
  while (shed < kMaxShedPerPause && reserve_fd_ >= 0) {
    ::close(reserve_fd_);
    const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);  // nothing written: the client sees the connection closed, as at the limit
      ++shed;
      if (auto* metrics = observability_.metrics())
        metrics->connection_rejected(ServerMetrics::RejectReason::FdExhausted);
    }
    // If another thread took the freed descriptor meanwhile, this fails and the next round
    // tries again; the backoff applies either way.
    reserve_fd_ = open_reserve_fd();
    if (fd < 0) break;  // EAGAIN: nobody else waiting (or EMFILE: the descriptor was taken)
  }
  return shed;
}

std::size_t Server::live_sessions() {
  std::lock_guard lock(sessions_mutex_);
  return sessions_.size();
}

asio::awaitable<void> Server::warning_flush_loop() {
  for (;;) {
    warning_flush_timer_.expires_after(kWarningFlushTick);
    auto [ec] = co_await warning_flush_timer_.async_wait(kUseTuple);
    if (ec || stopped_) co_return;
    warnings_.flush();
    observability_.health().event_loop_alive();  // the /health heartbeat: this loop runs timers
  }
}

void Server::on_session_closed(std::uint64_t id, std::string_view reason) {
  if (reason == "tls_handshake") {
    counters_.rejected_tls_handshake.fetch_add(1, std::memory_order_relaxed);
    if (auto* metrics = observability_.metrics())
      metrics->connection_rejected(ServerMetrics::RejectReason::TlsHandshake);
  } else if (reason == "handshake_timeout") {
    counters_.rejected_handshake_timeout.fetch_add(1, std::memory_order_relaxed);
    if (auto* metrics = observability_.metrics())
      metrics->connection_rejected(ServerMetrics::RejectReason::HandshakeTimeout);
  } else if (auto* metrics = observability_.metrics()) {
    metrics->connection_closed(reason);
  }
  {
    std::lock_guard lock(sessions_mutex_);
    sessions_.erase(id);
    io_loop_.set_connections(sessions_.size());
  }
  if (shutting_down_) asio::post(io_, [this] { finish_shutdown_if_idle(); });
}

asio::awaitable<void> Server::signal_loop() {
  for (;;) {
    auto [ec, signal_number] = co_await signals_.async_wait(kUseTuple);
    if (ec) co_return;
    if (signal_number == SIGHUP) {
      // Reading files and waiting for the write pipeline must not hold an I/O thread. A storm
      // of SIGHUPs queues one reload at a time: a signal that arrives while one is queued
      // is served by it (it reads the files after the signal), one during a reload queues the next.
      if (!sighup_reload_queued_.exchange(true)) {
        asio::post(blocking_pool_, [this] {
          sighup_reload_queued_ = false;
          reload("received SIGHUP");
        });
      }
    } else if (!shutting_down_) {
      begin_shutdown(std::string("received ") + signal_name(signal_number));
    } else {
      get_logger("server")->info("received {} again; closing connections now", signal_name(signal_number));
      force_close_all();
    }
  }
}

void Server::stop_after_storage_failure() {
  if (storage_failed_.exchange(true)) return;
  asio::post(io_, [this] {
    if (!shutting_down_) begin_shutdown("storage failure");
  });
}

std::vector<std::shared_ptr<Session>> Server::sessions_snapshot() {
  std::vector<std::shared_ptr<Session>> live;
  std::lock_guard lock(sessions_mutex_);
  live.reserve(sessions_.size());
  for (auto& [id, weak] : sessions_) {
    if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  return live;
}

void Server::begin_shutdown(std::string_view cause) {
  shutting_down_ = true;
  observability_.health().set_draining();  // /ready answers 503 from here on
  observability_.health().set_listener_open(false);
  const auto live = sessions_snapshot();
  const std::uint32_t grace_secs = live_.current()->config.network.shutdown_grace_secs;
  get_logger("server")->info("{}; draining {} connection(s), grace {}s", cause, live.size(), grace_secs);
  notifier_.stopping("draining " + std::to_string(live.size()) + " connection(s), grace " +
                     std::to_string(grace_secs) + "s");
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_backoff_timer_.cancel();
  });
  admin_socket_.stop();
  for (auto& s : live)
    s->drain();
  grace_timer_.expires_after(std::chrono::seconds(grace_secs));
  grace_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    get_logger("server")->warn("shutdown grace period over; closing remaining connections");
    force_close_all();
  });
  finish_shutdown_if_idle();
}

void Server::force_close_all() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mutex_);
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    // A session whose last reference is already gone will never report; forget it.
    std::erase_if(sessions_, [](auto& entry) { return entry.second.expired(); });
  }
  for (auto& s : live)
    s->force_close();
  finish_shutdown_if_idle();
}

void Server::finish_shutdown_if_idle() {
  {
    std::lock_guard lock(sessions_mutex_);
    if (!sessions_.empty()) return;
  }
  if (stopped_.exchange(true)) return;
  boost::system::error_code ignored;
  grace_timer_.cancel();
  heartbeat_.stop();
  signals_.cancel(ignored);
  io_.stop();
}

}  // namespace rstmdb::server
