#include "server/server.hpp"

#include "engine/engine.hpp"
#include "server/data_ops.hpp"
#include "server/logging.hpp"
#include "server/session_ops.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <pthread.h>

#include <csignal>
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
    default:
      return "signal";
  }
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

Server::Server(config::Config config, engine::Engine& engine, const ServiceNotifier& notifier,
               std::optional<std::chrono::microseconds> watchdog_interval,
               std::chrono::steady_clock::time_point process_started)
    : config_(std::move(config)),
      engine_(engine),
      tokens_(config_.auth.token_hashes, config_.auth.token_labels),
      blocking_pool_(kBlockingThreads),
      started_at_(process_started),
      io_threads_(config_.network.io_threads != 0
                      ? config_.network.io_threads
                      : std::clamp(std::thread::hardware_concurrency(), 1u, kMaxIoThreads)),
      io_(static_cast<int>(io_threads_)),
      acceptor_(asio::make_strand(io_)),
      signals_(io_, SIGTERM, SIGINT),
      grace_timer_(io_),
      notifier_(notifier),
      heartbeat_(io_.get_executor(), notifier, watchdog_interval, [this] { return service_status(); }) {
  services_.config = &config_;
  services_.tokens = &tokens_;
  services_.engine = &engine;
  engine.set_completion_executor([this](std::function<void()> task) { asio::post(io_, std::move(task)); });
  engine.set_failure_handler([this](const storage::StorageError& e) {
    get_logger("storage")->error("storage failure: {}; writes stopped, draining connections, then exiting",
                                 e.what());
    stop_after_storage_failure();
  });
  services_.run_blocking = [this](std::function<void()> work) {
    asio::post(blocking_pool_, std::move(work));
  };
  register_session_ops(dispatcher_, services_);
  register_data_ops(dispatcher_, services_);
}

Server::~Server() = default;

SessionLimits Server::session_limits() const {
  return SessionLimits{
      .max_frame_bytes = config_.network.max_frame_bytes,
      .max_in_flight = config_.network.max_in_flight,
      .max_write_buffer_bytes = config_.network.max_write_buffer_bytes,
      .idle_timeout = std::chrono::seconds(config_.network.idle_timeout_secs),
      .auth_required = config_.auth.required,
      .max_auth_failures = config_.auth.max_failures_per_connection,
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

int Server::run() {
  auto log = get_logger("server");
  std::string host, port;
  if (!split_host_port(config_.network.bind_addr, host, port)) {
    log->error("cannot bind {}: not host:port", config_.network.bind_addr);
    return kExitCannotBind;
  }
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  auto endpoints = resolver.resolve(host, port, tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    log->error("cannot bind {}: {}", config_.network.bind_addr, ec ? ec.message() : "no address");
    return kExitCannotBind;
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only: SO_REUSEPORT would let a second server share the port.
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    log->error("cannot bind {}: {}", config_.network.bind_addr, ec.message());
    return kExitCannotBind;
  }
  const auto local = acceptor_.local_endpoint(ec);
  log->info("Server listening on {} (plain)", endpoint_text(local));

  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
  asio::co_spawn(io_, signal_loop(), asio::detached);
  const auto ready_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_at_)
          .count();
  log->info("ready in {} ms", ready_ms);
  notifier_.ready(service_status());
  heartbeat_.start();

  std::vector<std::thread> threads;
  threads.reserve(io_threads_ - 1);
  for (unsigned i = 1; i < io_threads_; ++i) {
    threads.emplace_back([this] {
      pthread_setname_np(pthread_self(), "rstmdb-io");
      io_.run();
    });
  }
  io_.run();
  for (auto& t : threads)
    t.join();
  blocking_pool_.join();
  notifier_.status("stopping: connections closed; syncing storage");
  // Every write already handed to the engine completes and is synced; its completion (posted
  // to io_) then runs against the closed sessions, so nothing is left queued.
  engine_.shutdown();
  io_.restart();
  io_.poll();

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
  auto log = get_logger("server");
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), kUseTuple);
    if (shutting_down_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // EMFILE and friends: keep accepting; the condition is usually transient.
      log->warn("accept failed: {}", ec.message());
      continue;
    }
    std::shared_ptr<Session> session;
    {
      std::lock_guard lock(sessions_mutex_);
      if (sessions_.size() >= config_.network.max_connections) {
        boost::system::error_code ignored;
        log->warn("connection limit reached ({}), rejecting {}", config_.network.max_connections,
                  endpoint_text(socket.remote_endpoint(ignored)));
        socket.close(ignored);
        continue;
      }
      boost::system::error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);
      socket.set_option(asio::socket_base::keep_alive(true), opt_ec);
      const std::uint64_t id = next_session_id_++;
      session = std::make_shared<Session>(std::move(socket), id, session_limits(), dispatcher_, *this);
      sessions_.emplace(id, session);
    }
    session->start();
  }
}

void Server::on_session_closed(std::uint64_t id, std::string_view) {
  {
    std::lock_guard lock(sessions_mutex_);
    sessions_.erase(id);
  }
  if (shutting_down_) asio::post(io_, [this] { finish_shutdown_if_idle(); });
}

asio::awaitable<void> Server::signal_loop() {
  for (;;) {
    auto [ec, signal_number] = co_await signals_.async_wait(kUseTuple);
    if (ec) co_return;
    if (!shutting_down_) {
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

void Server::begin_shutdown(std::string_view cause) {
  shutting_down_ = true;
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mutex_);
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  get_logger("server")->info("{}; draining {} connection(s), grace {}s", cause, live.size(),
                             config_.network.shutdown_grace_secs);
  notifier_.stopping("draining " + std::to_string(live.size()) + " connection(s), grace " +
                     std::to_string(config_.network.shutdown_grace_secs) + "s");
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  for (auto& s : live)
    s->drain();
  grace_timer_.expires_after(std::chrono::seconds(config_.network.shutdown_grace_secs));
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
