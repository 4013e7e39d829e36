// The Store on FaultFs (tests/support/fault_fs.hpp): a batch written with sync=true survives a
// power cut; one written without a sync does not. The second half is what shows that the
// power-cut harness can fail: the cut really drops what was not synced, unlike kill -9.
#include "storage/keys.hpp"
#include "storage/store.hpp"
#include "support/fault_fs.hpp"
#include "support/harness_store_options.hpp"
#include "support/temp_dir.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <rocksdb/env.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>

using namespace rstmdb::storage;
using rstmdb::test::FaultEnv;
using rstmdb::test::make_fault_env;
namespace fs = std::filesystem;

namespace {

using rstmdb::test::TempDir;

// Each test's directory: rstmdb::test::TempDir named rstmdb-powercut-store-test-*.
constexpr const char* kTempPrefix = "rstmdb-powercut-store-test";

std::unique_ptr<Store> open_ok(const StoreOptions& o) {
  OpenResult r = Store::open(o);
  INFO(r.message);
  REQUIRE(r.store);
  return std::move(r.store);
}

// A data directory whose db/ is modelled by FaultFs. FORMAT is written (and fsynced, file and
// directory) by Store::open itself before RocksDB starts; the image gets a copy of it.
struct ModelledDataDir {
  fs::path live;
  FaultEnv fault;

  explicit ModelledDataDir(const TempDir& tmp)
      : live(tmp.path() / "live"),
        fault(make_fault_env((tmp.path() / "live" / "db").string(), (tmp.path() / "shadow").string())) {}

  // Cuts the power and lays the image out as a data directory.
  fs::path cut(const TempDir& tmp, const std::string& name) {
    const fs::path image = tmp.path() / name;
    fs::create_directories(image);
    fs::copy_file(live / "FORMAT", image / "FORMAT");
    const auto report = fault.fs->cut_power((image / "db").string());
    INFO(report.error);
    REQUIRE(report.error.empty());
    REQUIRE(fault.fs->model_errors().empty());
    return image;
  }
};

}  // namespace

TEST_CASE("store on fault fs: synced batches survive a power cut, unsynced ones are lost") {
  const auto memtable = GENERATE(MemtableKind::Ordered, MemtableKind::SkipList);
  TempDir tmp(kTempPrefix);
  ModelledDataDir dir(tmp);
  fs::path image;
  {
    auto store = open_ok(rstmdb::test::harness_store_options(dir.live, memtable, dir.fault.env.get()));
    auto batch = store->new_batch();
    batch.put(Cf::Log, offset_key(1), "durable");
    REQUIRE_FALSE(store->write(batch, /*sync=*/true));
    batch.clear();
    batch.put(Cf::Log, offset_key(2), "page cache only");
    REQUIRE_FALSE(store->write(batch, /*sync=*/false));
    // The live store has both; kill -9 would keep both too.
    CHECK(store->get(Cf::Log, offset_key(2)) == "page cache only");
    image = dir.cut(tmp, "image");
  }  // the destructor syncs and flushes the live files, after the cut: too late
  auto reopened = open_ok(rstmdb::test::harness_store_options(image, memtable, nullptr));
  CHECK(reopened->get(Cf::Log, offset_key(1)) == "durable");
  CHECK_FALSE(reopened->get(Cf::Log, offset_key(2)));
}

TEST_CASE("store on fault fs: flushed data survives a cut after its WAL is gone") {
  const auto memtable = GENERATE(MemtableKind::Ordered, MemtableKind::SkipList);
  TempDir tmp(kTempPrefix);
  ModelledDataDir dir(tmp);
  fs::path image;
  {
    auto store = open_ok(rstmdb::test::harness_store_options(dir.live, memtable, dir.fault.env.get()));
    auto batch = store->new_batch();
    // More than one write buffer (512 KiB per CF here) so RocksDB flushes on its own too.
    const std::string value(1000, 'v');
    for (std::uint64_t i = 1; i <= 2000; ++i) {
      batch.put(Cf::Log, offset_key(i), value + std::to_string(i));
      if (i % 50 == 0) {
        REQUIRE_FALSE(store->write(batch, /*sync=*/true));
        batch.clear();
      }
    }
    REQUIRE_FALSE(store->flush_all());
    image = dir.cut(tmp, "image");
  }
  auto reopened = open_ok(rstmdb::test::harness_store_options(image, memtable, nullptr));
  std::uint64_t seen = 0;
  reopened->scan(Cf::Log, "", "", [&](std::string_view key, std::string_view value) {
    ++seen;
    CHECK(decode_offset_key(key) == seen);
    CHECK(value == std::string(1000, 'v') + std::to_string(seen));
    return true;
  });
  CHECK(seen == 2000);
}

TEST_CASE("store on fault fs: an injected WAL error fails the write and marks the store failed") {
  const int error = GENERATE(EIO, ENOSPC);
  TempDir tmp(kTempPrefix);
  ModelledDataDir dir(tmp);
  auto store =
      open_ok(rstmdb::test::harness_store_options(dir.live, MemtableKind::Ordered, dir.fault.env.get()));
  auto batch = store->new_batch();
  batch.put(Cf::Log, offset_key(1), "before");
  REQUIRE_FALSE(store->write(batch, true));
  dir.fault.fs->inject({rstmdb::test::FileKind::Wal, rstmdb::test::TableJob::Any, rstmdb::test::FileOp::Sync,
                        1, error, false});
  batch.clear();
  batch.put(Cf::Log, offset_key(2), "lost");
  const auto failure = store->write(batch, true);
  REQUIRE(failure);
  CHECK(failure->kind() == (error == ENOSPC ? StorageError::Kind::NoSpace : StorageError::Kind::Io));
  CHECK(dir.fault.fs->faults_injected() == 1);
  REQUIRE(store->failure());
  // Nothing reaches RocksDB any more (its file writers must not be written after an error).
  CHECK(store->write(batch, true));
  CHECK(store->sync_wal());
}
