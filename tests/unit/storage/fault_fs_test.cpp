// The power-cut model of tests/support/fault_fs.hpp, through the rocksdb::FileSystem API: what
// is synced survives a cut, what is not vanishes.
#include "support/fault_fs.hpp"
#include "support/temp_dir.hpp"

#include <pthread.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

using rstmdb::test::CutReport;
using rstmdb::test::FaultFs;
namespace fs = std::filesystem;

namespace {

// root/ (modelled), shadow/, and images written next to them; removed at the end.
class Sandbox {
 public:
  Sandbox() { fs::create_directories(dir_.path() / "root"); }

  std::string root() const { return (dir_.path() / "root").string(); }
  std::string root(const std::string& name) const { return (dir_.path() / "root" / name).string(); }
  std::string shadow() const { return (dir_.path() / "shadow").string(); }
  std::string image(int n) const { return (dir_.path() / ("image-" + std::to_string(n))).string(); }

 private:
  rstmdb::test::TempDir dir_{"rstmdb-faultfs-test"};
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<rocksdb::FSWritableFile> create(FaultFs& ffs, const std::string& path) {
  std::unique_ptr<rocksdb::FSWritableFile> file;
  REQUIRE(ffs.NewWritableFile(path, rocksdb::FileOptions(), &file, nullptr).ok());
  return file;
}

void append(rocksdb::FSWritableFile& file, const std::string& data) {
  REQUIRE(file.Append(data, rocksdb::IOOptions(), nullptr).ok());
}

void sync(rocksdb::FSWritableFile& file) {
  REQUIRE(file.Sync(rocksdb::IOOptions(), nullptr).ok());
}

void fsync_dir(FaultFs& ffs, const std::string& dir) {
  std::unique_ptr<rocksdb::FSDirectory> d;
  REQUIRE(ffs.NewDirectory(dir, rocksdb::IOOptions(), &d, nullptr).ok());
  REQUIRE(d->Fsync(rocksdb::IOOptions(), nullptr).ok());
}

CutReport cut(FaultFs& ffs, const std::string& image) {
  CutReport r = ffs.cut_power(image);
  INFO(r.error);
  REQUIRE(r.error.empty());
  REQUIRE(ffs.model_errors().empty());
  return r;
}

}  // namespace

TEST_CASE("fault fs: a file keeps exactly the bytes synced before the cut") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  auto f = create(ffs, box.root("a.log"));
  fsync_dir(ffs, box.root());
  append(*f, "synced;");
  sync(*f);
  append(*f, "flushed-not-synced;");
  REQUIRE(f->Flush(rocksdb::IOOptions(), nullptr).ok());
  // sync_file_range writes pages out but never waits for the disk or the file size.
  REQUIRE(f->RangeSync(0, 0, rocksdb::IOOptions(), nullptr).ok());
  REQUIRE(f->Close(rocksdb::IOOptions(), nullptr).ok());
  CHECK_FALSE(ffs.power_cut());

  const CutReport r = cut(ffs, box.image(1));
  CHECK(ffs.power_cut());
  CHECK(read_file(box.image(1) + "/a.log") == "synced;");
  CHECK(r.files == 1);
  CHECK(r.bytes == 7);
  CHECK(r.bytes_dropped == 19);
  // The live file is untouched: the process goes on as if nothing happened.
  CHECK(read_file(box.root("a.log")) == "synced;flushed-not-synced;");
}

TEST_CASE("fault fs: a new file is absent until its directory is fsynced, however much was synced") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  auto f = create(ffs, box.root("new.sst"));
  append(*f, "content");
  sync(*f);
  const CutReport before = cut(ffs, box.image(1));
  CHECK_FALSE(fs::exists(box.image(1) + "/new.sst"));
  CHECK(before.entries_not_durable == 1);

  fsync_dir(ffs, box.root());
  append(*f, "+more");
  cut(ffs, box.image(2));
  CHECK(read_file(box.image(2) + "/new.sst") == "content");
}

TEST_CASE("fault fs: an unsynced rename is undone, a synced one is kept") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  auto old_current = create(ffs, box.root("CURRENT"));
  append(*old_current, "MANIFEST-1\n");
  sync(*old_current);
  auto tmp = create(ffs, box.root("000002.dbtmp"));
  append(*tmp, "MANIFEST-2\n");
  sync(*tmp);
  fsync_dir(ffs, box.root());

  REQUIRE(ffs.RenameFile(box.root("000002.dbtmp"), box.root("CURRENT"), rocksdb::IOOptions(), nullptr).ok());
  CHECK(read_file(box.root("CURRENT")) == "MANIFEST-2\n");
  const CutReport r = cut(ffs, box.image(1));
  // Both the old CURRENT (replaced, but only in the page cache) and the temp name come back.
  CHECK(read_file(box.image(1) + "/CURRENT") == "MANIFEST-1\n");
  CHECK(read_file(box.image(1) + "/000002.dbtmp") == "MANIFEST-2\n");
  CHECK(r.entries_resurrected == 2);

  fsync_dir(ffs, box.root());
  cut(ffs, box.image(2));
  CHECK(read_file(box.image(2) + "/CURRENT") == "MANIFEST-2\n");
  CHECK_FALSE(fs::exists(box.image(2) + "/000002.dbtmp"));
  // The replaced file's bytes were only kept for the image while a durable entry named them.
  CHECK(fs::is_empty(box.shadow()));
}

TEST_CASE("fault fs: a deletion is undone until its directory is fsynced") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  auto f = create(ffs, box.root("000001.log"));
  append(*f, "old wal");
  sync(*f);
  fsync_dir(ffs, box.root());
  append(*f, " tail");
  REQUIRE(ffs.DeleteFile(box.root("000001.log"), rocksdb::IOOptions(), nullptr).ok());
  CHECK_FALSE(fs::exists(box.root("000001.log")));

  cut(ffs, box.image(1));
  CHECK(read_file(box.image(1) + "/000001.log") == "old wal");

  fsync_dir(ffs, box.root());
  cut(ffs, box.image(2));
  CHECK_FALSE(fs::exists(box.image(2) + "/000001.log"));
  CHECK(fs::is_empty(box.shadow()));
}

TEST_CASE(
    "fault fs: a file created over an existing name keeps the old content until the directory is fsynced") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  auto f = create(ffs, box.root("IDENTITY"));
  append(*f, "first");
  sync(*f);
  fsync_dir(ffs, box.root());
  auto g = create(ffs, box.root("IDENTITY"));
  append(*g, "second");
  sync(*g);
  cut(ffs, box.image(1));
  CHECK(read_file(box.image(1) + "/IDENTITY") == "first");
  fsync_dir(ffs, box.root());
  cut(ffs, box.image(2));
  CHECK(read_file(box.image(2) + "/IDENTITY") == "second");
}

TEST_CASE("fault fs: directories are entries of their parent like files") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  REQUIRE(ffs.CreateDir(box.root("sub"), rocksdb::IOOptions(), nullptr).ok());
  auto f = create(ffs, box.root("sub/x"));
  append(*f, "x");
  sync(*f);
  fsync_dir(ffs, box.root("sub"));
  cut(ffs, box.image(1));
  CHECK_FALSE(fs::exists(box.image(1) + "/sub"));
  fsync_dir(ffs, box.root());
  cut(ffs, box.image(2));
  CHECK(read_file(box.image(2) + "/sub/x") == "x");
}

TEST_CASE("fault fs: files already under the root are durable as they are, and can be appended to") {
  Sandbox box;
  { std::ofstream(box.root("000007.log"), std::ios::binary) << "recovered"; }
  FaultFs ffs(box.root(), box.shadow());
  std::unique_ptr<rocksdb::FSWritableFile> f;
  REQUIRE(ffs.ReopenWritableFile(box.root("000007.log"), rocksdb::FileOptions(), &f, nullptr).ok());
  append(*f, "+synced");
  sync(*f);
  append(*f, "+lost");
  cut(ffs, box.image(1));
  CHECK(read_file(box.image(1) + "/000007.log") == "recovered+synced");
}

TEST_CASE("fault fs: an armed cut is taken inside the n-th mutating operation, before it takes effect") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  auto f = create(ffs, box.root("a"));
  fsync_dir(ffs, box.root());
  ffs.cut_power_at_op(3, box.image(1));
  append(*f, "1");  // op 1
  sync(*f);         // op 2
  CHECK_FALSE(ffs.power_cut());
  append(*f, "2");  // op 3: the cut happens here, then the append goes on
  CHECK(ffs.power_cut());
  sync(*f);
  REQUIRE(ffs.last_cut());
  CHECK(ffs.last_cut()->error.empty());
  CHECK(read_file(box.image(1) + "/a") == "1");
  CHECK(read_file(box.root("a")) == "12");
}

TEST_CASE("fault fs: paths outside the root are passed through, not modelled") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  const std::string outside = box.image(0);
  fs::create_directories(outside);
  auto f = create(ffs, outside + "/free");
  append(*f, "x");
  REQUIRE(f->Close(rocksdb::IOOptions(), nullptr).ok());
  const CutReport r = cut(ffs, box.image(1));
  CHECK(r.files == 0);
  CHECK(read_file(outside + "/free") == "x");
}

TEST_CASE("fault fs: the n-th matching call fails and never reaches the file") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  auto wal = create(ffs, box.root("000004.log"));
  auto table = create(ffs, box.root("000005.sst"));
  fsync_dir(ffs, box.root());
  ffs.inject({rstmdb::test::FileKind::Wal, rstmdb::test::TableJob::Any, rstmdb::test::FileOp::Append, 2, EIO,
              false});
  append(*table, "t");  // not a WAL: not counted
  append(*wal, "1");
  const auto failed = wal->Append("2", rocksdb::IOOptions(), nullptr);
  CHECK(failed.IsIOError());
  CHECK_FALSE(failed.IsNoSpace());
  append(*wal, "3");  // not persistent: later calls go through
  CHECK(ffs.faults_injected() == 1);
  CHECK(ffs.first_fault() == "FaultFs: injected EIO on append 000004.log");
  CHECK(read_file(box.root("000004.log")) == "13");
}

TEST_CASE("fault fs: a persistent ENOSPC fails every matching call from the n-th on, as no-space errors") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  auto f = create(ffs, box.root("MANIFEST-000001"));
  ffs.inject({rstmdb::test::FileKind::Manifest, rstmdb::test::TableJob::Any, rstmdb::test::FileOp::Sync, 1,
              ENOSPC, true});
  append(*f, "edit");
  for (int i = 0; i < 3; ++i) {
    const auto s = f->Sync(rocksdb::IOOptions(), nullptr);
    CHECK(s.IsNoSpace());
  }
  CHECK(ffs.faults_injected() == 3);
  cut(ffs, box.image(1));
  CHECK_FALSE(fs::exists(box.image(1) + "/MANIFEST-000001"));  // nothing was synced, not even the entry
  ffs.clear_faults();
  sync(*f);
}

TEST_CASE("fault fs: a failed create leaves no file, and tables are told apart by the job creating them") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  ffs.inject({rstmdb::test::FileKind::Table, rstmdb::test::TableJob::Compaction, rstmdb::test::FileOp::Create,
              1, ENOSPC, false});
  auto flush_output = create(ffs, box.root("000010.sst"));  // this thread is not a compaction thread
  CHECK(ffs.faults_injected() == 0);
  rocksdb::IOStatus from_compaction;
  std::thread compaction([&] {
    pthread_setname_np(pthread_self(), "rocksdb:low");
    std::unique_ptr<rocksdb::FSWritableFile> f;
    from_compaction = ffs.NewWritableFile(box.root("000011.sst"), rocksdb::FileOptions(), &f, nullptr);
  });
  compaction.join();
  CHECK(from_compaction.IsNoSpace());
  CHECK_FALSE(fs::exists(box.root("000011.sst")));
  CHECK(ffs.first_fault() == "FaultFs: injected ENOSPC on create 000011.sst (compaction)");
}

TEST_CASE("fault fs: the live image keeps every byte written, as kill -9 would") {
  Sandbox box;
  FaultFs ffs(box.root(), box.shadow());
  auto f = create(ffs, box.root("000004.log"));
  append(*f, "synced;");
  sync(*f);
  append(*f, "page cache;");
  const CutReport r = ffs.snapshot_live(box.image(1));
  REQUIRE(r.error.empty());
  CHECK_FALSE(ffs.power_cut());
  CHECK(read_file(box.image(1) + "/000004.log") == "synced;page cache;");
}
