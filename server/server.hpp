// The RCP listener: the io_context and its threads, the acceptor, the live-session registry
// with the connection limit, the file-descriptor budget (runtime.md §5.5), signals and graceful
// shutdown on SIGTERM/SIGINT (§5.3); SIGHUP asks for a reload (§5.4) and never ends the process.
// With tls.enabled the whole listener speaks TLS (§3.2): each accepted socket gets the TLS
// context in force at that moment, which a reload replaces for later connections only.
//
// Accepting under fd exhaustion (EMFILE/ENFILE): the acceptor closes the connections waiting
// in the backlog (with one reserve descriptor it frees for the purpose), then pauses accepting
// for kAcceptBackoffInitial, doubling up to kAcceptBackoffMax while the condition lasts; it
// never spins, and established connections keep being served.
#pragma once

#include "config/config.hpp"
#include "config/loader.hpp"
#include "config/reload_plan.hpp"
#include "server/admin_checkpoints.hpp"
#include "server/admin_ops.hpp"
#include "server/admin_socket.hpp"
#include "server/dispatcher.hpp"
#include "server/fd_budget.hpp"
#include "server/io_loop.hpp"
#include "server/live_config.hpp"
#include "server/observability.hpp"
#include "server/rate_limited_warning.hpp"
#include "server/reload.hpp"
#include "server/sd_notify.hpp"
#include "server/server_counters.hpp"
#include "server/session.hpp"
#include "server/subscription_hub.hpp"
#include "server/tls_context.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace rstmdb::storage {
class Store;
}

namespace rstmdb::server {

// How the server was configured: the first generation of its configuration, and how a reload
// loads the next one.
struct StartupConfig {
  config::Config config;             // validated (config::load_config)
  config::LoadOptions load_options;  // loaded again by every reload: the same file, env and flags
  std::shared_ptr<TlsContext> tls;   // built at startup (runtime.md §5.1 step 2) when tls.enabled
};

// Exit codes of runtime.md §5.8 that the server itself produces.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitCannotBind = 69;

class Server final : public ConnectionRegistry {
 public:
  // `engine` serves the data operations, `store` (the engine's) makes hot-backup checkpoints
  // for the admin socket and has its block cache resized by reloads, and `notifier` tells the
  // service manager about readiness, status and shutdown (runtime.md §5.2); all must outlive
  // the server. `process_started` is when main() began, for the "ready in N ms" line.
  Server(StartupConfig startup, engine::Engine& engine, storage::Store& store,
         const ServiceNotifier& notifier,
         std::optional<std::chrono::microseconds> watchdog_interval = std::nullopt,
         std::chrono::steady_clock::time_point process_started = std::chrono::steady_clock::now());
  ~Server() override;

  // Binds, serves until a shutdown signal, drains and returns the process exit code.
  int run();

  void on_session_closed(std::uint64_t id, std::string_view reason) override;

  // Thread-safe. Storage failed (fail-stop, engine.hpp): stop reading, answer what was
  // received (writes get WAL_IO_ERROR from the engine), close, and make run() return 1.
  void stop_after_storage_failure();

  // The connection limit in force: network.max_connections, clamped by the fd budget.
  std::uint32_t effective_max_connections() const noexcept { return max_connections_.load(); }
  // Hot-backup checkpoints; last_backup() is the last successful online backup (the source of
  // rstmdb_backup_last_success_timestamp_seconds).
  const CheckpointRegistry& checkpoints() const noexcept { return checkpoints_; }

  // The ADMIN_STATUS result (admin_ops.hpp). Thread-safe.
  boost::json::object admin_status() const;

  // Subscriptions by type: active (gauge), events forwarded and lagged ends (counters), for the
  // metrics endpoint (runtime.md §4.2). Thread-safe.
  WatchCounters watch_counters() const noexcept { return hub_.metrics().snapshot(); }

  // The one entry point of a configuration reload (runtime.md §5.4: SIGHUP, `rstmdbd reload`
  // through ADMIN_RELOAD, `systemctl reload`): load the configuration again exactly as at
  // startup (file, referenced files, environment, flags), validate all of it and build the TLS
  // context, then swap every reloadable key at once — or change nothing and answer Rejected.
  // Bracketed with RELOADING=1 ... READY=1 (§5.2). Blocking (reads files, waits for the write
  // pipeline): never on an I/O thread; SIGHUP posts it to the blocking pool. Reloads are
  // serialized; each one becomes last_reload(). docs/tls.md lists how each key takes effect.
  ReloadResult reload(std::string_view trigger);
  std::optional<ReloadRecord> last_reload() const;

  // For the metrics endpoint (server_counters.hpp).
  const ServerCounters& counters() const noexcept { return counters_; }

  // Health, metrics and the request/access log of this server (runtime.md §4).
  Observability& observability() noexcept { return observability_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> signal_loop();
  boost::asio::awaitable<void> warning_flush_loop();
  void accept_connection(boost::asio::ip::tcp::socket socket);
  std::size_t shed_waiting_connections();
  std::size_t live_sessions();
  std::vector<std::shared_ptr<Session>> sessions_snapshot();
  ReloadResult reload_serialized(std::string_view trigger);
  ReloadResult reject_reload(std::vector<std::string> problems);
  // Swaps in what reload_serialized() validated; cannot fail.
  void apply_reload(const config::ReloadPlan& plan, std::shared_ptr<TlsContext> tls);
  // `cause` names what started it in the log ("received SIGTERM", "storage failure").
  void begin_shutdown(std::string_view cause);
  void finish_shutdown_if_idle();
  void force_close_all();
  SessionLimits session_limits(const config::Config& config) const;
  std::string service_status() const;            // "ready; 42 conns; offset 123456"
  std::string_view state_name() const noexcept;  // starting | ready | draining | failed

  // The hub's catch-up reads go to the engine's change log.
  class EngineChangeLog final : public ChangeLog {
   public:
    explicit EngineChangeLog(engine::Engine& engine) : engine_(engine) {}
    std::optional<protocol::Error> read(
        std::uint64_t from, std::uint64_t through,
        const std::function<bool(std::uint64_t, std::string_view)>& visit) const override;

   private:
    engine::Engine& engine_;
  };

  // The configuration in force: restart-only keys keep their startup values in every generation.
  LiveConfig live_;
  config::LoadOptions load_options_;
  engine::Engine& engine_;
  storage::Store& store_;
  EngineChangeLog change_log_;
  // Thread `rstmdb-watch`; its commit hook is set on the engine here, and it stops after the
  // engine (no commit is announced to a stopped hub).
  mutable SubscriptionHub hub_;
  Services services_;
  Dispatcher dispatcher_;
  // Scans and other reads that may block run here, never on the I/O threads.
  boost::asio::thread_pool blocking_pool_;
  std::chrono::steady_clock::time_point started_at_;
  // Health, metrics, request/access log and the HTTP endpoint (runtime.md §4).
  Observability observability_;

  unsigned io_threads_ = 1;
  boost::asio::io_context io_;
  IoLoop io_loop_;  // how the I/O threads run io_ (network.io_spin_us)
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer grace_timer_;
  boost::asio::steady_timer accept_backoff_timer_;  // on the acceptor's strand
  boost::asio::steady_timer warning_flush_timer_;
  // Kept open so that under EMFILE one descriptor can be freed to accept-and-close a waiting
  // connection; -1 while it is lent out. Touched only on the acceptor's strand.
  int reserve_fd_ = -1;
  ClientWarnings warnings_;
  FdBudget fd_budget_;
  std::atomic<std::uint32_t> max_connections_{0};
  // The TLS context new connections get; null when tls.enabled is false. Swapped by reloads.
  std::atomic<std::shared_ptr<TlsContext>> tls_;
  ServerCounters counters_;
  // Reload (runtime.md §5.4) brackets its work with notifier_.reloading("reloading
  // configuration") ... notifier_.ready(service_status()).
  const ServiceNotifier& notifier_;
  ServiceHeartbeat heartbeat_;

  mutable std::mutex sessions_mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
  std::atomic<std::uint64_t> next_session_id_{1};
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> storage_failed_{false};
  std::atomic<bool> ready_{false};

  // The admin socket (runtime.md §5.7); declared after io_ so that it goes first.
  CheckpointRegistry checkpoints_;
  AdminOps admin_ops_;
  AdminSocket admin_socket_;
  std::mutex reload_mutex_;  // one reload at a time
  std::atomic<bool> sighup_reload_queued_{false};
  mutable std::mutex last_reload_mutex_;
  std::optional<ReloadRecord> last_reload_;
};

// Parses "host:port", "[v6]:port" (runtime.md §1.3). Returns false if malformed.
bool split_host_port(std::string_view addr, std::string& host, std::string& port);

}  // namespace rstmdb::server
