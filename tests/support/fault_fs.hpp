// A rocksdb::FileSystem for tests that knows what a power cut would leave on disk.
//
// FaultFs wraps a real file system (normally rocksdb::FileSystem::Default()) and passes every call
// through, so RocksDB runs on real files and never sees an error from the simulation. For the
// files and directories under one `root` directory it also records what has been made durable,
// and cut_power() writes that durable image into a separate directory at an instant chosen by
// the test. The test then shuts the engine down (the process goes on using the live files, as
// if the cut had not happened) and opens the image, which is what a machine that lost power at
// that instant would have found on its disk.
//
// Durability model (docs/storage.md "Proving durability" and docs/decisions.md say why):
//   - File content. Bytes appended to a file become durable when a Sync() or Fsync() of that
//     file returns OK; it covers every byte appended before the call started. RangeSync()
//     (sync_file_range: starts writeback, never waits for the disk, never writes the file
//     size), Flush() and Close() make nothing durable. Truncation shortens the durable prefix
//     when it cuts into it (the cut-off bytes are gone from the live file too).
//   - Directory entries. A creation (NewWritableFile, ReopenWritableFile that creates,
//     CreateDir, LockFile, LinkFile), a deletion (DeleteFile, DeleteDir) and a rename
//     (RenameFile: an entry disappears under one name and appears under another) become
//     durable when an Fsync() of the directory holding the entry returns OK: it makes the
//     directory's entries durable exactly as they are at that moment (the fsync runs under the
//     model's lock, so nothing changes meanwhile). A rename between two directories needs both
//     fsynced. A file whose entry is not durable is absent from the image however much of it
//     was synced; a durable entry whose file was since deleted or renamed over comes back with
//     its synced content.
//   - Assumptions: `root` itself and its entry in its parent are durable (the test creates
//     it); files and directories under `root` when the FaultFs is created are durable as they
//     are (an image of an earlier cut, reopened). Only append-only writing is modelled:
//     random-write files and file reuse are refused under `root`. Paths outside `root` are
//     passed through and not modelled.
//   - The image is the strictest legal outcome for unsynced data: every unsynced byte is lost
//     (no torn pages, no partial writeback). A real disk may keep more; it may never keep less.
//
// To keep a durable-but-unlinked file's content for the image, a deletion or a rename over an
// existing entry first hard-links the file into `shadow_dir` (same file system as `root`); a
// NewWritableFile over an existing name (which truncates in place) moves it there. Shadow
// copies are dropped once no durable entry names them.
//
// Fault injection: inject() arms a rule that fails the n-th matching call (by file kind, for
// tables by the job writing them, and by operation) with EIO or ENOSPC, once or from then on.
// A failed call never reaches the real file. snapshot_live() writes the live image instead (what
// kill -9 leaves: every byte written, durable or not).
//
// Thread-safety: every method may be called from any thread, as RocksDB requires.
#pragma once

#include "fault_injector.hpp"

#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace rocksdb {
class Env;
}

namespace rstmdb::test {

// What cut_power() wrote, and what it left out.
struct CutReport {
  std::size_t files = 0;                // files in the image
  std::size_t dirs = 0;                 // directories in the image, `root` included
  std::uint64_t bytes = 0;              // bytes written into the image
  std::uint64_t bytes_dropped = 0;      // unsynced bytes of files in the image, left out
  std::size_t entries_not_durable = 0;  // live entries absent from the image (created/renamed, no dir fsync)
  std::size_t entries_resurrected = 0;  // image entries no longer live (deleted/renamed, no dir fsync)
  std::string error;                    // non-empty if the image could not be written
  std::string during;                   // an armed cut's operation, e.g. "sync 000004.log"
};

class FaultFs final : public rocksdb::FileSystemWrapper {
 public:
  // `root` and `shadow_dir` are absolute or relative paths on one file system; `shadow_dir` is
  // created and is removed with everything in it by the destructor.
  FaultFs(std::string root, std::string shadow_dir,
          std::shared_ptr<rocksdb::FileSystem> base = rocksdb::FileSystem::Default());
  ~FaultFs() override;

  static const char* kClassName() { return "RstmdbFaultFs"; }
  const char* Name() const override { return kClassName(); }

  // --- power cut ---------------------------------------------------------------------------

  // Writes the durable image of `root` to `image_dir` (created; its parent must exist) as of
  // now, and marks the power as cut. RocksDB keeps running on the live files.
  CutReport cut_power(const std::string& image_dir);
  // Arms a cut inside the `n`-th mutating operation on `root` counted from now (n >= 1), just
  // before that operation takes effect. The cut runs on whichever thread performs it.
  void cut_power_at_op(std::uint64_t n, std::string image_dir);
  // True once a cut has been taken (sequentially consistent: anything that happened before a
  // load returning false had its durable effects recorded before the cut's image was taken).
  bool power_cut() const noexcept { return power_cut_.load(); }
  // The report of the last cut taken, if any.
  std::optional<CutReport> last_cut() const;
  // Writes the live image of `root` to `image_dir`: every entry as it is now, every byte
  // written so far (what kill -9 would leave). Does not cut the power.
  CutReport snapshot_live(const std::string& image_dir);

  // --- fault injection ---------------------------------------------------------------------

  // Arms `rule`, replacing any armed rule; its call count starts now.
  void inject(const FaultRule& rule);
  void clear_faults();
  // Calls failed by injection so far, and the first of them (e.g. "ENOSPC on append 000012.sst").
  std::uint64_t faults_injected() const;
  std::string first_fault() const;

  // Mutating operations on `root` so far: appends, syncs, closes, truncations, creations,
  // deletions, renames, links and directory fsyncs.
  std::uint64_t mutating_ops() const noexcept { return ops_.load(); }
  // Errors in the model itself (an untracked parent, a failed shadow link); a test should
  // require this to be empty.
  std::string model_errors() const;

  // --- rocksdb::FileSystem -----------------------------------------------------------------

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& dirname, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname, const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& dirname, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& target,
                             const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LockFile(const std::string& fname, const rocksdb::IOOptions& options,
                             rocksdb::FileLock** lock, rocksdb::IODebugContext* dbg) override;

  // A file or directory under `root` (an inode). Public only for the file wrappers in
  // fault_fs.cpp.
  struct Node;

 private:
  friend class TrackedWritableFile;
  friend class TrackedDirectory;

  using NodePtr = std::shared_ptr<Node>;

  // All private helpers below require mutex_ to be held unless they say otherwise.
  bool tracked(const std::string& path) const;
  NodePtr live_node(const std::string& path) const;
  NodePtr new_node(bool is_dir);
  // A file node for `path`, classified by its name and the creating thread.
  NodePtr new_file(const std::string& path);
  // Adds / removes the live entry `path` (its parent must be a live tracked directory).
  bool link_live(const std::string& path, const NodePtr& node);
  void unlink_live(const std::string& path);
  // Gives `node`'s bytes a home in shadow_dir (by hard link, or by rename when `move`), so
  // they survive the loss of their last live name while a durable entry still names them.
  bool keep_aside(const NodePtr& node, const std::string& path, bool move);
  // Drops `node` (and its shadow copy) when nothing live or durable names it any more.
  void collect(const NodePtr& node);
  // Makes the live entries of directory `dir` durable.
  void commit_dir(const NodePtr& dir);
  void adopt_existing(const std::string& dir_path, const NodePtr& dir);
  // Counts one mutating operation (`op` on `path`) and takes an armed cut if this is its
  // operation. `locked`: the caller holds mutex_.
  void count_op(bool locked, const char* op, const std::string& path);
  // Writes the durable (or, `live`, the live) image of `root` to `image_dir`.
  CutReport capture(const std::string& image_dir, bool live = false);
  // The injected error for `op` on `node` (path `path`), if the armed rule fails this call.
  std::optional<rocksdb::IOStatus> fault_for(const Node& node, FileOp op, const std::string& path);
  void model_error(const std::string& what);
  // Prints `what` to stderr when RSTMDB_FAULTFS_TRACE is set (debugging aid).
  void trace(const std::string& what) const;

  // Called by the file wrappers.
  void appended(Node& node, std::uint64_t end_offset);
  void synced(Node& node, std::uint64_t size_before);
  void truncated(Node& node, std::uint64_t size);

  const std::string root_;
  const std::string shadow_dir_;

  mutable std::mutex mutex_;
  std::map<std::string, NodePtr> live_;  // path → node, for every live tracked path
  NodePtr root_node_;
  std::uint64_t next_id_ = 1;
  std::optional<CutReport> last_cut_;
  std::string errors_;

  std::atomic<std::uint64_t> ops_{0};
  std::atomic<std::uint64_t> cut_at_op_{0};  // 0: no cut armed
  std::string armed_image_;                  // guarded by mutex_
  std::atomic<bool> power_cut_{false};
  bool trace_ = false;

  FaultInjector injector_;
};

// An Env whose file system is `fs` (clock and threads are Env::Default()'s). Keeps `fs` alive.
struct FaultEnv {
  std::shared_ptr<FaultFs> fs;
  std::unique_ptr<rocksdb::Env> env;
};
FaultEnv make_fault_env(std::string root, std::string shadow_dir);

}  // namespace rstmdb::test
