#include "backup/restore.hpp"

#include "backup/backup_reader.hpp"
#include "backup/durable_io.hpp"
#include "backup/incremental.hpp"
#include "storage/db_summary.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <vector>

namespace rstmdb::backup {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kStagingSuffix = ".restore-tmp";
constexpr std::string_view kPreviousSuffix = ".pre-restore-";
constexpr std::string_view kLockFileName = "rstmdbd.lock";
constexpr std::string_view kSocketFileName = "admin.sock";
// getpwnam_r/getgrnam_r buffer: more than any real passwd/group entry needs.
constexpr std::size_t kNameLookupBuffer = 16 * 1024;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::uint32_t> parse_id(std::string_view s) {
  std::uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// Entries a data directory may hold and still count as empty: our lock, what mkfs leaves, and
// the socket a crashed server left behind.
bool ignorable_entry(const std::string& name) {
  return name == kLockFileName || name == "lost+found" || name == kSocketFileName;
}

bool has_contents(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!ignorable_entry(it->path().filename().string())) return true;
  }
  if (ec) throw_errno(ec.value(), "cannot list " + dir.string());
  return false;
}

std::uint64_t mount_id(const fs::path& p) {
  struct statx stx {};
  if (::statx(AT_FDCWD, p.c_str(), 0, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID)) {
    return stx.stx_mnt_id;
  }
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) throw_errno(errno, "cannot stat " + p.string());
  return static_cast<std::uint64_t>(st.st_dev);
}

// The target can be replaced by renaming: not a mount point, and its parent writable.
bool renameable(const fs::path& target) {
  const fs::path parent = target.parent_path();
  if (parent.empty() || target == target.root_path()) return false;
  if (::access(parent.c_str(), W_OK) != 0) return false;
  std::error_code ec;
  if (!fs::exists(target, ec)) return true;
  return mount_id(target) == mount_id(parent);
}

void chown_tree(const fs::path& root, const Owner& owner) {
  auto one = [&](const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) throw_errno(errno, "cannot stat " + p.string());
    if (st.st_uid == owner.uid && st.st_gid == owner.gid) return;
    if (::lchown(p.c_str(), owner.uid, owner.gid) != 0) {
      throw_errno(errno, "cannot change the owner of " + p.string() + " to " + std::to_string(owner.uid) +
                             ":" + std::to_string(owner.gid));
    }
  };
  one(root);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    one(it->path());
  if (ec) throw_errno(ec.value(), "cannot list " + root.string());
}

BackupError storage_failure(const std::string& what, storage::OpenFailure failure,
                            const std::string& message) {
  using F = storage::OpenFailure;
  switch (failure) {
    case F::Locked:
      return BackupError(BackupError::Kind::Busy, message);
    case F::PermissionDenied:
      return BackupError(BackupError::Kind::Permission, what + ": " + message);
    case F::Incompatible:
      return BackupError(BackupError::Kind::Invalid, what + ": " + message);
    case F::CannotCreate:
    case F::Io:
      break;
  }
  return BackupError(BackupError::Kind::Io, what + ": " + message);
}

// Fills `staging` (must not exist) with the backup's FORMAT and db/, each file checked.
Manifest stage_backup(const RestoreRequest& r, const fs::path& staging) {
  switch (classify_backup(r.from)) {
    case BackupKind::Directory: {
      const Manifest m = check_backup_directory(r.from, false);
      copy_backup_files(r.from, m, staging);
      return m;
    }
    case BackupKind::Tar: {
      int fd = r.input_fd;
      if (r.from != "-") {
        fd = ::open(r.from.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw_errno(errno, "cannot open " + r.from);
      }
      struct Closer {
        int fd;
        bool own;
        ~Closer() {
          if (own) ::close(fd);
        }
      } closer{fd, r.from != "-"};
      return read_backup_tar(fd, r.from == "-" ? "standard input" : r.from, staging);
    }
    case BackupKind::Repository: {
      make_directory(staging);
      const IncrementalBackup b = restore_latest_incremental(r.from, staging / kDbDirName, r.log_sink);
      write_file_durably(staging / kFormatFileName, std::string(storage::kDataFormat) + "\n");
      fsync_directory(staging);
      return b.metadata;
    }
  }
  throw BackupError(BackupError::Kind::Invalid, r.from + ": unknown kind of backup");
}

// Step 4: open as the server does, let RocksDB replay and flush, close, compare again.
void open_once(const RestoreRequest& r, const fs::path& staging, const Manifest& m) {
  storage::StoreOptions options = r.store_options;
  options.data_dir = staging.string();
  options.log_sink = r.log_sink;
  {
    storage::OpenResult opened = storage::Store::open(options);
    if (!opened.store) throw storage_failure("cannot open the restored data", opened.failure, opened.message);
    if (auto e = opened.store->flush_all()) {
      throw BackupError(BackupError::Kind::Io, std::string("cannot flush the restored data: ") + e->what());
    }
  }
  storage::SummaryOptions summary_options;
  summary_options.log_sink = r.log_sink;
  storage::DbSummary after;
  try {
    after = storage::read_db_summary((staging / kDbDirName).string(), summary_options);
  } catch (const storage::StorageError& e) {
    throw BackupError(BackupError::Kind::Invalid, std::string("the restored data: ") + e.what());
  }
  if (after != m.summary) {
    throw BackupError(BackupError::Kind::Invalid,
                      "the restored data holds offset " + std::to_string(after.latest_offset) +
                          " after opening, the manifest says " + std::to_string(m.summary.latest_offset));
  }
}

void move_entries(const fs::path& from, const fs::path& to, const std::vector<std::string>& skip,
                  std::string_view last = {}) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    if (name.starts_with(".pre-restore-")) continue;
    if (name != last) names.push_back(name);
  }
  if (ec) throw_errno(ec.value(), "cannot list " + from.string());
  if (!last.empty() && fs::exists(from / last)) names.emplace_back(last);
  for (const auto& name : names)
    rename_no_replace(from / name, to / name);
}

}  // namespace

std::variant<Owner, std::string> parse_owner(std::string_view spec) {
  const auto colon = spec.find(':');
  const std::string user(spec.substr(0, colon));
  const std::optional<std::string> group =
      colon == std::string_view::npos ? std::nullopt : std::optional<std::string>(spec.substr(colon + 1));
  if (user.empty()) return std::string("--chown needs a user");
  if (group && group->empty()) return std::string("--chown needs a group after ':'");
  Owner owner;
  std::vector<char> buf(kNameLookupBuffer);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (auto id = parse_id(user)) {
    owner.uid = *id;
    if (::getpwuid_r(*id, &pw, buf.data(), buf.size(), &found) == 0 && found)
      owner.gid = found->pw_gid;
    else if (!group)
      return "--chown: user id " + user + " has no passwd entry; give the group too (U:G)";
  } else {
    if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return "--chown: no such user: " + user;
    }
    owner.uid = found->pw_uid;
    owner.gid = found->pw_gid;
  }
  if (group) {
    if (auto id = parse_id(*group)) {
      owner.gid = *id;
    } else {
      struct group gr {};
      struct group* g = nullptr;
      if (::getgrnam_r(group->c_str(), &gr, buf.data(), buf.size(), &g) != 0 || g == nullptr) {
        return "--chown: no such group: " + *group;
      }
      owner.gid = g->gr_gid;
    }
  }
  return owner;
}

RestoreResult restore_backup(const RestoreRequest& r) {
  RestoreResult result;
  fs::path target = fs::absolute(r.data_dir).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();
  result.data_dir = target;
  std::error_code ec;
  const bool exists = fs::exists(target, ec);
  if (exists && !fs::is_directory(target, ec)) {
    throw BackupError(BackupError::Kind::Exists, target.string() + " exists and is not a directory");
  }

  // 1. The lock. With no target yet there is nothing to lock; a server that creates it meanwhile
  // makes the final rename fail.
  std::optional<storage::DataDirLock> old_lock;
  if (exists) {
    storage::LockResult locked = storage::DataDirLock::acquire(target.string());
    if (!locked.lock) throw storage_failure("cannot lock " + target.string(), locked.failure, locked.message);
    old_lock = std::move(locked.lock);
  }
  // 2. --force.
  const bool occupied = exists && has_contents(target);
  if (occupied && !r.force) {
    throw BackupError(BackupError::Kind::Exists, "data directory " + target.string() +
                                                     " is not empty; --force moves its contents aside");
  }
  result.in_place = exists && !renameable(target);
  const fs::path staging =
      result.in_place ? target / ".restore-tmp" : fs::path(target.string() + std::string(kStagingSuffix));
  if (fs::exists(staging, ec)) {
    remove_tree(staging);
    result.removed_leftover = staging;
  }
  if (!exists) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) throw_errno(ec.value(), "cannot create " + target.parent_path().string());
  }

  // 3-4. Stage, check, open once.
  try {
    result.manifest = stage_backup(r, staging);
    check_backup_database(staging / kDbDirName, result.manifest, r.log_sink);
    open_once(r, staging, result.manifest);
    // 5. Ownership.
    std::optional<Owner> owner = r.owner;
    if (!owner && exists) {
      struct stat st {};
      if (::stat(target.c_str(), &st) != 0) throw_errno(errno, "cannot stat " + target.string());
      owner = Owner{st.st_uid, st.st_gid};
    }
    if (owner) {
      chown_tree(staging, *owner);
      // In place, the data directory itself (a mount point) and its lock file stay: they take
      // the owner only when one is named.
      if (result.in_place && r.owner) {
        for (const fs::path& p : {target, target / kLockFileName}) {
          if (::lchown(p.c_str(), owner->uid, owner->gid) != 0) {
            throw_errno(errno, "cannot change the owner of " + p.string());
          }
        }
      }
    }
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }

  // 6. Swap.
  const std::string stamp = compact_utc(now_ms());
  if (!result.in_place) {
    // Held while the staging directory becomes the data directory: no server starts on it
    // before this process exits.
    storage::LockResult new_lock = storage::DataDirLock::acquire(staging.string());
    if (!new_lock.lock)
      throw storage_failure("cannot lock " + staging.string(), new_lock.failure, new_lock.message);
    if (exists) {
      if (occupied) {
        const fs::path previous = target.string() + std::string(kPreviousSuffix) + stamp;
        rename_no_replace(target, previous);
        result.previous = previous;
      } else {
        for (const char* name : {"rstmdbd.lock", "admin.sock"}) {
          fs::remove(target / name, ec);
        }
        if (::rmdir(target.c_str()) != 0) throw_errno(errno, "cannot remove the empty " + target.string());
      }
    }
    try {
      rename_no_replace(staging, target);
    } catch (const BackupError& e) {
      if (result.previous) ::rename(result.previous->c_str(), target.c_str());
      throw BackupError(e.kind() == BackupError::Kind::Io ? BackupError::Kind::Busy : e.kind(),
                        std::string(e.what()) + " (did a server start on it meanwhile?)");
    }
    fsync_directory(target.parent_path());
    return result;
  }

  // In place: the old lock file stays where it is (held by this process) and serves the
  // restored directory.
  const std::vector<std::string> keep = {std::string(kLockFileName), "lost+found", ".restore-tmp"};
  if (occupied) {
    const fs::path previous = target / (std::string(kPreviousSuffix) + stamp);
    make_directory(previous);
    move_entries(target, previous, keep);
    fsync_directory(previous);
    fsync_directory(target);
    result.previous = previous;
  }
  move_entries(staging, target, {std::string(kLockFileName)}, kFormatFileName);
  fs::remove(staging / kLockFileName, ec);
  if (::rmdir(staging.c_str()) != 0) throw_errno(errno, "cannot remove " + staging.string());
  fsync_directory(target);
  return result;
}

}  // namespace rstmdb::backup
