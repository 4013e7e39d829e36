#include "storage/store.hpp"

#include "storage/keys.hpp"
#include "storage/memtable_kinds.hpp"
#include "storage/wal_file_system.hpp"
#include "support/temp_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace rstmdb::storage;
namespace fs = std::filesystem;

namespace {

using rstmdb::test::TempDir;

// Each test's directory: rstmdb::test::TempDir named rstmdb-storage-test-*.
constexpr const char* kTempPrefix = "rstmdb-storage-test";

StoreOptions small_options(const fs::path& dir, MemtableKind memtable) {
  StoreOptions o;
  o.data_dir = dir.string();
  o.memtable = memtable;
  o.block_cache_mb = 8;
  o.max_open_files = 256;
  o.write_buffer_mb = 4;
  return o;
}

std::unique_ptr<Store> open_ok(const StoreOptions& o) {
  OpenResult r = Store::open(o);
  INFO(r.message);
  REQUIRE(r.store);
  return std::move(r.store);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

std::vector<std::pair<std::string, std::string>> scan_all(const Store& s, Cf cf, std::string_view prefix,
                                                          std::string_view start = {},
                                                          std::size_t limit = 0) {
  std::vector<std::pair<std::string, std::string>> out;
  s.scan(cf, prefix, start, [&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return limit == 0 || out.size() < limit;
  });
  return out;
}

std::string incompressible(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng());
  return s;
}

}  // namespace

TEST_CASE("open creates the data directory layout", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  const fs::path dir = tmp.path() / "nested" / "data";
  {
    auto store = open_ok(small_options(dir, memtable));
    CHECK(store->data_dir() == dir.string());
    struct stat st {};
    REQUIRE(::stat(dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    CHECK(read_file(dir / "FORMAT") == std::string(kDataFormat) + "\n");
    CHECK(read_file(dir / "rstmdbd.lock") == std::to_string(::getpid()) + "\n");
    CHECK(fs::is_directory(dir / "db"));
    CHECK(fs::is_directory(dir / "checkpoints"));
    CHECK_FALSE(fs::exists(dir / "FORMAT.tmp"));
    CHECK_FALSE(store->get(Cf::Instances, "missing").has_value());
  }
  // Closed: the lock is free again and the layout is accepted as ours.
  auto again = open_ok(small_options(dir, memtable));
  CHECK(again);
}

TEST_CASE("a second open of a locked directory fails with the holder's pid", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  const auto opts = small_options(tmp.path() / "data", memtable);
  auto first = open_ok(opts);
  OpenResult second = Store::open(opts);
  CHECK_FALSE(second.store);
  CHECK(second.failure == OpenFailure::Locked);
  CHECK(second.message == "data directory " + opts.data_dir + " is in use by another rstmdbd (pid " +
                              std::to_string(::getpid()) + ")");
  first.reset();
  CHECK(Store::open(opts).store);
}

TEST_CASE("incompatible directories are refused", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  const fs::path dir = tmp.path() / "data";
  fs::create_directories(dir);

  SECTION("FORMAT of another version") {
    write_file(dir / "FORMAT", "rstmdb-cpp-data 2\n");
    OpenResult r = Store::open(small_options(dir, memtable));
    CHECK_FALSE(r.store);
    CHECK(r.failure == OpenFailure::Incompatible);
    CHECK(r.message.find("rstmdb-cpp-data 2") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "db"));
  }
  SECTION("FORMAT of garbage") {
    write_file(dir / "FORMAT", std::string("\x00\xFFjunk", 6));
    OpenResult r = Store::open(small_options(dir, memtable));
    CHECK(r.failure == OpenFailure::Incompatible);
  }
  SECTION("upstream layout") {
    fs::create_directories(dir / "wal");
    write_file(dir / "wal" / "0000000000000001.wal", "upstream bytes");
    OpenResult r = Store::open(small_options(dir, memtable));
    CHECK_FALSE(r.store);
    CHECK(r.failure == OpenFailure::Incompatible);
    CHECK(r.message.find("upstream rstmdb layout") != std::string::npos);
    CHECK(r.message.find("migrate") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "FORMAT"));
    CHECK_FALSE(fs::exists(dir / "db"));
  }
  SECTION("someone else's files and no FORMAT") {
    write_file(dir / "notes.txt", "hello");
    OpenResult r = Store::open(small_options(dir, memtable));
    CHECK(r.failure == OpenFailure::Incompatible);
    CHECK(r.message.find("notes.txt") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "FORMAT"));
  }
  SECTION("a db/ without FORMAT") {
    fs::create_directories(dir / "db");
    OpenResult r = Store::open(small_options(dir, memtable));
    CHECK(r.failure == OpenFailure::Incompatible);
  }
  SECTION("a data dir path that is a file") {
    write_file(tmp.path() / "file", "x");
    OpenResult r = Store::open(small_options(tmp.path() / "file", memtable));
    CHECK(r.failure == OpenFailure::CannotCreate);
  }
}

TEST_CASE("a damaged database is reported as incompatible", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  const fs::path dir = tmp.path() / "data";
  {
    auto store = open_ok(small_options(dir, memtable));
    Batch b = store->new_batch();
    b.put(Cf::Instances, "a", std::string(4096, 'x'));
    REQUIRE_FALSE(store->write(b, true));
    REQUIRE_FALSE(store->flush_all());
  }
  SECTION("CURRENT names a missing MANIFEST") {
    write_file(dir / "db" / "CURRENT", "MANIFEST-999999\n");
    OpenResult r = Store::open(small_options(dir, memtable));
    INFO(r.message);
    CHECK(r.failure == OpenFailure::Incompatible);
  }
  SECTION("CURRENT is damaged") {
    write_file(dir / "db" / "CURRENT", "MANIFEST-0");
    OpenResult r = Store::open(small_options(dir, memtable));
    INFO(r.message);
    CHECK(r.failure == OpenFailure::Incompatible);
  }
  SECTION("an SST is truncated") {
    bool truncated = false;
    for (const auto& entry : fs::directory_iterator(dir / "db")) {
      if (entry.path().extension() == ".sst") {
        fs::resize_file(entry.path(), fs::file_size(entry.path()) / 2);
        truncated = true;
      }
    }
    REQUIRE(truncated);
    OpenResult r = Store::open(small_options(dir, memtable));
    INFO(r.message);
    CHECK(r.failure == OpenFailure::Incompatible);
  }
}

TEST_CASE("a fresh directory may hold lost+found, and stale checkpoints are emptied", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  const fs::path dir = tmp.path() / "data";
  fs::create_directories(dir / "lost+found");
  { auto store = open_ok(small_options(dir, memtable)); }
  fs::create_directories(dir / "checkpoints" / "old-1" / "sub");
  write_file(dir / "checkpoints" / "old-1" / "sub" / "000001.sst", "x");
  write_file(dir / "checkpoints" / "stray", "x");
  auto store = open_ok(small_options(dir, memtable));
  CHECK(fs::is_directory(dir / "checkpoints"));
  CHECK(fs::is_empty(dir / "checkpoints"));
}

TEST_CASE("permission denied is reported as such", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  if (::geteuid() == 0) {
    WARN("running as root: permission checks do not apply");
    return;
  }
  TempDir tmp(kTempPrefix);
  const fs::path parent = tmp.path() / "ro";
  fs::create_directories(parent);
  fs::permissions(parent, fs::perms::owner_read | fs::perms::owner_exec);
  OpenResult r = Store::open(small_options(parent / "data", memtable));
  CHECK(r.failure == OpenFailure::PermissionDenied);
  fs::permissions(parent, fs::perms::owner_all);
}

TEST_CASE("data survives reopen", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  const auto opts = small_options(tmp.path() / "data", memtable);
  {
    auto store = open_ok(opts);
    Batch b = store->new_batch();
    b.put(Cf::Instances, "order-1", "record-1");
    b.put(Cf::Log, offset_key(1), R"({"offset":1})");
    b.put(Cf::Meta, kMetaLatestOffset, u64_value(1));
    REQUIRE_FALSE(store->write(b, true));
  }
  {
    auto store = open_ok(opts);
    CHECK(store->get(Cf::Instances, "order-1") == "record-1");
    CHECK(store->get(Cf::Log, offset_key(1)) == R"({"offset":1})");
    CHECK(decode_u64_value(store->get(Cf::Meta, kMetaLatestOffset).value()) == 1u);
    // Unflushed on purpose: this one comes back from the WAL.
    Batch b = store->new_batch();
    b.put(Cf::Instances, "order-2", "record-2");
    REQUIRE_FALSE(store->write(b, false));
    REQUIRE_FALSE(store->sync_wal());
  }
  auto store = open_ok(opts);
  CHECK(store->get(Cf::Instances, "order-2") == "record-2");
}

TEST_CASE("every column family uses the memtable asked for", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data", memtable));
  // RocksDB writes the options in use to db/OPTIONS-<n>; the newest one counts.
  fs::path newest;
  for (const auto& entry : fs::directory_iterator(tmp.path() / "data" / "db")) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("OPTIONS-") && (newest.empty() || name > newest.filename().string()))
      newest = entry.path();
  }
  REQUIRE_FALSE(newest.empty());
  std::istringstream options(read_file(newest));
  std::vector<std::string> factories;
  for (std::string line; std::getline(options, line);) {
    const auto at = line.find("memtable_factory=");
    if (at != std::string::npos) factories.push_back(line.substr(at + std::strlen("memtable_factory=")));
  }
  const std::string expected =
      memtable == MemtableKind::Ordered ? "RstmdbOrderedMemTable" : "SkipListFactory";
  CHECK(factories == std::vector<std::string>(kCfCount + 1, expected));  // and the default CF
}

TEST_CASE("a data directory written under one memtable opens under the other", "[store]") {
  const MemtableKind first = GENERATE(each_memtable());
  const MemtableKind second = first == MemtableKind::Ordered ? MemtableKind::SkipList : MemtableKind::Ordered;
  CAPTURE(first, second);
  TempDir tmp(kTempPrefix);
  const fs::path dir = tmp.path() / "data";
  {
    auto store = open_ok(small_options(dir, first));
    Batch b = store->new_batch();
    b.put(Cf::Instances, "flushed", "1");
    REQUIRE_FALSE(store->write(b, true));
    REQUIRE_FALSE(store->flush_all());
    Batch c = store->new_batch();
    c.put(Cf::Instances, "in-wal", "2");
    c.delete_range(Cf::Instances, "a", "g");  // covers "flushed", in an SST
    REQUIRE_FALSE(store->write(c, true));
    // A crash-like image (what kill -9 leaves: the synced WAL not yet flushed), whose WAL is
    // replayed into the other memtable at the next open.
    fs::copy(dir, tmp.path() / "image", fs::copy_options::recursive);
  }
  auto store = open_ok(small_options(tmp.path() / "image", second));
  CHECK(store->get(Cf::Instances, "in-wal") == "2");
  CHECK_FALSE(store->get(Cf::Instances, "flushed"));
  CHECK(scan_all(*store, Cf::Instances, "").size() == 1);
}

TEST_CASE("a batch applies puts, deletes and range deletes across column families", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data", memtable));
  {
    Batch b = store->new_batch();
    CHECK(b.empty());
    for (int i = 1; i <= 10; ++i)
      b.put(Cf::Log, offset_key(i), "entry-" + std::to_string(i));
    b.put(Cf::Instances, "a", "A");
    b.put(Cf::Instances, "b", "B");
    b.put(Cf::Index, index_by_machine("order", "a"), "");
    b.put(Cf::Counts, count_key("order", "new"), u64_value(2));
    CHECK_FALSE(b.empty());
    CHECK(b.data_size() > 0);
    REQUIRE_FALSE(store->write(b, true));
  }
  // Nothing of an unwritten batch is visible.
  {
    Batch pending = store->new_batch();
    pending.put(Cf::Instances, "c", "C");
    pending.del(Cf::Instances, "a");
    CHECK_FALSE(store->get(Cf::Instances, "c"));
    CHECK(store->get(Cf::Instances, "a") == "A");
    pending.clear();
    CHECK(pending.empty());
    REQUIRE_FALSE(store->write(pending, true));
    CHECK(store->get(Cf::Instances, "a") == "A");
  }
  Batch b = store->new_batch();
  b.del(Cf::Instances, "a");
  b.put(Cf::Instances, "b", "B2");
  b.delete_range(Cf::Log, offset_key(1), offset_key(6));  // trims 1..5
  b.del(Cf::Index, index_by_machine("order", "a"));
  b.put(Cf::Counts, count_key("order", "new"), u64_value(1));
  Batch moved = std::move(b);
  REQUIRE_FALSE(store->write(moved, true));

  CHECK_FALSE(store->get(Cf::Instances, "a"));
  CHECK(store->get(Cf::Instances, "b") == "B2");
  const auto log = scan_all(*store, Cf::Log, "");
  REQUIRE(log.size() == 5);
  CHECK(decode_offset_key(log.front().first) == 6);
  CHECK(decode_offset_key(log.back().first) == 10);
  CHECK(scan_all(*store, Cf::Index, "").empty());
  CHECK(decode_u64_value(*store->get(Cf::Counts, count_key("order", "new"))) == 1u);
  // Column families are separate key spaces.
  CHECK_FALSE(store->get(Cf::Snapshots, "b"));
}

TEST_CASE("batches from elsewhere are refused", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  auto a = open_ok(small_options(tmp.path() / "a", memtable));
  auto b = open_ok(small_options(tmp.path() / "b", memtable));
  Batch foreign = b->new_batch();
  foreign.put(Cf::Meta, "k", "v");
  CHECK(a->write(foreign, true).has_value());
  Batch unbound;
  CHECK_THROWS_AS(unbound.put(Cf::Meta, "k", "v"), StorageError);
}

TEST_CASE("scan honours prefix, start and early stop", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data", memtable));
  Batch b = store->new_batch();
  for (const char* id : {"i1", "i2", "i3", "i4"})
    b.put(Cf::Index, index_by_machine("order", id), "");
  b.put(Cf::Index, index_by_machine("order2", "j1"), "");
  b.put(Cf::Index, index_by_machine("orde", "k1"), "");
  b.put(Cf::Index, index_by_machine_state("order", "paid", "i2"), "");
  b.put(Cf::Index, std::string("\xFF\xFF", 2), "top");
  REQUIRE_FALSE(store->write(b, false));

  const std::string prefix = index_by_machine_prefix("order");
  auto ids = [&](const std::vector<std::pair<std::string, std::string>>& rows) {
    std::vector<std::string> out;
    for (const auto& [k, v] : rows)
      out.push_back(k.substr(prefix.size()));
    return out;
  };
  CHECK(ids(scan_all(*store, Cf::Index, prefix)) == std::vector<std::string>{"i1", "i2", "i3", "i4"});
  // Paging: start after the last key seen.
  CHECK(ids(scan_all(*store, Cf::Index, prefix, index_by_machine("order", "i2") + '\0')) ==
        std::vector<std::string>{"i3", "i4"});
  // A start below the prefix begins at the prefix.
  CHECK(ids(scan_all(*store, Cf::Index, prefix, "a")).size() == 4);
  // A start beyond the prefix yields nothing.
  CHECK(scan_all(*store, Cf::Index, prefix, prefix_end(prefix)).empty());
  CHECK(ids(scan_all(*store, Cf::Index, prefix, {}, 2)) == std::vector<std::string>{"i1", "i2"});
  CHECK(scan_all(*store, Cf::Index, index_by_machine_state_prefix("order", "paid")).size() == 1);
  // Whole CF, in byte order, and a prefix with no end.
  const auto all = scan_all(*store, Cf::Index, "");
  CHECK(all.size() == 8);
  CHECK(std::is_sorted(all.begin(), all.end()));
  const auto top = scan_all(*store, Cf::Index, std::string("\xFF", 1));
  REQUIRE(top.size() == 1);
  CHECK(top.front().second == "top");
  CHECK(scan_all(*store, Cf::Machines, "").empty());
}

TEST_CASE("scan reads one snapshot while writes continue", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data", memtable));
  Batch b = store->new_batch();
  for (int i = 1; i <= 100; ++i)
    b.put(Cf::Log, offset_key(i), "x");
  REQUIRE_FALSE(store->write(b, false));
  int seen = 0;
  store->scan(Cf::Log, "", "", [&](std::string_view, std::string_view) {
    if (seen == 0) {
      Batch more = store->new_batch();
      for (int i = 101; i <= 200; ++i)
        more.put(Cf::Log, offset_key(i), "y");
      more.delete_range(Cf::Log, offset_key(50), offset_key(60));
      REQUIRE_FALSE(store->write(more, false));
    }
    ++seen;
    return true;
  });
  CHECK(seen == 100);
  CHECK(scan_all(*store, Cf::Log, "").size() == 190);
}

TEST_CASE("cf_files and disk_bytes report what backs the data", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data", memtable));
  // An empty log still reports one segment.
  CHECK(store->cf_files(Cf::Log).file_count == 1);
  CHECK(store->cf_files(Cf::Log).total_bytes == 0);
  CHECK(store->cf_files(Cf::Instances).file_count == 0);

  std::mt19937_64 rng(1);
  Batch b = store->new_batch();
  for (int i = 1; i <= 200; ++i)
    b.put(Cf::Log, offset_key(i), incompressible(rng, 256));
  b.put(Cf::Instances, "a", "A");
  REQUIRE_FALSE(store->write(b, true));
  const auto in_memtable = store->cf_files(Cf::Log);
  CHECK(in_memtable.file_count == 1);
  CHECK(in_memtable.total_bytes >= 200 * 256);

  REQUIRE_FALSE(store->flush_all());
  const auto flushed = store->cf_files(Cf::Log);
  CHECK(flushed.file_count == 1);  // one SST, empty memtable
  CHECK(flushed.total_bytes >= 200 * 256);
  CHECK(store->cf_files(Cf::Instances).file_count == 1);
  CHECK(store->disk_bytes() >= flushed.total_bytes);

  Batch more = store->new_batch();
  more.put(Cf::Log, offset_key(201), "tail");
  REQUIRE_FALSE(store->write(more, true));
  CHECK(store->cf_files(Cf::Log).file_count == 2);
}

TEST_CASE("checkpoint creates a database that opens", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data", memtable));
  Batch b = store->new_batch();
  b.put(Cf::Instances, "order-1", "r1");
  b.put(Cf::Machines, machine_key("order", 1), "m1");
  b.put(Cf::Meta, kMetaLatestOffset, u64_value(7));
  REQUIRE_FALSE(store->write(b, false));  // still in the memtable: the checkpoint must flush

  const fs::path cp = store->data_dir() + "/checkpoints/cp-1";
  REQUIRE_FALSE(store->checkpoint(cp.string()));
  CHECK(store->checkpoint(cp.string()).has_value());  // target exists

  // Restored the way restore does it: a new data dir with FORMAT and the checkpoint as db/.
  Batch after = store->new_batch();
  after.put(Cf::Instances, "order-2", "r2");
  REQUIRE_FALSE(store->write(after, true));
  const fs::path restored = tmp.path() / "restored";
  fs::create_directories(restored);
  write_file(restored / "FORMAT", std::string(kDataFormat) + "\n");
  fs::copy(cp, restored / "db", fs::copy_options::recursive);
  auto copy = open_ok(small_options(restored, memtable));
  CHECK(copy->get(Cf::Instances, "order-1") == "r1");
  CHECK(copy->get(Cf::Machines, machine_key("order", 1)) == "m1");
  CHECK(decode_u64_value(*copy->get(Cf::Meta, kMetaLatestOffset)) == 7u);
  CHECK_FALSE(copy->get(Cf::Instances, "order-2"));
}

TEST_CASE("compact_range reclaims a deleted range", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data", memtable));
  std::mt19937_64 rng(2);
  constexpr int kEntries = 8000;
  for (int start = 1; start <= kEntries; start += 1000) {
    Batch b = store->new_batch();
    for (int i = start; i < start + 1000; ++i)
      b.put(Cf::Log, offset_key(i), incompressible(rng, 512));
    REQUIRE_FALSE(store->write(b, false));
  }
  REQUIRE_FALSE(store->flush_all());
  const auto before = store->cf_files(Cf::Log);
  CHECK(before.total_bytes >= kEntries * 512);

  Batch trim = store->new_batch();
  trim.delete_range(Cf::Log, offset_key(1), offset_key(kEntries - 99));  // keep the last 100
  REQUIRE_FALSE(store->write(trim, true));
  REQUIRE_FALSE(store->compact_range(Cf::Log, offset_key(1), offset_key(kEntries - 99)));
  const auto after = store->cf_files(Cf::Log);
  INFO("before " << before.total_bytes << " after " << after.total_bytes);
  CHECK(after.total_bytes < before.total_bytes / 10);
  const auto left = scan_all(*store, Cf::Log, "");
  REQUIRE(left.size() == 100);
  CHECK(decode_offset_key(left.front().first) == kEntries - 99);

  REQUIRE_FALSE(store->compact_range(Cf::Instances, "", ""));  // whole (empty) CF
}

TEST_CASE("block cache resizes live", "[store]") {
  const MemtableKind memtable = GENERATE(each_memtable());
  CAPTURE(memtable);
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data", memtable));
  store->set_block_cache_mb(1);
  store->set_block_cache_mb(64);
  Batch b = store->new_batch();
  b.put(Cf::Meta, "k", "v");
  REQUIRE_FALSE(store->write(b, false));
  CHECK(store->get(Cf::Meta, "k") == "v");
}

TEST_CASE("a WAL is preallocated with its size, and a copy of the open store recovers every synced write",
          "[store]") {
  TempDir tmp(kTempPrefix);
  const auto opts = small_options(tmp.path() / "data", MemtableKind::Ordered);
  const fs::path db_dir = tmp.path() / "data" / "db";
  constexpr int kWrites = 200;
  std::mt19937_64 rng(11);
  std::vector<std::string> values;
  auto store = open_ok(opts);
  std::uintmax_t written = 0;
  for (int i = 0; i < kWrites; ++i) {
    values.push_back(incompressible(rng, 100));
    Batch b = store->new_batch();
    b.put(Cf::Instances, "order-" + std::to_string(i), values.back());
    REQUIRE_FALSE(store->write(b, true));
    written += values.back().size() + 16;
  }
  fs::path wal;
  for (const auto& e : fs::directory_iterator(db_dir)) {
    if (e.path().extension() == ".log" && fs::file_size(e.path()) > 0) wal = e.path();
  }
  REQUIRE_FALSE(wal.empty());
  // The synced writes fill a few tens of KiB; the file already has its preallocated size
  // (about 1.1 x the 2 MiB write buffer), and what lies past the records reads as zeros.
  const std::uintmax_t wal_size = fs::file_size(wal);
  CHECK(wal_size >= std::uintmax_t{1} << 20);
  CHECK(wal_size > 4 * written);
  const std::string content = read_file(wal);
  CHECK(content.find_first_not_of('\0', content.size() - 4096) == std::string::npos);

  // What kill -9 leaves: the open store's files as they are, zero-filled WAL tail included.
  const fs::path copy_dir = tmp.path() / "copy";
  fs::copy(tmp.path() / "data", copy_dir, fs::copy_options::recursive);
  store.reset();
  for (const auto& e : fs::directory_iterator(db_dir)) {
    // A clean close truncates the WAL to what was written.
    if (e.path().extension() == ".log") CHECK(fs::file_size(e.path()) < wal_size);
  }
  auto recovered = open_ok(small_options(copy_dir, MemtableKind::Ordered));
  for (int i = 0; i < kWrites; ++i) {
    INFO("order-" << i);
    CHECK(recovered->get(Cf::Instances, "order-" + std::to_string(i)) == values[static_cast<std::size_t>(i)]);
  }
}

TEST_CASE("only RocksDB's numbered .log files count as write-ahead logs", "[store]") {
  using rstmdb::storage::WalSizeExtendingFileSystem;
  CHECK(WalSizeExtendingFileSystem::is_wal_file("/data/db/000123.log"));
  CHECK(WalSizeExtendingFileSystem::is_wal_file("000004.log"));
  CHECK_FALSE(WalSizeExtendingFileSystem::is_wal_file("/data/db/LOG"));
  CHECK_FALSE(WalSizeExtendingFileSystem::is_wal_file("/data/db/LOG.old.1700000000"));
  CHECK_FALSE(WalSizeExtendingFileSystem::is_wal_file("/data/db/MANIFEST-000005"));
  CHECK_FALSE(WalSizeExtendingFileSystem::is_wal_file("/data/db/000007.sst"));
  CHECK_FALSE(WalSizeExtendingFileSystem::is_wal_file("/data/db/server.log"));
  CHECK_FALSE(WalSizeExtendingFileSystem::is_wal_file("/data/db/.log"));
}
