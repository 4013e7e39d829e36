// read_db_summary (storage/db_summary.hpp) and DataDirLock (storage/store.hpp): what backup,
// verify-backup and restore read from a database directory, and the lock they take.
#include "storage/db_summary.hpp"
#include "storage/keys.hpp"
#include "storage/records.hpp"
#include "storage/store.hpp"
#include "support/temp_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

using namespace rstmdb::storage;
namespace fs = std::filesystem;

namespace {

using rstmdb::test::TempDir;

// Each test's directory: rstmdb::test::TempDir named rstmdb-summary-test-*.
constexpr const char* kTempPrefix = "rstmdb-summary-test";

StoreOptions small_options(const fs::path& dir) {
  StoreOptions o;
  o.data_dir = dir.string();
  o.block_cache_mb = 8;
  o.max_open_files = 256;
  o.write_buffer_mb = 1;  // small memtables: the load test below flushes often
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

// Writes what one engine commit writes for an instance moving to `state` at `offset`: the
// instance record, its counter(s), the log entry and latest_offset, in one batch. Returns
// false if the write failed (no Catch assertion here: the load test calls it from a thread).
bool try_commit(Store& store, std::map<std::pair<std::string, std::string>, std::uint64_t>& counts,
                std::map<std::string, std::string>& states, const std::string& id, const std::string& state,
                std::uint64_t offset) {
  Batch b = store.new_batch();
  InstanceRecord r;
  r.machine = "m";
  r.version = 1;
  r.state = state;
  r.ctx_json = "{\"pad\":\"" + std::string(200, 'x') + "\"}";
  r.last_wal_offset = offset;
  if (auto it = states.find(id); it != states.end()) {
    auto& before = counts[{"m", it->second}];
    --before;
    b.put(Cf::Counts, count_key("m", it->second), u64_value(before));
  }
  states[id] = state;
  auto& after = counts[{"m", state}];
  ++after;
  b.put(Cf::Counts, count_key("m", state), u64_value(after));
  b.put(Cf::Instances, id, encode_instance(r));
  b.put(Cf::Log, offset_key(offset), "{\"offset\":" + std::to_string(offset) + "}");
  b.put(Cf::Meta, kMetaLatestOffset, u64_value(offset));
  return !store.write(b, false).has_value();
}

void commit(Store& store, std::map<std::pair<std::string, std::string>, std::uint64_t>& counts,
            std::map<std::string, std::string>& states, const std::string& id, const std::string& state,
            std::uint64_t offset) {
  REQUIRE(try_commit(store, counts, states, id, state, offset));
}

// Name, size and modification time of every file under `dir`.
std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> listing(const fs::path& dir) {
  std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    REQUIRE(::lstat(e.path().c_str(), &st) == 0);
    out[fs::relative(e.path(), dir).string()] = {static_cast<std::uintmax_t>(st.st_size),
                                                 st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
  }
  return out;
}

}  // namespace

TEST_CASE("the summary of a checkpoint is read from the checkpoint", "[summary]") {
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data"));
  std::map<std::pair<std::string, std::string>, std::uint64_t> counts;
  std::map<std::string, std::string> states;
  Batch m = store->new_batch();
  m.put(Cf::Machines, machine_key("m", 1), encode_machine({"{}", "c", 1}));
  m.put(Cf::Machines, machine_key("m", 2), encode_machine({"{}", "c", 2}));
  REQUIRE_FALSE(store->write(m, false));
  commit(*store, counts, states, "a", "open", 1);
  commit(*store, counts, states, "b", "open", 2);
  commit(*store, counts, states, "a", "done", 3);
  const fs::path cp = tmp.path() / "data" / "checkpoints" / "one";
  REQUIRE_FALSE(store->checkpoint(cp.string()));
  commit(*store, counts, states, "c", "open", 4);  // after the checkpoint: not in it

  SummaryOptions full;
  full.verify_checksums = true;
  full.cross_check = true;
  const DbSummary s = read_db_summary(cp.string(), full);
  CHECK(s.latest_offset == 3);
  CHECK(s.oldest_offset == 1);
  CHECK(s.machines == 2);
  CHECK(s.instances == 2);
}

TEST_CASE("reading a summary writes nothing into the directory", "[summary]") {
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data"));
  std::map<std::pair<std::string, std::string>, std::uint64_t> counts;
  std::map<std::string, std::string> states;
  for (std::uint64_t i = 1; i <= 50; ++i)
    commit(*store, counts, states, "i" + std::to_string(i % 7), i % 2 ? "open" : "done", i);
  const fs::path cp = tmp.path() / "cp";
  REQUIRE_FALSE(store->checkpoint(cp.string()));
  store.reset();
  const auto before = listing(cp);
  // Read-only, also for the directory itself: RocksDB must not even need to create a file.
  REQUIRE(::chmod(cp.c_str(), 0500) == 0);
  SummaryOptions full;
  full.verify_checksums = true;
  full.cross_check = true;
  bool lines = false;
  full.log_sink = [&](RocksLogLevel, std::string_view) { lines = true; };
  const DbSummary s = read_db_summary(cp.string(), full);
  REQUIRE(::chmod(cp.c_str(), 0700) == 0);
  CHECK(s.latest_offset == 50);
  CHECK(listing(cp) == before);
  CHECK(lines);  // RocksDB's lines went to the sink, not to a LOG file
  CHECK_FALSE(fs::exists(cp / "LOG"));
}

TEST_CASE("a checkpoint taken under concurrent writes holds a prefix of the commits", "[summary]") {
  // The writer commits as the engine does (one batch per commit, spanning column families);
  // each checkpoint must open as one commit point: counters equal to the records, the log
  // ending at latest_offset. With 1 MiB memtables the checkpoints catch flushes in progress
  // and a WAL tail after the checkpoint's own flush.
  TempDir tmp(kTempPrefix);
  auto store = open_ok(small_options(tmp.path() / "data"));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> committed{0};
  std::atomic<bool> write_failed{false};
  std::thread writer([&] {
    std::map<std::pair<std::string, std::string>, std::uint64_t> counts;
    std::map<std::string, std::string> states;
    static const char* kStates[] = {"a", "b", "c"};
    for (std::uint64_t offset = 1; !stop.load(); ++offset) {
      if (!try_commit(*store, counts, states, "inst-" + std::to_string(offset % 500), kStates[offset % 3],
                      offset)) {
        write_failed = true;
        return;
      }
      committed.store(offset);
    }
  });
  std::vector<DbSummary> seen;
  bool had_wal = false;
  for (int i = 0; i < 8; ++i) {
    while (committed.load() < static_cast<std::uint64_t>(2000 * (i + 1)) && !write_failed.load())
      std::this_thread::yield();
    REQUIRE_FALSE(write_failed.load());
    const std::uint64_t before = committed.load();
    const fs::path cp = tmp.path() / ("cp-" + std::to_string(i));
    REQUIRE_FALSE(store->checkpoint(cp.string()));
    for (const auto& e : fs::directory_iterator(cp))
      had_wal = had_wal || e.path().extension() == ".log";
    SummaryOptions full;
    full.cross_check = true;
    const DbSummary s = read_db_summary(cp.string(), full);
    // Every commit finished before the checkpoint started is in it.
    CHECK(s.latest_offset >= before);
    seen.push_back(s);
  }
  stop = true;
  writer.join();
  CHECK(had_wal);
  for (std::size_t i = 1; i < seen.size(); ++i)
    CHECK(seen[i].latest_offset >= seen[i - 1].latest_offset);
}

TEST_CASE("a directory that is not an rstmdb-cpp database is refused", "[summary]") {
  TempDir tmp(kTempPrefix);
  SECTION("missing") {
    CHECK_THROWS_AS(read_db_summary((tmp.path() / "nothing").string()), StorageError);
  }
  SECTION("a damaged SST fails checksum verification") {
    auto store = open_ok(small_options(tmp.path() / "data"));
    std::map<std::pair<std::string, std::string>, std::uint64_t> counts;
    std::map<std::string, std::string> states;
    for (std::uint64_t i = 1; i <= 200; ++i)
      commit(*store, counts, states, "i" + std::to_string(i), "open", i);
    const fs::path cp = tmp.path() / "cp";
    REQUIRE_FALSE(store->checkpoint(cp.string()));
    store.reset();
    fs::path biggest;
    for (const auto& e : fs::directory_iterator(cp)) {
      if (e.path().extension() == ".sst" &&
          (biggest.empty() || fs::file_size(e.path()) > fs::file_size(biggest)))
        biggest = e.path();
    }
    REQUIRE_FALSE(biggest.empty());
    {
      std::fstream f(biggest, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(100);
      char c = 0;
      f.read(&c, 1);
      f.seekp(100);
      c = static_cast<char>(c ^ 0x01);
      f.write(&c, 1);
    }
    SummaryOptions verify;
    verify.verify_checksums = true;
    try {
      read_db_summary(cp.string(), verify);
      FAIL("a flipped bit passed checksum verification");
    } catch (const StorageError& e) {
      CHECK(e.kind() == StorageError::Kind::Corruption);
    }
  }
  SECTION("counters that disagree with the records fail the cross-check") {
    auto store = open_ok(small_options(tmp.path() / "data"));
    std::map<std::pair<std::string, std::string>, std::uint64_t> counts;
    std::map<std::string, std::string> states;
    commit(*store, counts, states, "x", "open", 1);
    Batch b = store->new_batch();
    b.put(Cf::Counts, count_key("m", "open"), u64_value(5));
    REQUIRE_FALSE(store->write(b, false));
    const fs::path cp = tmp.path() / "cp";
    REQUIRE_FALSE(store->checkpoint(cp.string()));
    CHECK(read_db_summary(cp.string()).instances == 5);  // without the cross-check: as stored
    SummaryOptions full;
    full.cross_check = true;
    CHECK_THROWS_WITH(read_db_summary(cp.string(), full),
                      Catch::Matchers::Contains("instance counters disagree with the instance records"));
  }
  SECTION("a log that does not end at latest_offset fails the cross-check") {
    auto store = open_ok(small_options(tmp.path() / "data"));
    Batch b = store->new_batch();
    b.put(Cf::Log, offset_key(1), "{}");
    b.put(Cf::Meta, kMetaLatestOffset, u64_value(2));
    REQUIRE_FALSE(store->write(b, false));
    const fs::path cp = tmp.path() / "cp";
    REQUIRE_FALSE(store->checkpoint(cp.string()));
    SummaryOptions full;
    full.cross_check = true;
    CHECK_THROWS_WITH(read_db_summary(cp.string(), full),
                      Catch::Matchers::Contains("log ends at offset 1 but latest_offset is 2"));
  }
}

TEST_CASE("DataDirLock excludes servers and other tools", "[lock]") {
  TempDir tmp(kTempPrefix);
  const fs::path dir = tmp.path() / "data";
  fs::create_directories(dir);
  {
    LockResult held = DataDirLock::acquire(dir.string());
    INFO(held.message);
    REQUIRE(held.lock);
    CHECK(read_file(dir / "rstmdbd.lock") == std::to_string(::getpid()) + "\n");
    LockResult second = DataDirLock::acquire(dir.string());
    CHECK_FALSE(second.lock);
    CHECK(second.failure == OpenFailure::Locked);
    CHECK(second.message == "data directory " + dir.string() + " is in use by another rstmdbd (pid " +
                                std::to_string(::getpid()) + ")");
    OpenResult server = Store::open(small_options(dir));
    CHECK_FALSE(server.store);
    CHECK(server.failure == OpenFailure::Locked);
    // Moving the lock keeps it held.
    DataDirLock moved = std::move(*held.lock);
    held.lock.reset();
    CHECK_FALSE(DataDirLock::acquire(dir.string()).lock);
  }
  CHECK(DataDirLock::acquire(dir.string()).lock);  // released with its owner
  {
    auto store = open_ok(small_options(dir));
    LockResult beside_server = DataDirLock::acquire(dir.string());
    CHECK(beside_server.failure == OpenFailure::Locked);
  }
  LockResult missing = DataDirLock::acquire((tmp.path() / "absent").string());
  CHECK_FALSE(missing.lock);
  CHECK(missing.failure == OpenFailure::CannotCreate);
}
