// Differential test of the two memtables of storage.memtable: two real RocksDB instances, one
// on the ordered memtable and one on RocksDB's own skip list, get the same seeded random
// operations (puts, deletes, range deletes, many overwrites of a few keys so new versions take
// the finger path, in-order appends, keys with shared prefixes and zero bytes), with snapshots
// held so old versions stay. At checkpoints every version of every key
// (rocksdb::GetAllKeyVersions) must be the same in both, and so must Get, Seek, SeekForPrev and
// forward and backward iteration at the latest state and at every held snapshot. Some runs
// flush and compact at random points (both databases at the same point, so they keep the same
// versions), others stay in the memtable, where every version written must also be there.
#include "storage/ordered_memtable.hpp"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/debug.h>
#include <rocksdb/write_batch.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace {

using namespace std::string_view_literals;
using Rng = std::mt19937_64;

struct Run {
  std::uint64_t seed;
  int flush_per_mille;  // chance, per batch, of a flush of both databases; 0 = memtable only
};

std::ostream& operator<<(std::ostream& os, const Run& r) {
  return os << "seed " << r.seed << ", flush " << r.flush_per_mille << "/1000 per batch";
}

constexpr int kBatches = 2500;
constexpr int kCheckEvery = 500;
constexpr int kMaxOpsPerBatch = 16;
constexpr std::size_t kMaxSnapshots = 6;
constexpr int kPoolKeys = 300;
constexpr int kHotKeys = 8;
constexpr int kRangeDeletesPerMille = 5;

// Flushes and compactions happen only where the test asks for them, at the same point in both
// databases: a background flush drops the versions no snapshot needs, and would do so at a
// different moment in each.
// In memory (rocksdb::NewMemEnv): the flushes and compactions still write and read real SST
// files, without waiting for a disk.
std::unique_ptr<rocksdb::DB> open_db(rocksdb::Env* env, const std::string& dir,
                                     std::shared_ptr<rocksdb::MemTableRepFactory> factory) {
  rocksdb::Options o;
  o.env = env;
  o.create_if_missing = true;
  o.allow_concurrent_memtable_write = false;
  o.memtable_factory = std::move(factory);
  o.write_buffer_size = 256u << 20;  // far above what a run writes
  o.disable_auto_compactions = true;
  o.level0_slowdown_writes_trigger = 1 << 20;
  o.level0_stop_writes_trigger = 1 << 20;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(o, dir, &raw);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return std::unique_ptr<rocksdb::DB>(raw);
}

// Keys built from pieces that share prefixes and hold zero and 0xFF bytes; "" is a key too.
std::string random_key(Rng& rng) {
  static constexpr std::string_view kPieces[] = {
      ""sv,
      "\0"sv,
      "\0\0"sv,
      "a"sv,
      "ab"sv,
      "b"sv,
      "\xff"sv,
      "k"sv,
      "k\0"sv,
      "instance/"sv,
      "instance/order-"sv,
  };
  std::string k;
  for (int n = static_cast<int>(rng() % 4); n > 0; --n)
    k += kPieces[rng() % std::size(kPieces)];
  if (rng() % 2 == 0) k += std::to_string(rng() % 40);
  return k;
}

std::string random_value(Rng& rng, std::uint64_t op) {
  std::string v = "v" + std::to_string(op);
  for (std::size_t n = rng() % 64; n > 0; --n)
    v.push_back(static_cast<char>(rng() % 4 == 0 ? 0 : rng()));
  return v;
}

std::string shown(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
      out += hex;
    }
  }
  return out;
}

using Version = std::tuple<std::string, std::uint64_t, int, std::string>;  // key, sequence, type, value

std::vector<Version> all_versions(rocksdb::DB& db) {
  std::vector<rocksdb::KeyVersion> raw;
  const rocksdb::Status s = rocksdb::GetAllKeyVersions(&db, rocksdb::Slice(), rocksdb::Slice(),
                                                       std::numeric_limits<std::size_t>::max(), &raw);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::vector<Version> out;
  out.reserve(raw.size());
  for (auto& v : raw)
    out.emplace_back(std::move(v.user_key), v.sequence, v.type, std::move(v.value));
  return out;
}

std::string describe(const Version& v) {
  return "\"" + shown(std::get<0>(v)) + "\" seq " + std::to_string(std::get<1>(v)) + " type " +
         std::to_string(std::get<2>(v)) + " value \"" + shown(std::get<3>(v)) + "\"";
}

// "" if equal, else where the lists first differ.
std::string first_difference(const std::vector<Version>& a, const std::vector<Version>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return "at " + std::to_string(i) + ": " + describe(a[i]) + " vs " + describe(b[i]);
  }
  if (a.size() != b.size()) {
    return "lengths " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + "; next " +
           describe(a.size() > n ? a[n] : b[n]);
  }
  return "";
}

// Everything a reader can observe through one database at `snapshot` (null = latest), as text,
// so that two databases can be compared with one string comparison and a readable diff.
class Observation {
 public:
  void add(std::string_view what, const rocksdb::Iterator& it) {
    lines_.push_back(std::string(what) + (it.Valid() ? " -> \"" + shown(it.key().ToString()) + "\" = \"" +
                                                           shown(it.value().ToString()) + "\""
                                                     : " -> end"));
  }
  void add(std::string line) { lines_.push_back(std::move(line)); }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

Observation observe(rocksdb::DB& db, const rocksdb::Snapshot* snapshot, const std::vector<std::string>& keys,
                    const std::vector<std::string>& probes) {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  Observation obs;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(ro));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    obs.add("next", *it);
  obs.add("forward end, status " + it->status().ToString());
  for (it->SeekToLast(); it->Valid(); it->Prev())
    obs.add("prev", *it);
  obs.add("backward end, status " + it->status().ToString());
  for (const std::string& k : keys) {
    std::string value;
    const rocksdb::Status s = db.Get(ro, k, &value);
    obs.add("get \"" + shown(k) + "\": " + s.ToString() + (s.ok() ? " \"" + shown(value) + "\"" : ""));
  }
  for (const std::string& p : probes) {
    const std::string at = "\"" + shown(p) + "\"";
    it->Seek(p);
    obs.add("seek " + at, *it);
    for (int i = 0; i < 3 && it->Valid(); ++i) {
      it->Next();
      obs.add("  next", *it);
    }
    if (it->Valid()) {
      it->Prev();
      obs.add("  prev", *it);
    }
    it->SeekForPrev(p);
    obs.add("seek_for_prev " + at, *it);
    for (int i = 0; i < 3 && it->Valid(); ++i) {
      it->Prev();
      obs.add("  prev", *it);
    }
    if (it->Valid()) {
      it->Next();
      obs.add("  next", *it);
    }
  }
  REQUIRE(it->status().ok());
  return obs;
}

void require_same(const Observation& ordered, const Observation& skiplist, std::string_view where) {
  const auto& a = ordered.lines();
  const auto& b = skiplist.lines();
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) {
      FAIL(where << ": reads differ at line " << i << ":\n  ordered:  " << a[i] << "\n  skiplist: " << b[i]);
    }
  }
  if (a.size() != b.size()) FAIL(where << ": " << a.size() << " vs " << b.size() << " lines");
}

// What a memtable-only database must hold: every point write, except those a later range
// deletion covers (GetAllKeyVersions reads at the newest sequence, which hides them), in
// internal-key order.
class Model {
 public:
  void write(const std::string& key, std::uint64_t sequence, int type, std::string value) {
    versions_[key].emplace_back(key, sequence, type, std::move(value));
  }
  // Everything written so far in [begin, end) is older than the deletion: hidden for good.
  void delete_range(const std::string& begin, const std::string& end) {
    versions_.erase(versions_.lower_bound(begin), versions_.lower_bound(end));
  }
  std::vector<Version> expected_versions() const {
    std::vector<Version> out;
    for (const auto& [key, versions] : versions_)
      out.insert(out.end(), versions.rbegin(), versions.rend());  // newest first
    return out;
  }
  std::uint64_t last_sequence = 0;

 private:
  std::map<std::string, std::vector<Version>> versions_;  // per key, oldest first
};

constexpr int kTypeDeletion = 0;
constexpr int kTypeValue = 1;

}  // namespace

TEST_CASE(
    "memtable differential: the ordered memtable and RocksDB's skip list hold and read the same versions") {
  const Run run = GENERATE(Run{1, 0}, Run{2, 0}, Run{11, 8}, Run{12, 40});
  CAPTURE(run);
  const std::unique_ptr<rocksdb::Env> env(rocksdb::NewMemEnv(rocksdb::Env::Default()));
  auto ordered = open_db(env.get(), "/ordered", std::make_shared<rstmdb::storage::OrderedMemTableFactory>());
  auto skiplist = open_db(env.get(), "/skiplist", std::make_shared<rocksdb::SkipListFactory>());
  rocksdb::DB* const dbs[] = {ordered.get(), skiplist.get()};
  const bool memtable_only = run.flush_per_mille == 0;

  Rng rng(run.seed);
  std::vector<std::string> pool;
  {
    std::set<std::string> unique;
    while (unique.size() < kPoolKeys)
      unique.insert(random_key(rng));
    pool.assign(unique.begin(), unique.end());
    std::shuffle(pool.begin(), pool.end(), rng);
  }
  const std::vector<std::string> hot(pool.begin(), pool.begin() + kHotKeys);
  std::vector<std::string> sorted_pool = pool;
  std::sort(sorted_pool.begin(), sorted_pool.end());
  std::vector<std::string> appended;  // "~log/%08d", written in ascending order
  // Snapshots of both databases, taken at the same point; released before the databases close
  // (RocksDB asserts that), also when a check fails.
  std::vector<std::pair<const rocksdb::Snapshot*, const rocksdb::Snapshot*>> snapshots;
  struct ReleaseSnapshots {
    std::vector<std::pair<const rocksdb::Snapshot*, const rocksdb::Snapshot*>>& held;
    rocksdb::DB& a;
    rocksdb::DB& b;
    ~ReleaseSnapshots() {
      for (const auto& [x, y] : held) {
        a.ReleaseSnapshot(x);
        b.ReleaseSnapshot(y);
      }
    }
  } release_snapshots{snapshots, *ordered, *skiplist};
  Model model;
  std::uint64_t op = 0;
  int flushes = 0;

  auto check = [&](int batch) {
    const std::string where = "after batch " + std::to_string(batch);
    INFO(where);
    const std::vector<Version> versions = all_versions(*ordered);
    const std::string diff = first_difference(versions, all_versions(*skiplist));
    INFO("ordered vs skiplist versions: " << diff);
    REQUIRE(diff.empty());
    if (memtable_only) {
      const std::string model_diff = first_difference(versions, model.expected_versions());
      INFO("ordered vs every write: " << model_diff);
      REQUIRE(model_diff.empty());
    }
    std::vector<std::string> keys(pool.begin(), pool.begin() + kPoolKeys / 2);  // the hot keys among them
    for (std::size_t i = 0; i < appended.size(); i += 13)
      keys.push_back(appended[i]);
    keys.push_back("~log/");  // absent, between the pool and the appended keys
    std::vector<std::string> probes;
    for (int i = 0; i < 20; ++i)
      probes.push_back(random_key(rng));
    for (int i = 0; i < 10; ++i)
      probes.push_back(pool[rng() % pool.size()] + std::string(1, '\0'));
    probes.push_back("~log/");
    probes.push_back("\xff\xff\xff");
    require_same(observe(*ordered, nullptr, keys, probes), observe(*skiplist, nullptr, keys, probes), where);
    for (std::size_t i = 0; i < snapshots.size(); ++i) {
      const auto [a, b] = snapshots[i];
      require_same(observe(*ordered, a, keys, probes), observe(*skiplist, b, keys, probes),
                   where + ", snapshot " + std::to_string(i) + " (sequence " +
                       std::to_string(a->GetSequenceNumber()) + ")");
    }
  };

  for (int batch = 1; batch <= kBatches; ++batch) {
    rocksdb::WriteBatch wb;
    const int ops = 1 + static_cast<int>(rng() % kMaxOpsPerBatch);
    for (int i = 0; i < ops; ++i) {
      ++op;
      const auto dice = rng() % 1000;
      const std::uint64_t seq = ++model.last_sequence;
      if (dice < kRangeDeletesPerMille) {
        // A narrow range, a few pool keys wide: every read in RocksDB 7.8 fragments all the
        // memtable's range tombstones, and wide ones would leave few versions to compare.
        const std::size_t i = rng() % sorted_pool.size();
        const std::string& b = sorted_pool[i];
        const std::string e = i + 3 < sorted_pool.size() ? sorted_pool[i + 1 + rng() % 3] : b + '\0';
        REQUIRE(wb.DeleteRange(b, e).ok());
        model.delete_range(b, e);
        continue;
      }
      std::string key;
      if (dice < 350) {
        key = hot[rng() % hot.size()];  // long chains of versions of the same keys
      } else if (dice < 450) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "~log/%08llu", static_cast<unsigned long long>(op));
        key = buf;
        appended.push_back(key);
      } else {
        key = pool[rng() % pool.size()];
      }
      if (dice >= 450 && dice < 620) {
        REQUIRE(wb.Delete(key).ok());
        model.write(key, seq, kTypeDeletion, "");
      } else {
        std::string value = random_value(rng, op);
        REQUIRE(wb.Put(key, value).ok());
        model.write(key, seq, kTypeValue, std::move(value));
      }
    }
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    for (rocksdb::DB* db : dbs) {
      rocksdb::WriteBatch copy(wb);
      REQUIRE(db->Write(wo, &copy).ok());
      REQUIRE(db->GetLatestSequenceNumber() == model.last_sequence);
    }

    if (rng() % 100 < 4) {
      if (snapshots.size() == kMaxSnapshots || (!snapshots.empty() && rng() % 3 == 0)) {
        const std::size_t i = rng() % snapshots.size();
        ordered->ReleaseSnapshot(snapshots[i].first);
        skiplist->ReleaseSnapshot(snapshots[i].second);
        snapshots.erase(snapshots.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        snapshots.emplace_back(ordered->GetSnapshot(), skiplist->GetSnapshot());
        REQUIRE(snapshots.back().first->GetSequenceNumber() == snapshots.back().second->GetSequenceNumber());
      }
    }
    if (!memtable_only && static_cast<int>(rng() % 1000) < run.flush_per_mille) {
      const bool compact = rng() % 4 == 0;
      for (rocksdb::DB* db : dbs) {
        REQUIRE(db->Flush(rocksdb::FlushOptions()).ok());
        if (compact) REQUIRE(db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
      }
      ++flushes;
    }
    if (batch % kCheckEvery == 0) check(batch);
  }
  if (memtable_only) {
    std::string files;
    REQUIRE(ordered->GetProperty("rocksdb.num-files-at-level0", &files));
    CHECK(files == "0");  // the whole run stayed in the memtable
  } else {
    CHECK(flushes > 0);
  }
}
