#include "fault_fs.hpp"

#include "fault_fs_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/env.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

namespace rstmdb::test {

namespace fs = std::filesystem;
using rocksdb::IOStatus;

namespace {

std::string normalize(const std::string& path) {
  std::string p = fs::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  return p;
}

std::string parent_of(const std::string& path) {
  return fs::path(path).parent_path().string();
}

std::string name_of(const std::string& path) {
  return fs::path(path).filename().string();
}

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// Copies the first `length` bytes of `from` into the new file `to`.
std::string copy_prefix(const std::string& from, std::uint64_t length, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return "open " + from + ": " + errno_text(errno);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    return "create " + to + ": " + errno_text(err);
  }
  std::string error;
  std::vector<char> buffer(1 << 16);
  std::uint64_t done = 0;
  while (done < length && error.empty()) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length - done));
    const ssize_t n = ::pread(in, buffer.data(), want, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "read " + from + ": " + errno_text(errno);
    } else if (n == 0) {
      error = from + " is shorter (" + std::to_string(done) + " bytes) than its synced length " +
              std::to_string(length);
    } else {
      for (ssize_t written = 0; written < n && error.empty();) {
        const ssize_t w = ::write(out, buffer.data() + written, static_cast<std::size_t>(n - written));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) error = "write " + to + ": " + errno_text(errno);
        if (w > 0) written += w;
      }
      done += static_cast<std::uint64_t>(n);
    }
  }
  ::close(in);
  ::close(out);
  return error;
}

}  // namespace

// --- FaultFs ------------------------------------------------------------------------------------

FaultFs::FaultFs(std::string root, std::string shadow_dir, std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(std::move(base)), root_(normalize(root)), shadow_dir_(normalize(shadow_dir)) {
  fs::create_directories(shadow_dir_);
  const char* trace = std::getenv("RSTMDB_FAULTFS_TRACE");
  trace_ = trace != nullptr && *trace != '\0' && std::string_view(trace) != "0";
  std::lock_guard lock(mutex_);
  root_node_ = new_node(true);
  live_[root_] = root_node_;
  std::error_code ec;
  if (fs::is_directory(root_, ec)) adopt_existing(root_, root_node_);
}

FaultFs::~FaultFs() {
  std::error_code ec;
  fs::remove_all(shadow_dir_, ec);
}

bool FaultFs::tracked(const std::string& path) const {
  return path == root_ || (path.size() > root_.size() && path.compare(0, root_.size(), root_) == 0 &&
                           path[root_.size()] == '/');
}

FaultFs::NodePtr FaultFs::live_node(const std::string& path) const {
  auto it = live_.find(path);
  return it == live_.end() ? nullptr : it->second;
}

FaultFs::NodePtr FaultFs::new_node(bool is_dir) {
  auto node = std::make_shared<Node>();
  node->id = next_id_++;
  node->is_dir = is_dir;
  return node;
}

void FaultFs::trace(const std::string& what) const {
  if (trace_)
    std::fprintf(stderr, "faultfs[%llu]: %s\n", static_cast<unsigned long long>(ops_.load()), what.c_str());
}

FaultFs::NodePtr FaultFs::new_file(const std::string& path) {
  NodePtr node = new_node(false);
  node->kind = kind_of(name_of(path));
  node->job = current_job();
  return node;
}

void FaultFs::model_error(const std::string& what) {
  if (!errors_.empty()) errors_ += "; ";
  errors_ += what;
}

std::string FaultFs::model_errors() const {
  std::lock_guard lock(mutex_);
  return errors_;
}

std::optional<CutReport> FaultFs::last_cut() const {
  std::lock_guard lock(mutex_);
  return last_cut_;
}

void FaultFs::adopt_existing(const std::string& dir_path, const NodePtr& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir_path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string path = normalize(it->path().string());
    const std::string name = name_of(path);
    NodePtr child;
    if (it->is_directory(ec)) {
      child = new_node(true);
      adopt_existing(path, child);
    } else if (it->is_regular_file(ec)) {
      child = new_file(path);
      child->size = it->file_size(ec);
      child->synced = child->size.load();
      child->live_names.insert(path);
    } else {
      model_error("cannot adopt " + path + ": not a file or directory");
      continue;
    }
    dir->live_entries[name] = child;
    dir->durable_entries[name] = child;
    child->durable_refs = 1;
    live_[path] = child;
  }
  if (ec) model_error("cannot list " + dir_path + ": " + ec.message());
}

bool FaultFs::link_live(const std::string& path, const NodePtr& node) {
  NodePtr parent = live_node(parent_of(path));
  if (!parent || !parent->is_dir) {
    model_error("untracked parent directory of " + path);
    return false;
  }
  parent->live_entries[name_of(path)] = node;
  if (!node->is_dir) node->live_names.insert(path);
  live_[path] = node;
  return true;
}

void FaultFs::unlink_live(const std::string& path) {
  NodePtr node = live_node(path);
  if (!node) return;
  live_.erase(path);
  if (NodePtr parent = live_node(parent_of(path))) {
    auto it = parent->live_entries.find(name_of(path));
    if (it != parent->live_entries.end() && it->second == node) parent->live_entries.erase(it);
  }
  node->live_names.erase(path);
}

bool FaultFs::keep_aside(const NodePtr& node, const std::string& path, bool move) {
  if (!node->shadow_path.empty()) {
    // Already kept: the shadow link is the same inode. A move just drops the live name.
    if (!move) return true;
    auto s = target_->DeleteFile(path, rocksdb::IOOptions(), nullptr);
    if (!s.ok()) model_error("cannot unlink " + path + ": " + s.ToString());
    return s.ok();
  }
  const std::string shadow = shadow_dir_ + "/" + std::to_string(node->id);
  const int rc = move ? ::rename(path.c_str(), shadow.c_str()) : ::link(path.c_str(), shadow.c_str());
  if (rc != 0) {
    model_error("cannot keep " + path + " aside: " + errno_text(errno));
    return false;
  }
  node->shadow_path = shadow;
  return true;
}

void FaultFs::collect(const NodePtr& node) {
  if (node->is_dir || !node->live_names.empty() || node->durable_refs > 0 || node->shadow_path.empty())
    return;
  ::unlink(node->shadow_path.c_str());
  node->shadow_path.clear();
}

void FaultFs::commit_dir(const NodePtr& dir) {
  std::vector<NodePtr> released;
  for (auto& [name, child] : dir->durable_entries) {
    --child->durable_refs;
    released.push_back(child);
  }
  dir->durable_entries = dir->live_entries;
  for (auto& [name, child] : dir->durable_entries)
    ++child->durable_refs;
  for (auto& node : released)
    collect(node);
}

void FaultFs::count_op(bool locked, const char* op, const std::string& path) {
  const std::uint64_t n = ops_.fetch_add(1) + 1;
  std::uint64_t at = cut_at_op_.load();
  if (at == 0 || n != at) return;
  std::unique_lock lock(mutex_, std::defer_lock);
  if (!locked) lock.lock();
  if (!cut_at_op_.compare_exchange_strong(at, 0)) return;
  last_cut_ = capture(armed_image_);
  last_cut_->during = std::string(op) + " " + name_of(path);
}

void FaultFs::cut_power_at_op(std::uint64_t n, std::string image_dir) {
  std::lock_guard lock(mutex_);
  armed_image_ = std::move(image_dir);
  cut_at_op_.store(ops_.load() + std::max<std::uint64_t>(n, 1));
}

CutReport FaultFs::cut_power(const std::string& image_dir) {
  std::lock_guard lock(mutex_);
  cut_at_op_.store(0);
  last_cut_ = capture(image_dir);
  return *last_cut_;
}

CutReport FaultFs::capture(const std::string& image_dir, bool live) {
  // Everything recorded as durable so far is in this image; nothing recorded later is.
  if (!live) power_cut_.store(true);
  CutReport report;
  std::vector<std::pair<NodePtr, std::string>> pending{{root_node_, image_dir}};
  while (!pending.empty() && report.error.empty()) {
    auto [dir, path] = pending.back();
    pending.pop_back();
    if (::mkdir(path.c_str(), 0755) != 0) {
      report.error = "mkdir " + path + ": " + errno_text(errno);
      break;
    }
    ++report.dirs;
    for (const auto& [name, child] : live ? dir->live_entries : dir->durable_entries) {
      const std::string child_path = path + "/" + name;
      if (child->is_dir) {
        pending.emplace_back(child, child_path);
        continue;
      }
      const std::uint64_t length = live ? child->size.load() : child->synced;
      report.error = copy_prefix(child->content_path(), length, child_path);
      if (!report.error.empty()) break;
      ++report.files;
      report.bytes += length;
      report.bytes_dropped += child->size.load() - length;
    }
  }
  // What the image differs in from the live tree, for the test's report.
  for (const auto& [path, node] : live_) {
    if (!node->is_dir || live) continue;
    for (const auto& [name, child] : node->live_entries) {
      auto it = node->durable_entries.find(name);
      if (it == node->durable_entries.end() || it->second != child) ++report.entries_not_durable;
    }
    for (const auto& [name, child] : node->durable_entries) {
      auto it = node->live_entries.find(name);
      if (it == node->live_entries.end() || it->second != child) ++report.entries_resurrected;
    }
  }
  return report;
}

CutReport FaultFs::snapshot_live(const std::string& image_dir) {
  std::lock_guard lock(mutex_);
  return capture(image_dir, true);
}

// --- fault injection ----------------------------------------------------------------------------

void FaultFs::inject(const FaultRule& rule) {
  injector_.arm(rule);
}

void FaultFs::clear_faults() {
  injector_.clear();
}

std::uint64_t FaultFs::faults_injected() const {
  return injector_.injected();
}

std::string FaultFs::first_fault() const {
  return injector_.first();
}

std::optional<IOStatus> FaultFs::fault_for(const Node& node, FileOp op, const std::string& path) {
  auto fault = injector_.check(node.kind, node.job, op, name_of(path));
  if (fault) trace(fault->ToString());
  return fault;
}

void FaultFs::appended(Node& node, std::uint64_t end_offset) {
  // One thread appends to a file at a time (FSWritableFile's contract).
  if (end_offset > node.size.load()) node.size.store(end_offset);
}

void FaultFs::synced(Node& node, std::uint64_t size_before) {
  std::lock_guard lock(mutex_);
  trace("synced #" + std::to_string(node.id) + " " +
        (node.live_names.empty() ? "" : *node.live_names.begin()) + " to " + std::to_string(size_before));
  node.synced = std::max(node.synced, size_before);
}

void FaultFs::truncated(Node& node, std::uint64_t size) {
  std::lock_guard lock(mutex_);
  node.size.store(size);
  node.synced = std::min(node.synced, size);
}

// --- FileSystem overrides -----------------------------------------------------------------------

IOStatus FaultFs::NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                  std::unique_ptr<rocksdb::FSWritableFile>* result,
                                  rocksdb::IODebugContext* dbg) {
  const std::string path = normalize(fname);
  if (!tracked(path)) return target_->NewWritableFile(fname, options, result, dbg);
  std::lock_guard lock(mutex_);
  count_op(true, "create", path);
  trace("create " + path);
  NodePtr node = new_file(path);
  if (auto fault = fault_for(*node, FileOp::Create, path)) return *fault;
  if (NodePtr old = live_node(path)) {
    // O_TRUNC would truncate the old file in place; model it as a new file replacing the
    // entry, and keep the old one's bytes while a durable entry names them.
    const bool keep = old->durable_refs > 0 && old->live_names.size() == 1;
    if (keep) {
      if (!keep_aside(old, path, true)) return IOStatus::IOError("FaultFs: cannot keep " + path + " aside");
    } else {
      auto s = target_->DeleteFile(path, rocksdb::IOOptions(), dbg);
      if (!s.ok()) return s;
    }
    unlink_live(path);
    collect(old);
  }
  std::unique_ptr<rocksdb::FSWritableFile> file;
  auto s = target_->NewWritableFile(fname, options, &file, dbg);
  if (!s.ok()) return s;
  link_live(path, node);
  *result = std::make_unique<TrackedWritableFile>(std::move(file), *this, node, path);
  return s;
}

IOStatus FaultFs::ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                     std::unique_ptr<rocksdb::FSWritableFile>* result,
                                     rocksdb::IODebugContext* dbg) {
  const std::string path = normalize(fname);
  if (!tracked(path)) return target_->ReopenWritableFile(fname, options, result, dbg);
  std::lock_guard lock(mutex_);
  count_op(true, "reopen", path);
  trace("reopen " + path);
  NodePtr node = live_node(path);
  const bool created = !node;
  if (created) node = new_file(path);
  if (auto fault = fault_for(*node, FileOp::Create, path)) return *fault;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  auto s = target_->ReopenWritableFile(fname, options, &file, dbg);
  if (!s.ok()) return s;
  if (created) link_live(path, node);
  std::uint64_t size = 0;
  if (target_->GetFileSize(fname, rocksdb::IOOptions(), &size, dbg).ok()) node->size.store(size);
  *result = std::make_unique<TrackedWritableFile>(std::move(file), *this, node, path);
  return s;
}

IOStatus FaultFs::ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                    const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) {
  // Reuse overwrites a file from its start: not append-only, so not modelled.
  if (tracked(normalize(fname)) || tracked(normalize(old_fname)))
    return IOStatus::NotSupported("FaultFs does not model recycled files");
  return target_->ReuseWritableFile(fname, old_fname, options, result, dbg);
}

IOStatus FaultFs::NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& options,
                                  std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                  rocksdb::IODebugContext* dbg) {
  if (tracked(normalize(fname))) return IOStatus::NotSupported("FaultFs does not model random writes");
  return target_->NewRandomRWFile(fname, options, result, dbg);
}

IOStatus FaultFs::NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                               std::unique_ptr<rocksdb::FSDirectory>* result, rocksdb::IODebugContext* dbg) {
  const std::string path = normalize(name);
  if (!tracked(path)) return target_->NewDirectory(name, options, result, dbg);
  std::unique_ptr<rocksdb::FSDirectory> dir;
  auto s = target_->NewDirectory(name, options, &dir, dbg);
  if (!s.ok()) return s;
  std::lock_guard lock(mutex_);
  NodePtr node = live_node(path);
  if (!node || !node->is_dir) {
    model_error("NewDirectory on untracked " + path);
    *result = std::move(dir);
    return s;
  }
  *result = std::make_unique<TrackedDirectory>(std::move(dir), *this, node, path);
  return s;
}

IOStatus FaultFs::DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) {
  const std::string path = normalize(fname);
  if (!tracked(path)) return target_->DeleteFile(fname, options, dbg);
  std::lock_guard lock(mutex_);
  count_op(true, "delete", path);
  trace("delete " + path);
  NodePtr node = live_node(path);
  if (node && !node->is_dir && node->durable_refs > 0 && node->live_names.size() == 1) {
    // Its durable entry may still name it: the unlink becomes a move into shadow_dir.
    if (!keep_aside(node, path, true)) return IOStatus::IOError("FaultFs: cannot keep " + path + " aside");
  } else {
    auto s = target_->DeleteFile(fname, options, dbg);
    if (!s.ok()) return s;
  }
  if (node) {
    unlink_live(path);
    collect(node);
  }
  return IOStatus::OK();
}

IOStatus FaultFs::Truncate(const std::string& fname, size_t size, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) {
  const std::string path = normalize(fname);
  if (!tracked(path)) return target_->Truncate(fname, size, options, dbg);
  std::lock_guard lock(mutex_);
  count_op(true, "truncate", path);
  trace("truncate " + path + " to " + std::to_string(size));
  auto s = target_->Truncate(fname, size, options, dbg);
  if (!s.ok()) return s;
  if (NodePtr node = live_node(path); node && !node->is_dir) {
    node->size.store(size);
    node->synced = std::min<std::uint64_t>(node->synced, size);
  }
  return s;
}

IOStatus FaultFs::CreateDir(const std::string& dirname, const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) {
  const std::string path = normalize(dirname);
  if (!tracked(path) || path == root_) return target_->CreateDir(dirname, options, dbg);
  std::lock_guard lock(mutex_);
  count_op(true, "mkdir", path);
  trace("mkdir " + path);
  auto s = target_->CreateDir(dirname, options, dbg);
  if (s.ok()) link_live(path, new_node(true));
  return s;
}

IOStatus FaultFs::CreateDirIfMissing(const std::string& dirname, const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) {
  const std::string path = normalize(dirname);
  if (!tracked(path) || path == root_) return target_->CreateDirIfMissing(dirname, options, dbg);
  std::lock_guard lock(mutex_);
  count_op(true, "mkdir", path);
  trace("mkdir -p " + path);
  auto s = target_->CreateDirIfMissing(dirname, options, dbg);
  if (s.ok() && !live_node(path)) link_live(path, new_node(true));
  return s;
}

IOStatus FaultFs::DeleteDir(const std::string& dirname, const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) {
  const std::string path = normalize(dirname);
  if (!tracked(path)) return target_->DeleteDir(dirname, options, dbg);
  std::lock_guard lock(mutex_);
  count_op(true, "rmdir", path);
  trace("rmdir " + path);
  auto s = target_->DeleteDir(dirname, options, dbg);
  if (s.ok()) unlink_live(path);
  return s;
}

IOStatus FaultFs::RenameFile(const std::string& src, const std::string& target,
                             const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  const std::string from = normalize(src);
  const std::string to = normalize(target);
  if (!tracked(from) && !tracked(to)) return target_->RenameFile(src, target, options, dbg);
  std::lock_guard lock(mutex_);
  count_op(true, "rename", from);
  trace("rename " + from + " -> " + to);
  NodePtr node = live_node(from);
  if (node && node->is_dir) return IOStatus::NotSupported("FaultFs does not model directory renames");
  if (!tracked(from) || !node) {
    model_error("rename into the model from an untracked file: " + from + " -> " + to);
    return target_->RenameFile(src, target, options, dbg);
  }
  NodePtr replaced = tracked(to) ? live_node(to) : nullptr;
  const bool keep =
      replaced && replaced != node && replaced->durable_refs > 0 && replaced->live_names.size() == 1;
  if (keep && !keep_aside(replaced, to, false))
    return IOStatus::IOError("FaultFs: cannot keep " + to + " aside");
  auto s = target_->RenameFile(src, target, options, dbg);
  if (!s.ok()) {
    if (keep) collect(replaced);
    return s;
  }
  if (replaced && replaced != node) {
    unlink_live(to);
    collect(replaced);
  }
  unlink_live(from);
  if (tracked(to)) link_live(to, node);
  collect(node);
  return s;
}

IOStatus FaultFs::LinkFile(const std::string& src, const std::string& target,
                           const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  const std::string from = normalize(src);
  const std::string to = normalize(target);
  if (!tracked(to)) return target_->LinkFile(src, target, options, dbg);
  std::lock_guard lock(mutex_);
  count_op(true, "link", to);
  trace("link " + from + " -> " + to);
  auto s = target_->LinkFile(src, target, options, dbg);
  if (!s.ok()) return s;
  NodePtr node = tracked(from) ? live_node(from) : nullptr;
  if (!node) {
    model_error("link into the model from an untracked file: " + from + " -> " + to);
    return s;
  }
  link_live(to, node);
  return s;
}

IOStatus FaultFs::LockFile(const std::string& fname, const rocksdb::IOOptions& options,
                           rocksdb::FileLock** lock, rocksdb::IODebugContext* dbg) {
  const std::string path = normalize(fname);
  auto s = target_->LockFile(fname, options, lock, dbg);
  if (!s.ok() || !tracked(path)) return s;
  // LockFile creates the file if needed: a new, empty entry.
  std::lock_guard guard(mutex_);
  if (!live_node(path)) {
    count_op(true, "create", path);
    trace("lock (creates) " + path);
    link_live(path, new_file(path));
  }
  return s;
}

FaultEnv make_fault_env(std::string root, std::string shadow_dir) {
  FaultEnv e;
  e.fs = std::make_shared<FaultFs>(std::move(root), std::move(shadow_dir));
  e.env = rocksdb::NewCompositeEnv(e.fs);
  return e;
}

}  // namespace rstmdb::test
