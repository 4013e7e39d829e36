// Power cuts under load: the real engine on a real Store on FaultFs (tests/support/fault_fs.hpp),
// 16 writers, the power cut at a random file-system operation, the durable image reopened and
// audited (tests/support/log_audit.hpp), then more load on the reopened image and another cut:
// each chain of cuts runs on one data directory. docs/storage.md "Proving durability".
//
// every_write: every acknowledged write must be in the image. every_n / every_ms acknowledge
// before the sync, so only consistency is checked (gap-free log, log and state agree, every
// acknowledgement still in the log matches it).
//
// Scale: RSTMDB_POWER_CUTS (default 300) is the total number of cuts over the four cases;
// every_write gets two thirds. RSTMDB_POWER_CUT_SEED changes the base seed (default fixed).
// Data lives under RSTMDB_TEST_TMPDIR, else /dev/shm, else the system temp dir: the model does
// not depend on the real disk's fsync, and tmpfs makes it free.
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "storage/keys.hpp"
#include "storage/store.hpp"
#include "support/durable_load.hpp"
#include "support/fault_fs.hpp"
#include "support/log_audit.hpp"
#include "support/temp_dir.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <rocksdb/env.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <random>
#include <string>

using namespace rstmdb;
using test::AckLedger;
using test::FaultEnv;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int kDefaultTotalCuts = 300;
constexpr std::uint64_t kDefaultSeed = 20240611;
// Cuts on one data directory before a fresh one: enough to cut a directory that was itself
// recovered from a cut (with resurrected files and a WAL written after recovery) several times.
constexpr int kCutsPerChain = 4;
constexpr int kWriters = 16;
constexpr int kOpsPerWriter = 40;
// The first epoch's guess of mutating file-system operations in one epoch's load (about 150 on
// the 2-core target: one WAL append and sync per group); an epoch that runs to the end
// without a cut replaces it with what it saw. Cuts are armed uniformly over the estimate.
constexpr std::uint64_t kInitialOpsEstimate = 150;
// One reopened epoch in this many arms its cut during recovery, within its first this many
// mutating operations (RocksDB's recovery of a small image takes about 60).
constexpr std::uint64_t kRecoveryCutOneIn = 4;
constexpr std::uint64_t kRecoveryOps = 60;

struct Totals {
  int cuts = 0;
  int cuts_mid_load = 0;     // taken inside a file-system operation while writers ran
  int cuts_in_recovery = 0;  // taken while the previous image was being reopened
  std::uint64_t acked = 0;
  std::uint64_t acks_checked = 0;
  std::uint64_t acks_lost = 0;  // every_n / every_ms only
  std::uint64_t entries = 0;    // log entries in the last image of each chain
  std::uint64_t bytes_dropped = 0;
  std::uint64_t entries_not_durable = 0;
  std::uint64_t entries_resurrected = 0;
  std::map<std::string, int> cut_in;  // "sync WAL" → cuts taken inside such an operation
};

// "sync 000012.log" → "sync WAL": what kind of operation a cut interrupted.
std::string cut_kind(const std::string& during) {
  if (during.empty()) return "at rest";
  const auto space = during.rfind(' ');
  const std::string op = during.substr(0, space);
  const std::string name = during.substr(space + 1);
  std::string file = name;
  if (name.ends_with(".log")) {
    file = "WAL";
  } else if (name.ends_with(".sst")) {
    file = "SST";
  } else if (name.starts_with("MANIFEST")) {
    file = "MANIFEST";
  } else if (name.ends_with(".dbtmp")) {
    file = "temp file";
  } else if (name.starts_with("OPTIONS")) {
    file = "OPTIONS";
  } else if (op == "fsync dir") {
    file = "";
  }
  return file.empty() ? op : op + " " + file;
}

// A machine put right after reopening: its entry must get the offset after the image's last.
void probe_next_offset(engine::Engine& eng, AckLedger& ledger, std::uint64_t latest, const std::string& tag,
                       const std::function<bool()>& cut) {
  engine::PutMachine p;
  p.machine = "probe-" + tag;
  p.version = 1;
  p.definition = boost::json::parse(R"({"states":["s"],"initial":"s","transitions":[]})");
  std::promise<engine::Result> promise;
  auto future = promise.get_future();
  bool before_cut = false;
  eng.put_machine(p, [&](engine::Result r) {
    before_cut = !cut();
    promise.set_value(std::move(r));
  });
  const auto result = future.get();
  REQUIRE_FALSE(std::holds_alternative<protocol::Error>(result));
  CHECK(eng.latest_offset() == latest + 1);
  if (before_cut) ledger.acked_machine(p.machine, p.version);
}

void run_chain(const config::FsyncPolicy& policy, storage::MemtableKind memtable, std::uint64_t seed,
               int cuts, Totals& totals) {
  const bool all_acks_durable = policy.kind == config::FsyncPolicy::Kind::EveryWrite;
  const TempDir base("rstmdb-powercut", test::scratch_root());
  std::mt19937_64 rng(seed);
  AckLedger ledger;
  fs::path data = base.path() / "d0";
  auto fault = std::make_unique<FaultEnv>(
      test::make_fault_env((data / "db").string(), (base.path() / "shadow0").string()));
  std::uint64_t ops_estimate = kInitialOpsEstimate;
  std::uint64_t latest = 0;
  for (int epoch = 0;; ++epoch) {
    INFO("policy " << policy.to_string() << ", seed " << seed << ", epoch " << epoch);
    auto* ffs = fault->fs.get();
    const fs::path image = base.path() / ("d" + std::to_string(epoch + 1));
    const std::string image_db = (image / "db").string();
    if (epoch < cuts) {
      fs::create_directories(image);
      // Sometimes the power goes while RocksDB recovers the previous image (it writes a new
      // MANIFEST, WAL and OPTIONS file, and deletes the old ones).
      if (epoch > 0 && rng() % kRecoveryCutOneIn == 0)
        ffs->cut_power_at_op(1 + rng() % kRecoveryOps, image_db);
    }
    auto store = test::open_harness_store(data, memtable, fault->env.get());
    // Store::open wrote (and fsynced) FORMAT before RocksDB started: it is in every image.
    if (epoch < cuts) fs::copy_file(data / "FORMAT", image / "FORMAT");
    if (epoch > 0) {
      const auto audit = test::audit_image(*store, ledger, all_acks_durable);
      INFO(audit.failure_text());
      REQUIRE(audit.failures.empty());
      totals.acks_checked += audit.acks_checked;
      totals.acks_lost += audit.acks_lost;
      latest = audit.latest;
    }
    if (epoch == cuts) {
      totals.entries += latest;
      return;
    }

    test::LoadOptions load;
    load.writers = kWriters;
    load.ops_per_writer = kOpsPerWriter;
    load.seed = rng();
    load.tag = "s" + std::to_string(seed) + "e" + std::to_string(epoch);
    const std::function<bool()> cut = [ffs] { return ffs->power_cut(); };
    {
      engine::Engine eng(*store, test::harness_engine_options(policy));
      REQUIRE(eng.latest_offset() == latest);
      if (epoch > 0) probe_next_offset(eng, ledger, latest, load.tag, cut);
      test::setup_load(eng, load, ledger, cut);
      if (ffs->power_cut()) {
        ++totals.cuts_in_recovery;
      } else {
        const std::uint64_t ops_before = ffs->mutating_ops();
        ffs->cut_power_at_op(1 + rng() % ops_estimate, image_db);
        const auto stats = test::run_load(eng, load, ledger, cut);
        totals.acked += stats.acked;
        if (ffs->power_cut()) {
          ++totals.cuts_mid_load;
        } else {
          ffs->cut_power(image_db);  // the load finished first: cut at rest
          ops_estimate = ffs->mutating_ops() - ops_before;
        }
      }
    }  // the engine shuts down on the live files, after the cut
    store.reset();
    const auto report = ffs->last_cut();
    REQUIRE(report);
    INFO(report->error);
    REQUIRE(report->error.empty());
    INFO(ffs->model_errors());
    REQUIRE(ffs->model_errors().empty());
    ++totals.cuts;
    ++totals.cut_in[cut_kind(report->during)];
    totals.bytes_dropped += report->bytes_dropped;
    totals.entries_not_durable += report->entries_not_durable;
    totals.entries_resurrected += report->entries_resurrected;

    fault = std::make_unique<FaultEnv>(
        test::make_fault_env(image_db, (base.path() / ("shadow" + std::to_string(epoch + 1))).string()));
    fs::remove_all(data);
    data = image;
  }
}

void run_power_cuts(const char* name, std::initializer_list<config::FsyncPolicy> policies,
                    storage::MemtableKind memtable, double share, std::uint64_t seed_offset) {
  const auto total = test::env_number("RSTMDB_POWER_CUTS", kDefaultTotalCuts);
  const int cuts = std::max(1, static_cast<int>(static_cast<double>(total) * share + 0.5));
  const std::uint64_t seed = test::env_number("RSTMDB_POWER_CUT_SEED", kDefaultSeed) + seed_offset;
  const auto started = std::chrono::steady_clock::now();
  Totals totals;
  int chain = 0;
  while (totals.cuts < cuts) {
    const auto& policy = *(policies.begin() + chain % static_cast<int>(policies.size()));
    run_chain(policy, memtable, seed + static_cast<std::uint64_t>(chain),
              std::min(kCutsPerChain, cuts - totals.cuts), totals);
    ++chain;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "power cuts [" << name << "]: " << totals.cuts << " cuts (" << totals.cuts_mid_load
            << " during load, " << totals.cuts_in_recovery << " during recovery) in " << chain << " chains, "
            << totals.acked << " acknowledged writes, " << totals.acks_checked << " acknowledgement checks, "
            << totals.acks_lost << " acknowledged-then-lost (allowed), " << totals.entries
            << " log entries in final images, " << totals.bytes_dropped << " unsynced bytes dropped, "
            << totals.entries_not_durable << " entries not durable, " << totals.entries_resurrected
            << " entries resurrected, " << secs << " s\n  cuts taken in:";
  for (const auto& [kind, n] : totals.cut_in)
    std::cout << " " << kind << " " << n << ";";
  std::cout << "\n";
}

config::FsyncPolicy policy(config::FsyncPolicy::Kind kind, std::uint64_t n = 0) {
  config::FsyncPolicy p;
  p.kind = kind;
  p.n = n;
  return p;
}

}  // namespace

TEST_CASE("power cuts under every_write lose no acknowledged write (ordered memtable)") {
  run_power_cuts("every_write, ordered memtable", {policy(config::FsyncPolicy::Kind::EveryWrite)},
                 storage::MemtableKind::Ordered, 1.0 / 3, 0);
}

TEST_CASE("power cuts under every_write lose no acknowledged write (skip-list memtable)") {
  run_power_cuts("every_write, skip-list memtable", {policy(config::FsyncPolicy::Kind::EveryWrite)},
                 storage::MemtableKind::SkipList, 1.0 / 3, 1000);
}

TEST_CASE("power cuts under every_n and every_ms leave a consistent prefix (ordered memtable)") {
  run_power_cuts(
      "every_n/every_ms, ordered memtable",
      {policy(config::FsyncPolicy::Kind::EveryN, 32), policy(config::FsyncPolicy::Kind::EveryMs, 5)},
      storage::MemtableKind::Ordered, 1.0 / 6, 2000);
}

TEST_CASE("power cuts under every_n and every_ms leave a consistent prefix (skip-list memtable)") {
  run_power_cuts(
      "every_n/every_ms, skip-list memtable",
      {policy(config::FsyncPolicy::Kind::EveryN, 32), policy(config::FsyncPolicy::Kind::EveryMs, 5)},
      storage::MemtableKind::SkipList, 1.0 / 6, 3000);
}
