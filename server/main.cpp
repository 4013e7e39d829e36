// rstmdbd: command-line entry point (runtime.md §2.1, §5.1).
#include "config/command_line.hpp"
#include "config/loader.hpp"
#include "engine/engine.hpp"
#include "server/admin_commands.hpp"
#include "server/backup_commands.hpp"
#include "server/logging.hpp"
#include "server/sd_notify.hpp"
#include "server/server.hpp"
#include "server/tls_context.hpp"
#include "storage/store.hpp"

#include <openssl/crypto.h>
#include <rocksdb/version.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

namespace {

using rstmdb::config::Config;

constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;
constexpr int kExitCorruptData = 65;
constexpr int kExitStorageIo = 74;

std::string version_line() {
  std::string openssl = OpenSSL_version(OPENSSL_VERSION);  // "OpenSSL 3.0.x  <date>"
  if (auto sp = openssl.find(' '); sp != std::string::npos) openssl = openssl.substr(sp + 1);
  if (auto sp = openssl.find(' '); sp != std::string::npos) openssl = openssl.substr(0, sp);
  return std::string("rstmdbd ") + RSTMDB_VERSION + " (rstmdb-cpp; protocol 1; rocksdb " +
         std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
         std::to_string(ROCKSDB_PATCH) + "; openssl " + openssl + ")";
}

// check-config: validation already passed; also verify the data directory could be used
// without taking its lock or opening the database (safe beside a live server).
int check_config(const rstmdb::config::LoadResult& loaded, bool print) {
  namespace fs = std::filesystem;
  const fs::path data_dir = loaded.config.storage.data_dir;
  std::error_code ec;
  fs::path probe = data_dir;
  while (!probe.empty() && !fs::exists(probe, ec))
    probe = probe.parent_path();
  if (probe.empty()) probe = ".";
  if (::access(probe.c_str(), W_OK) != 0) {
    std::cerr << "rstmdbd: config error: storage.data_dir (" << loaded.sources.at("storage.data_dir")
              << "): not writable: " << probe.string() << "\n";
    return kExitConfig;
  }
  if (print) std::cout << rstmdb::config::render_effective_yaml(loaded);
  std::cout << "configuration OK\n";
  return 0;
}

int open_failure_exit_code(rstmdb::storage::OpenFailure failure) {
  using rstmdb::storage::OpenFailure;
  switch (failure) {
    case OpenFailure::CannotCreate:
      return 73;
    case OpenFailure::PermissionDenied:
      return 77;
    case OpenFailure::Locked:
      return 75;
    case OpenFailure::Incompatible:
      return kExitCorruptData;
    case OpenFailure::Io:
      return kExitStorageIo;
  }
  return kExitStorageIo;
}

rstmdb::server::LogFormat log_format_of(const Config& config) {
  return config.logging.format == "json" ? rstmdb::server::LogFormat::Json : rstmdb::server::LogFormat::Text;
}

// storage.memtable; the loader accepts only these two spellings.
rstmdb::storage::MemtableKind memtable_of(const Config& config) {
  return config.storage.memtable == "skiplist" ? rstmdb::storage::MemtableKind::SkipList
                                               : rstmdb::storage::MemtableKind::Ordered;
}

int serve(const rstmdb::config::LoadResult& loaded, const rstmdb::config::LoadOptions& load_options,
          std::chrono::steady_clock::time_point process_started) {
  const Config& config = loaded.config;
  ::umask(0077);
  const char* journal_stream = std::getenv("JOURNAL_STREAM");
  rstmdb::server::init_logging(log_format_of(config), config.logging.level,
                               journal_stream != nullptr ? journal_stream : "");
  auto log = rstmdb::server::get_logger("server");
  log->info("rstmdbd {} starting (rstmdb-cpp, protocol 1, pid {})", RSTMDB_VERSION, ::getpid());
  for (const auto& warning : loaded.warnings)
    log->warn("{}", warning);
  log->info("config: file={} bind={} data_dir={} fsync_policy={}", config.config_file.value_or("(none)"),
            config.network.bind_addr, config.storage.data_dir, config.storage.fsync_policy.to_string());
  if (config.auth.required) {
    log->info("auth: required, {} token hash(es)", config.auth.token_hashes.size());
  } else {
    log->info("auth: disabled");
  }
  // The TLS context (runtime.md §5.1 step 2): the loader checked the material; this builds what
  // the listener serves with, and a failure here is a configuration error too.
  std::shared_ptr<rstmdb::server::TlsContext> tls;
  if (config.tls.enabled) {
    rstmdb::server::TlsProblem problem;
    tls = rstmdb::server::TlsContext::build(config.tls, problem);
    if (!tls) {
      const auto source = loaded.sources.find(problem.key);
      const std::string shown = source != loaded.sources.end() ? source->second : "tls";
      std::cerr << "rstmdbd: config error: " << problem.key << " (" << shown << "): " << problem.problem
                << "\n";
      log->error("tls: {} ({}): {}", problem.key, shown, problem.problem);
      return kExitConfig;
    }
    log->info("tls: enabled, {}", tls->describe());
  } else {
    log->info("tls: disabled");
  }
  if (::geteuid() == 0) log->warn("running as root; a dedicated service user is recommended");

  const auto notify_env = rstmdb::server::read_notify_environment();
  const rstmdb::server::ServiceNotifier notifier(notify_env.socket);
  for (const auto& warning : notify_env.warnings)
    log->warn("sd_notify: {}", warning);
  if (!notifier.problem().empty())
    log->warn("sd_notify: {}; not notifying the service manager", notifier.problem());
  if (notifier.enabled() && notify_env.watchdog_interval) {
    const auto period = rstmdb::server::ServiceHeartbeat::watchdog_period_for(*notify_env.watchdog_interval);
    log->info("watchdog: WATCHDOG=1 every {} us", period.count());
  }

  const auto open_started = std::chrono::steady_clock::now();
  notifier.status("starting: opening storage");
  std::optional<rstmdb::server::StartupTimeoutExtender> open_keepalive(std::in_place, notifier,
                                                                       "starting: opening storage");
  rstmdb::storage::StoreOptions store_options;
  store_options.data_dir = config.storage.data_dir;
  store_options.block_cache_mb = config.storage.block_cache_mb;
  store_options.max_open_files = config.storage.max_open_files;
  store_options.write_buffer_mb = config.storage.wal_segment_size_mb;
  store_options.memtable = memtable_of(config);
  store_options.log_sink = rstmdb::server::rocksdb_log_sink();
  auto opened = rstmdb::storage::Store::open(store_options);
  if (!opened.store) {
    open_keepalive.reset();
    notifier.status("failed: storage: " + opened.message);
    log->error("storage: {}", opened.message);
    return open_failure_exit_code(opened.failure);
  }
  rstmdb::engine::EngineOptions engine_options;
  engine_options.fsync_policy = config.storage.fsync_policy;
  engine_options.max_machine_versions = config.storage.max_machine_versions;
  engine_options.allow_instance_recreate = config.storage.allow_instance_recreate;
  engine_options.idempotency_ttl_secs = config.storage.idempotency_ttl_secs;
  engine_options.compaction = config.compaction;
  engine_options.instance_cache_bytes = config.storage.instance_cache_mb << 20;
  int rc = rstmdb::server::kExitOk;
  std::unique_ptr<rstmdb::engine::Engine> engine_holder;
  try {
    engine_holder = std::make_unique<rstmdb::engine::Engine>(*opened.store, engine_options);
  } catch (const rstmdb::storage::StorageError& e) {
    // Loading what is stored failed (runtime.md §5.8: 65 corrupt data, 74 storage I/O).
    const bool corrupt = e.kind() == rstmdb::storage::StorageError::Kind::Corruption;
    log->error("storage: cannot load {}: {}", config.storage.data_dir, e.what());
    spdlog::shutdown();
    std::_Exit(corrupt ? kExitCorruptData : kExitStorageIo);
  }
  {
    rstmdb::engine::Engine& engine = *engine_holder;
    open_keepalive.reset();
    const auto open_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - open_started)
            .count();
    log->info("storage: opened {} in {} ms; latest offset {}", config.storage.data_dir, open_ms,
              engine.latest_offset());
    log->info("storage: memtable {}", store_options.memtable == rstmdb::storage::MemtableKind::SkipList
                                          ? "skiplist (RocksDB's own)"
                                          : "ordered (ours)");
    notifier.status("starting: binding " + config.network.bind_addr);
    rstmdb::server::Server server(rstmdb::server::StartupConfig{config, load_options, tls}, engine,
                                  *opened.store, notifier, notify_env.watchdog_interval, process_started);
    rc = server.run();  // also shuts the engine down: queued writes complete and are synced
    const auto io = engine.io_stats();
    log->info("storage: {} log entries written in {} commits ({} syncs) since start", io.writes, io.commits,
              io.fsyncs);
  }
  engine_holder.reset();
  std::signal(SIGHUP, SIG_IGN);  // the server's handler is gone; a reload request must not kill the close
  // The final sync and flush. After a storage failure (or if this fails) RocksDB must not be
  // touched again (its file writers assert after an I/O error): the process ends here, as
  // after a crash, and RocksDB's recovery at the next start decides what is on disk.
  auto failure = opened.store->failure();
  if (!failure) failure = opened.store->flush_all();
  if (failure) {
    notifier.status(std::string("failed: storage: ") + failure->what());
    log->error("storage: {}; not closing the database; exiting with status {}", failure->what(),
               rstmdb::server::kExitRuntimeError);
    spdlog::shutdown();
    std::_Exit(rstmdb::server::kExitRuntimeError);
  }
  opened.store.reset();
  log->info("storage closed");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  const auto process_started = std::chrono::steady_clock::now();
  std::signal(SIGPIPE, SIG_IGN);
  // SIGHUP means "reload" (runtime.md §5.3), never "exit": ignored until the server's handler
  // takes it over, and again after the server is gone (asio restores the default action).
  std::signal(SIGHUP, SIG_IGN);
  const auto cli = rstmdb::config::parse_command_line(argc, argv);
  if (!cli.ok()) {
    std::cerr << "rstmdbd: " << cli.error << "\n\n" << rstmdb::config::usage_text();
    return kExitUsage;
  }
  if (cli.help) {
    std::cout << rstmdb::config::usage_text();
    return 0;
  }
  if (cli.version) {
    std::cout << version_line() << "\n";
    return 0;
  }

  using rstmdb::config::Subcommand;
  // verify-backup judges a backup by itself: no configuration is involved.
  if (cli.subcommand == Subcommand::VerifyBackup) return rstmdb::server::run_verify_backup_command(cli);

  rstmdb::config::LoadOptions options;
  options.config_path = cli.config_path;
  options.flags = cli.flags;
  options.env = rstmdb::config::current_environment();
  options.strict = cli.strict;
  const auto loaded = rstmdb::config::load_config(options);
  if (!loaded.ok()) {
    for (const auto& error : loaded.errors)
      std::cerr << error << "\n";
    return kExitConfig;
  }

  if (cli.subcommand != Subcommand::Serve) {
    for (const auto& warning : loaded.warnings)
      std::cerr << warning << "\n";
  }
  switch (cli.subcommand) {
    case Subcommand::CheckConfig:
      return check_config(loaded, cli.print);
    case Subcommand::Status:
      return rstmdb::server::run_status_command(loaded.config);
    case Subcommand::Reload:
      return rstmdb::server::run_reload_command(loaded.config);
    case Subcommand::Backup:
      return rstmdb::server::run_backup_command(loaded.config, cli);
    case Subcommand::Restore:
      return rstmdb::server::run_restore_command(loaded.config, cli);
    case Subcommand::VerifyBackup:
    case Subcommand::Serve:
      break;
  }
  try {
    return serve(loaded, options, process_started);
  } catch (const std::exception& e) {
    std::cerr << "rstmdbd: fatal: " << e.what() << "\n";
    return rstmdb::server::kExitRuntimeError;
  }
}
