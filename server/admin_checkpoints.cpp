#include "server/admin_checkpoints.hpp"

#include "storage/store.hpp"

#include <system_error>

namespace rstmdb::server {

namespace fs = std::filesystem;

namespace {

protocol::Error io_error(std::string message) {
  return protocol::Error{protocol::ErrorCode::WalIoError, std::move(message), {}};
}

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

fs::path checkpoints_dir(const storage::Store& store) {
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(fs::absolute(fs::path(store.data_dir()) / "checkpoints"), ec);
  if (ec) dir = fs::absolute(fs::path(store.data_dir()) / "checkpoints").lexically_normal();
  return dir;
}

}  // namespace

bool valid_checkpoint_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxCheckpointIdBytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

CheckpointRegistry::CheckpointRegistry(storage::Store& store, storage::RocksLogSink log_sink)
    : store_(store), log_sink_(std::move(log_sink)), dir_(checkpoints_dir(store)) {}

std::variant<CheckpointInfo, protocol::Error> CheckpointRegistry::create() {
  std::string id;
  {
    std::lock_guard lock(mutex_);
    if (open_.size() + reserved_ >= kMaxOpenCheckpoints) {
      return protocol::Error{protocol::ErrorCode::RateLimited,
                             "too many open checkpoints (" + std::to_string(kMaxOpenCheckpoints) +
                                 "); release one, or wait until abandoned ones are purged",
                             {}};
    }
    ++reserved_;
    id = "cp-" + std::to_string(unix_ms(std::chrono::system_clock::now())) + "-" +
         std::to_string(next_serial_++);
  }
  auto unreserve = [this] {
    std::lock_guard lock(mutex_);
    --reserved_;
  };
  if (auto failed = store_.failure()) {
    unreserve();
    return io_error(std::string("storage has failed; no checkpoint: ") + failed->what());
  }
  CheckpointInfo info;
  info.id = id;
  info.path = dir_ / id;
  {
    std::lock_guard serial(create_mutex_);
    if (auto e = store_.checkpoint(info.path.string())) {
      std::error_code ec;
      fs::remove_all(info.path, ec);
      unreserve();
      return io_error(std::string("cannot create a checkpoint: ") + e->what());
    }
  }
  info.created_at = std::chrono::system_clock::now();
  try {
    storage::SummaryOptions options;
    options.log_sink = log_sink_;
    info.summary = storage::read_db_summary(info.path.string(), options);
  } catch (const storage::StorageError& e) {
    std::error_code ec;
    fs::remove_all(info.path, ec);
    unreserve();
    return io_error(std::string("cannot read the checkpoint: ") + e.what());
  }
  std::lock_guard lock(mutex_);
  --reserved_;
  open_.emplace(id, Open{info, std::chrono::steady_clock::now()});
  return info;
}

std::optional<protocol::Error> CheckpointRegistry::release(std::string_view id, bool backup_completed) {
  if (!valid_checkpoint_id(id)) {
    return protocol::bad_request_field("invalid checkpoint id: expected 1.." +
                                           std::to_string(kMaxCheckpointIdBytes) + " letters, digits or '-'",
                                       "id");
  }
  CheckpointInfo info;
  {
    std::lock_guard lock(mutex_);
    auto it = open_.find(std::string(id));
    if (it == open_.end()) {
      return protocol::Error{protocol::ErrorCode::NotFound,
                             "no open checkpoint " + std::string(id) + " (released, purged or never created)",
                             {}};
    }
    info = it->second.info;
    open_.erase(it);
    if (backup_completed) {
      last_backup_ = BackupRecord{std::chrono::system_clock::now(), info.id, info.summary.latest_offset};
    }
  }
  std::error_code ec;
  fs::remove_all(info.path, ec);
  if (ec) return io_error("cannot remove checkpoint " + info.path.string() + ": " + ec.message());
  return std::nullopt;
}

std::vector<std::string> CheckpointRegistry::purge_older_than(std::chrono::steady_clock::duration age) {
  std::vector<CheckpointInfo> doomed;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    for (auto it = open_.begin(); it != open_.end();) {
      if (now - it->second.created >= age) {
        doomed.push_back(it->second.info);
        it = open_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::vector<std::string> ids;
  for (const auto& info : doomed) {
    std::error_code ec;
    fs::remove_all(info.path, ec);
    ids.push_back(info.id);
  }
  return ids;
}

std::size_t CheckpointRegistry::open_count() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}

std::optional<BackupRecord> CheckpointRegistry::last_backup() const {
  std::lock_guard lock(mutex_);
  return last_backup_;
}

}  // namespace rstmdb::server
