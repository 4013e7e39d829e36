#include "server/backup_commands.hpp"

#include "backup/backup_error.hpp"
#include "backup/backup_reader.hpp"
#include "backup/backup_writer.hpp"
#include "backup/incremental.hpp"
#include "backup/restore.hpp"
#include "server/admin_checkpoints.hpp"
#include "server/admin_client.hpp"
#include "server/logging.hpp"
#include "storage/store.hpp"

#include <rocksdb/version.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace rstmdb::server {

namespace fs = std::filesystem;
using backup::BackupError;

namespace {

constexpr int kExitUsage = 64;
constexpr int kExitInvalid = 65;
constexpr int kExitUnavailable = 69;
constexpr int kExitExists = 73;
constexpr int kExitIo = 74;
constexpr int kExitBusy = 75;
constexpr int kExitPermission = 77;

// Test seam (tests/e2e/test_backup_killed.py): after this many files are copied the tool stops
// itself with SIGSTOP, so a test can kill it at a known point of the copy. It changes nothing
// else; unset in production.
constexpr const char* kStopAfterFilesEnv = "RSTMDBD_TEST_STOP_AFTER_FILES";

int exit_code(BackupError::Kind kind) {
  switch (kind) {
    case BackupError::Kind::Invalid:
      return kExitInvalid;
    case BackupError::Kind::Io:
      return kExitIo;
    case BackupError::Kind::Busy:
      return kExitBusy;
    case BackupError::Kind::Unavailable:
      return kExitUnavailable;
    case BackupError::Kind::Exists:
      return kExitExists;
    case BackupError::Kind::Permission:
      return kExitPermission;
  }
  return kExitIo;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RocksDB's warnings and errors on stderr (the tools have no log of their own).
storage::RocksLogSink stderr_sink() {
  return [](storage::RocksLogLevel level, std::string_view line) {
    level = demote_expected_rocksdb_warning(level, line);
    if (level == storage::RocksLogLevel::Debug || level == storage::RocksLogLevel::Info) return;
    std::cerr << "rstmdbd: rocksdb: " << line << "\n";
  };
}

storage::StoreOptions store_options(const config::Config& config) {
  storage::StoreOptions o;
  o.data_dir = config.storage.data_dir;
  o.block_cache_mb = config.storage.block_cache_mb;
  o.max_open_files = config.storage.max_open_files;
  o.write_buffer_mb = config.storage.wal_segment_size_mb;
  o.log_sink = stderr_sink();
  return o;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

std::string rocksdb_version() {
  return std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
         std::to_string(ROCKSDB_PATCH);
}

fs::path canonical_or_absolute(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p), ec);
  return ec ? fs::absolute(p).lexically_normal() : c;
}

std::uint64_t u64(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr)
    throw BackupError(BackupError::Kind::Io, "the server's checkpoint reply has no " + std::string(key));
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  throw BackupError(BackupError::Kind::Io, "the server's checkpoint reply has a bad " + std::string(key));
}

std::string str(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    throw BackupError(BackupError::Kind::Io, "the server's checkpoint reply has no " + std::string(key));
  }
  return std::string(v->get_string());
}

// What the copy is for: a directory, a tar on stdout, or an incremental repository.
struct Target {
  std::string to;  // DIR or "-"
  bool incremental = false;
  std::optional<std::uint32_t> keep;
};

// Copies one checkpoint out. Returns the line to print.
std::string copy_out(const Target& target, backup::BackupPlan plan) {
  if (const char* stop = std::getenv(kStopAfterFilesEnv)) {
    const std::size_t after = std::strtoull(stop, nullptr, 10);
    plan.after_file = [after](std::size_t done) {
      if (done == after) std::raise(SIGSTOP);
    };
  }
  const auto bytes = [](const backup::Manifest& m) {
    std::uint64_t total = 0;
    for (const auto& f : m.files)
      total += f.size;
    return total;
  };
  if (target.to == "-") {
    const auto written = backup::write_tar_backup(STDOUT_FILENO, "standard output", std::move(plan));
    return "backup streamed to standard output: " + backup::backup_name(written.manifest) + " (offset " +
           std::to_string(written.manifest.summary.latest_offset) + ", " +
           std::to_string(written.manifest.summary.instances) + " instances, " +
           std::to_string(written.manifest.files.size()) + " files, " +
           std::to_string(bytes(written.manifest)) + " bytes)";
  }
  if (target.incremental) {
    const auto b = backup::write_incremental_backup(target.to, plan, target.keep);
    return "incremental backup " + std::to_string(b.id) + " written to " + target.to + " (offset " +
           std::to_string(b.metadata.summary.latest_offset) + ", " +
           std::to_string(b.metadata.summary.instances) + " instances, " + std::to_string(b.file_count) +
           " files)";
  }
  const auto written = backup::write_directory_backup(target.to, std::move(plan), target.keep);
  for (const auto& p : written.removed)
    std::cerr << "rstmdbd: backup: removed " << p.string() << ", left by an interrupted backup\n";
  for (const auto& p : written.pruned)
    std::cerr << "rstmdbd: backup: pruned " << p.string() << " (--keep " << *target.keep << ")\n";
  return "backup written: " + written.path.string() + " (offset " +
         std::to_string(written.manifest.summary.latest_offset) + ", " +
         std::to_string(written.manifest.summary.instances) + " instances, " +
         std::to_string(written.manifest.files.size()) + " files, " +
         std::to_string(bytes(written.manifest)) + " bytes)";
}

backup::BackupPlan base_plan(const config::Config& config, const config::CommandLine& cli, std::string mode) {
  backup::BackupPlan plan;
  plan.manifest.created_at = backup::iso8601_utc(now_ms());
  plan.manifest.source.mode = std::move(mode);
  plan.manifest.source.data_dir = canonical_or_absolute(config.storage.data_dir).string();
  plan.manifest.source.host = host_name();
  plan.manifest.label = cli.label;
  plan.manifest.server_version = RSTMDB_VERSION;
  plan.manifest.rocksdb_version = rocksdb_version();
  plan.log_sink = stderr_sink();
  return plan;
}

// The online path: the server makes the checkpoint, this process copies it.
std::string backup_online(const config::Config& config, const config::CommandLine& cli, const Target& target,
                          const std::string& lock_message, uid_t owner) {
  const std::string socket = config::admin_socket_path(config);
  std::string error;
  auto client = AdminClient::connect(socket, error);
  if (!client) {
    throw BackupError(BackupError::Kind::Unavailable,
                      lock_message + ", but its admin socket is unreachable: " + error);
  }
  // The socket must be the server's: a process running as the data directory's owner, or root.
  if (client->peer_uid() != owner && client->peer_uid() != 0) {
    throw BackupError(BackupError::Kind::Unavailable,
                      "the process behind " + socket + " runs as uid " + std::to_string(client->peer_uid()) +
                          ", not as the data directory's owner (uid " + std::to_string(owner) + ")");
  }
  auto reply = client->call("ADMIN_CHECKPOINT_CREATE", {}, error);
  if (!reply) throw BackupError(BackupError::Kind::Unavailable, error);
  if (!reply->ok) {
    const bool busy = reply->code == "RATE_LIMITED";
    throw BackupError(busy ? BackupError::Kind::Busy : BackupError::Kind::Io,
                      "the server could not make a checkpoint: " + reply->code + ": " + reply->message);
  }
  const boost::json::object& r = reply->result;
  const std::string id = str(r, "id");
  // The path must be <our data dir>/checkpoints/<id>: never copy from anywhere else.
  const fs::path expected_path =
      canonical_or_absolute(fs::path(config.storage.data_dir) / "checkpoints" / id);
  const fs::path path = canonical_or_absolute(str(r, "path"));
  if (!valid_checkpoint_id(id) || path != expected_path) {
    throw BackupError(BackupError::Kind::Io,
                      "the server's checkpoint " + path.string() + " is not under " +
                          (fs::path(config.storage.data_dir) / "checkpoints").string());
  }
  backup::BackupPlan plan = base_plan(config, cli, "online");
  plan.checkpoint_dir = path;
  plan.manifest.source.checkpoint = id;
  plan.manifest.server_version = str(r, "server_version");
  plan.expected = storage::DbSummary{u64(r, "latest_offset"), u64(r, "oldest_offset"), u64(r, "machines"),
                                     u64(r, "instances")};
  client.reset();  // idle connections are closed by the server; release on a new one

  auto release = [&](bool completed) {
    std::string release_error;
    auto again = AdminClient::connect(socket, release_error);
    std::optional<AdminReply> answer;
    boost::json::object params;
    params["id"] = id;
    params["backup_completed"] = completed;
    if (again) answer = again->call("ADMIN_CHECKPOINT_RELEASE", params, release_error);
    if (answer && !answer->ok) release_error = answer->code + ": " + answer->message;
    if (!answer || !answer->ok) {
      std::cerr << "rstmdbd: backup: could not release checkpoint " << id << " (" << release_error
                << "); the server purges it within " << kMaxCheckpointAge.count() << " h\n";
    }
  };
  std::string line;
  try {
    line = copy_out(target, std::move(plan));
  } catch (...) {
    release(false);
    throw;
  }
  release(true);
  return line;
}

// The offline path: this process holds the lock and checkpoints the store itself.
std::string backup_offline(const config::Config& config, const config::CommandLine& cli,
                           const Target& target) {
  storage::OpenResult opened = storage::Store::open(store_options(config));
  if (!opened.store) {
    if (opened.failure == storage::OpenFailure::Locked) return "";  // a server started meanwhile
    const bool permission = opened.failure == storage::OpenFailure::PermissionDenied;
    throw BackupError(permission ? BackupError::Kind::Permission : BackupError::Kind::Io, opened.message);
  }
  const std::string id = "offline-" + std::to_string(now_ms());
  const fs::path cp = fs::path(config.storage.data_dir) / "checkpoints" / id;
  if (auto e = opened.store->checkpoint(cp.string())) {
    throw BackupError(BackupError::Kind::Io, std::string("cannot make a checkpoint: ") + e->what());
  }
  backup::BackupPlan plan = base_plan(config, cli, "offline");
  plan.checkpoint_dir = cp;
  plan.manifest.source.checkpoint = id;
  std::string line;
  try {
    line = copy_out(target, std::move(plan));
  } catch (...) {
    std::error_code ec;
    fs::remove_all(cp, ec);
    throw;
  }
  std::error_code ec;
  fs::remove_all(cp, ec);
  return line;
}

int report(std::string_view command, const BackupError& e, int code) {
  std::cerr << "rstmdbd: " << command << ": " << e.what() << "\n";
  return code;
}

}  // namespace

int run_backup_command(const config::Config& config, const config::CommandLine& cli) {
  ::umask(0077);
  Target target{*cli.backup_to, cli.incremental, cli.keep};
  if (cli.label) {
    if (auto problem = backup::label_problem(*cli.label); !problem.empty()) {
      std::cerr << "rstmdbd: backup: --label " << problem << "\n";
      return kExitUsage;
    }
  }
  if (target.to == "-" && (target.incremental || target.keep)) {
    std::cerr << "rstmdbd: backup: --to - streams one backup; it cannot be combined with "
              << (target.incremental ? "--incremental" : "--keep") << "\n";
    return kExitUsage;
  }
  if (target.to.empty()) {
    std::cerr << "rstmdbd: backup: --to needs a directory or -\n";
    return kExitUsage;
  }
  const std::string& data_dir = config.storage.data_dir;
  struct stat st {};
  if (::stat((fs::path(data_dir) / "FORMAT").c_str(), &st) != 0 || ::stat(data_dir.c_str(), &st) != 0) {
    std::cerr << "rstmdbd: backup: " << data_dir << " is not an rstmdbd data directory (no FORMAT file)\n";
    return kExitIo;
  }
  const uid_t owner = st.st_uid;
  try {
    for (int attempt = 0; attempt < 2; ++attempt) {
      storage::LockResult probe = storage::DataDirLock::acquire(data_dir);
      std::string line;
      if (probe.lock) {
        probe.lock.reset();
        if (::geteuid() != owner) {
          std::cerr
              << "rstmdbd: backup: no server is running on " << data_dir
              << "; an offline backup opens the database, which writes files into it, so it must run as the "
                 "directory's owner (uid "
              << owner << ")\n";
          return kExitPermission;
        }
        line = backup_offline(config, cli, target);
        if (line.empty()) continue;  // a server took the lock meanwhile: go online
      } else if (probe.failure == storage::OpenFailure::Locked) {
        line = backup_online(config, cli, target, probe.message, owner);
      } else {
        std::cerr << "rstmdbd: backup: " << probe.message << "\n";
        return probe.failure == storage::OpenFailure::PermissionDenied ? kExitPermission : kExitIo;
      }
      (target.to == "-" ? std::cerr : std::cout) << line << "\n";
      return 0;
    }
    std::cerr << "rstmdbd: backup: the data directory's lock changed hands twice; try again\n";
    return kExitBusy;
  } catch (const BackupError& e) {
    // A copy that does not match is an I/O failure of the backup (runtime.md §7.1: 74).
    return report("backup", e, e.kind() == BackupError::Kind::Invalid ? kExitIo : exit_code(e.kind()));
  }
}

int run_verify_backup_command(const config::CommandLine& cli) {
  const std::string& path = cli.positional.at(0);
  try {
    const auto report = backup::verify_backup(path, cli.quick, fs::temp_directory_path(), stderr_sink());
    const char* depth = cli.quick ? "files" : "files and database";
    for (std::size_t i = 0; i < report.backups.size(); ++i) {
      const auto& m = report.backups[i];
      std::cout << path;
      if (!report.ids.empty()) std::cout << " backup " << report.ids[i];
      std::cout << ": valid (" << depth << "): offset " << m.summary.latest_offset << ", "
                << m.summary.machines << " machine versions, " << m.summary.instances
                << " instances, created " << m.created_at;
      if (m.label) std::cout << ", label " << *m.label;
      std::cout << "\n";
    }
    return 0;
  } catch (const BackupError& e) {
    std::cerr << "rstmdbd: verify-backup: " << path << " is not valid: " << e.what() << "\n";
    return kExitInvalid;
  }
}

int run_restore_command(const config::Config& config, const config::CommandLine& cli) {
  ::umask(0077);
  backup::RestoreRequest request;
  request.data_dir = config.storage.data_dir;
  request.from = *cli.restore_from;
  request.input_fd = STDIN_FILENO;
  request.force = cli.force;
  request.store_options = store_options(config);
  request.log_sink = stderr_sink();
  if (cli.chown) {
    auto owner = backup::parse_owner(*cli.chown);
    if (auto* problem = std::get_if<std::string>(&owner)) {
      std::cerr << "rstmdbd: restore: " << *problem << "\n";
      return kExitUsage;
    }
    request.owner = std::get<backup::Owner>(owner);
  }
  try {
    const auto r = backup::restore_backup(request);
    if (r.removed_leftover) {
      std::cerr << "rstmdbd: restore: removed " << r.removed_leftover->string()
                << ", left by an interrupted restore\n";
    }
    std::cout << "restored " << backup::backup_name(r.manifest) << " (offset "
              << r.manifest.summary.latest_offset << ", " << r.manifest.summary.instances
              << " instances) into " << r.data_dir.string();
    if (r.previous) std::cout << "; previous contents in " << r.previous->string();
    std::cout << "\n";
    std::cerr << "rstmdbd: restore: history now ends at offset " << r.manifest.summary.latest_offset
              << "; subscribers resuming from a later offset must start over\n";
    return 0;
  } catch (const BackupError& e) {
    return report("restore", e, exit_code(e.kind()));
  }
}

}  // namespace rstmdb::server
