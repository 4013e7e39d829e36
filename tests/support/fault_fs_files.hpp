// Internal to fault_fs.cpp: the inode record of the power-cut model, and the file and
// directory wrappers FaultFs hands to RocksDB, which report appends, syncs and directory
// fsyncs to the model and fail the calls an armed fault rule matches.
#pragma once

#include "fault_fs.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace rstmdb::test {

using rocksdb::IOStatus;

struct FaultFs::Node {
  std::uint64_t id = 0;
  bool is_dir = false;
  FileKind kind = FileKind::Other;  // files: from the name at creation
  TableJob job = TableJob::Flush;   // tables: from the creating thread

  // Files. `size` is written by the file's one appending thread and read by Sync, possibly on
  // another thread; everything else is guarded by FaultFs::mutex_.
  std::atomic<std::uint64_t> size{0};  // bytes written to the live file
  std::uint64_t synced = 0;            // the durable prefix
  std::set<std::string> live_names;    // live paths naming this file (hard links)
  std::string shadow_path;             // a hard link in shadow_dir, while one is needed
  std::uint64_t durable_refs = 0;      // durable directory entries naming this node

  // Directories: name → node.
  std::map<std::string, std::shared_ptr<Node>> live_entries;
  std::map<std::string, std::shared_ptr<Node>> durable_entries;

  // Where the file's bytes can be read now.
  const std::string& content_path() const { return live_names.empty() ? shadow_path : *live_names.begin(); }
};

class TrackedWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedWritableFile(std::unique_ptr<rocksdb::FSWritableFile> file, FaultFs& fs,
                      std::shared_ptr<FaultFs::Node> node, std::string path)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fs_(fs),
        node_(std::move(node)),
        path_(std::move(path)) {}

  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                  rocksdb::IODebugContext* dbg) override {
    fs_.count_op(false, "append", path_);
    if (auto fault = fs_.fault_for(*node_, FileOp::Append, path_)) return *fault;
    auto s = target()->Append(data, options, dbg);
    if (s.ok()) fs_.appended(*node_, node_->size.load() + data.size());
    return s;
  }
  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                  const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* dbg) override {
    fs_.count_op(false, "append", path_);
    if (auto fault = fs_.fault_for(*node_, FileOp::Append, path_)) return *fault;
    auto s = target()->Append(data, options, info, dbg);
    if (s.ok()) fs_.appended(*node_, node_->size.load() + data.size());
    return s;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
    fs_.count_op(false, "append", path_);
    if (auto fault = fs_.fault_for(*node_, FileOp::Append, path_)) return *fault;
    auto s = target()->PositionedAppend(data, offset, options, dbg);
    if (s.ok()) fs_.appended(*node_, offset + data.size());
    return s;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const rocksdb::IOOptions& options,
                            const rocksdb::DataVerificationInfo& info,
                            rocksdb::IODebugContext* dbg) override {
    fs_.count_op(false, "append", path_);
    if (auto fault = fs_.fault_for(*node_, FileOp::Append, path_)) return *fault;
    auto s = target()->PositionedAppend(data, offset, options, info, dbg);
    if (s.ok()) fs_.appended(*node_, offset + data.size());
    return s;
  }
  IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    fs_.count_op(false, "truncate", path_);
    auto s = target()->Truncate(size, options, dbg);
    if (s.ok()) fs_.truncated(*node_, size);
    return s;
  }
  IOStatus Close(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    // close(2) makes nothing durable.
    fs_.count_op(false, "close", path_);
    if (auto fault = fs_.fault_for(*node_, FileOp::Close, path_)) return *fault;
    return target()->Close(options, dbg);
  }
  IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    fs_.count_op(false, "sync", path_);
    if (auto fault = fs_.fault_for(*node_, FileOp::Sync, path_)) return *fault;
    const std::uint64_t before = node_->size.load();
    auto s = target()->Sync(options, dbg);
    if (s.ok()) fs_.synced(*node_, before);
    return s;
  }
  IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    fs_.count_op(false, "fsync", path_);
    if (auto fault = fs_.fault_for(*node_, FileOp::Sync, path_)) return *fault;
    const std::uint64_t before = node_->size.load();
    auto s = target()->Fsync(options, dbg);
    if (s.ok()) fs_.synced(*node_, before);
    return s;
  }
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const rocksdb::IOOptions& options,
                     rocksdb::IODebugContext* dbg) override {
    // sync_file_range(2) starts writeback of some pages; it neither waits for the device nor
    // writes the file size, so nothing is durable after it.
    fs_.count_op(false, "range sync", path_);
    if (auto fault = fs_.fault_for(*node_, FileOp::RangeSync, path_)) return *fault;
    return target()->RangeSync(offset, nbytes, options, dbg);
  }

 private:
  FaultFs& fs_;
  std::shared_ptr<FaultFs::Node> node_;
  const std::string path_;
};

class TrackedDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDirectory(std::unique_ptr<rocksdb::FSDirectory> dir, FaultFs& fs,
                   std::shared_ptr<FaultFs::Node> node, std::string path)
      : FSDirectoryWrapper(std::move(dir)), fs_(fs), node_(std::move(node)), path_(std::move(path)) {}

  IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return commit([&] { return FSDirectoryWrapper::Fsync(options, dbg); });
  }
  IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& dir_options) override {
    return commit([&] { return FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options); });
  }

 private:
  // The fsync runs under the model's lock: the entries it makes durable are exactly the
  // directory's entries while it runs.
  template <typename Fn>
  IOStatus commit(Fn&& fsync) {
    std::lock_guard lock(fs_.mutex_);
    fs_.count_op(true, "fsync dir", path_);
    fs_.trace("fsync dir " + path_);
    auto s = fsync();
    if (s.ok()) fs_.commit_dir(node_);
    return s;
  }

  FaultFs& fs_;
  std::shared_ptr<FaultFs::Node> node_;
  const std::string path_;
};

}  // namespace rstmdb::test
