// Readers on a live memtable while its single writer inserts, for both memtables of
// storage.memtable. The writer applies a schedule fixed before the threads start: batch g (the
// "generation") writes new versions of keys already there (the ordered memtable's finger path),
// keys never seen before (searched from the head), keys appended in ascending order (the tail
// path), and the key kGenKey = g. Every value is a function of its key and the generation that
// wrote it, so a reader that knows the generation G of what it reads (kGenKey, read at the same
// snapshot) knows the exact expected contents: which keys exist, in which order, with which
// value. Readers check Get at a snapshot and at the latest state, full forward and backward
// iteration, and Seek / SeekForPrev followed by Next and Prev steps, all against that model; a
// torn entry, a node seen before it is complete, a skipped or repeated node or an older version
// shows up as a mismatch. Also run under ThreadSanitizer (cmake -DRSTMDB_TSAN=ON).
#include "storage/ordered_memtable.hpp"
#include "storage/store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using rstmdb::storage::MemtableKind;

constexpr int kGenerations = 1500;
constexpr int kReaders = 3;
constexpr int kMaxOverwritesPerBatch = 8;
constexpr int kMaxNewKeysPerBatch = 2;
constexpr int kMaxErrorsKept = 10;
// Bounds the writer's wait for the readers (they normally answer within milliseconds).
constexpr auto kReaderTimeout = std::chrono::seconds(60);
const std::string kGenKey = "#gen";  // sorts before every scheduled key

// The writer's whole schedule, fixed before any thread starts and only read afterwards.
class Schedule {
 public:
  explicit Schedule(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<int> existing;
    for (int g = 1; g <= kGenerations; ++g) {
      std::vector<int> batch;
      const int overwrites = existing.empty() ? 0 : static_cast<int>(rng() % (kMaxOverwritesPerBatch + 1));
      for (int i = 0; i < overwrites; ++i)
        batch.push_back(existing[rng() % existing.size()]);
      for (int n = static_cast<int>(rng() % (kMaxNewKeysPerBatch + 1)); n > 0; --n)
        batch.push_back(add_key(random_key(rng), existing));
      if (g % 3 == 0) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "~log/%08d", g);
        batch.push_back(add_key(buf, existing));
      }
      std::sort(batch.begin(), batch.end());
      batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
      std::shuffle(batch.begin(), batch.end(), rng);
      for (int k : batch)
        gens_[static_cast<std::size_t>(k)].push_back(g);
      batches_.push_back(std::move(batch));
    }
    sorted_.resize(keys_.size());
    for (std::size_t i = 0; i < keys_.size(); ++i)
      sorted_[i] = static_cast<int>(i);
    std::sort(sorted_.begin(), sorted_.end(), [&](int a, int b) { return key(a) < key(b); });
  }

  const std::vector<int>& batch(int g) const { return batches_[static_cast<std::size_t>(g - 1)]; }
  const std::string& key(int k) const { return keys_[static_cast<std::size_t>(k)]; }
  // Key indices in key order.
  const std::vector<int>& sorted() const { return sorted_; }

  // The generation that wrote the version of `k` visible at generation g, or 0 if none.
  int version_at(int k, int g) const {
    const auto& v = gens_[static_cast<std::size_t>(k)];
    const auto it = std::upper_bound(v.begin(), v.end(), g);
    return it == v.begin() ? 0 : *std::prev(it);
  }

  // The value generation g writes for `k`: the key, the generation, and a length that varies.
  static std::string value(const std::string& key, int g) {
    std::string v = key + "@" + std::to_string(g) + "#";
    v.append(static_cast<std::size_t>((g * 31 + key.size() * 7) % 97), static_cast<char>('a' + g % 26));
    return v;
  }

 private:
  static std::string random_key(std::mt19937_64& rng) {
    static const char* const kPrefixes[] = {"instance/", "instance/order-", "idx/by-state/",
                                            "idx/by-machine/", "k"};
    std::string k = kPrefixes[rng() % std::size(kPrefixes)];
    k += std::to_string(rng() % 100000);
    if (rng() % 4 == 0) k.push_back('\0');
    return k;
  }

  // The index of key `k`, new or already scheduled.
  int add_key(std::string k, std::vector<int>& existing) {
    const auto [it, added] = index_.emplace(k, static_cast<int>(keys_.size()));
    if (added) {
      keys_.push_back(std::move(k));
      gens_.emplace_back();
      existing.push_back(it->second);
    }
    return it->second;
  }

  std::vector<std::string> keys_;
  std::vector<std::vector<int>> gens_;  // per key, ascending generations that wrote it
  std::vector<std::vector<int>> batches_;
  std::vector<int> sorted_;
  std::map<std::string, int> index_;
};

// Reader threads may not use Catch's assertions; they report here.
class Errors {
 public:
  void add(std::string e) {
    std::lock_guard lock(mutex_);
    ++count_;
    if (kept_.size() < kMaxErrorsKept) kept_.push_back(std::move(e));
  }
  int count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& e : kept_)
      out += e + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> kept_;
  int count_ = 0;
};

std::string shown(const rocksdb::Iterator& it) {
  if (!it.Valid()) return "(end)";
  std::string k = it.key().ToString();
  for (char& c : k)
    if (c == '\0') c = '0';
  return "\"" + k + "\"";
}

// One reader's checks, repeated until the writer is done.
class Reader {
 public:
  Reader(rocksdb::DB& db, const Schedule& schedule, Errors& errors, std::uint64_t seed)
      : db_(db), schedule_(schedule), errors_(errors), rng_(seed) {}

  void round() {
    const rocksdb::Snapshot* snapshot = db_.GetSnapshot();
    rocksdb::ReadOptions at;
    at.snapshot = snapshot;
    const int g = generation(at);
    check_gets(at, g);
    check_iteration(at, g);
    db_.ReleaseSnapshot(snapshot);
    // An iterator's implicit snapshot: it reads kGenKey itself.
    std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(rocksdb::ReadOptions()));
    it->Seek(kGenKey);
    const int implicit = it->Valid() && it->key() == kGenKey ? std::stoi(it->value().ToString()) : 0;
    if (implicit < g)
      fail("implicit snapshot at generation " + std::to_string(implicit) + " after " + std::to_string(g));
    check_scan(*it, implicit);
    check_latest_gets(implicit);
  }

 private:
  int generation(const rocksdb::ReadOptions& ro) {
    std::string v;
    const rocksdb::Status s = db_.Get(ro, kGenKey, &v);
    if (s.IsNotFound()) return 0;
    if (!s.ok()) {
      fail("get " + kGenKey + ": " + s.ToString());
      return 0;
    }
    return std::stoi(v);
  }

  // Expected: key index `k` exists at g, with this value.
  bool present(int k, int g) const { return schedule_.version_at(k, g) != 0; }
  std::string expected_value(int k, int g) const {
    return Schedule::value(schedule_.key(k), schedule_.version_at(k, g));
  }

  void check_gets(const rocksdb::ReadOptions& ro, int g) {
    const auto& sorted = schedule_.sorted();
    for (int i = 0; i < 50; ++i) {
      const int k = sorted[rng_() % sorted.size()];
      std::string v;
      const rocksdb::Status s = db_.Get(ro, schedule_.key(k), &v);
      if (!present(k, g)) {
        if (!s.IsNotFound())
          fail("get of a key not yet written: " + s.ToString() + " at generation " + std::to_string(g));
      } else if (!s.ok() || v != expected_value(k, g)) {
        fail("get at generation " + std::to_string(g) + ": " + s.ToString() + " \"" + v + "\", expected \"" +
             expected_value(k, g) + "\"");
      }
    }
  }

  // Latest state: at least generation g, and never older than this reader saw before.
  void check_latest_gets(int g) {
    const auto& sorted = schedule_.sorted();
    for (int i = 0; i < 20; ++i) {
      const int k = sorted[rng_() % sorted.size()];
      std::string v;
      const rocksdb::Status s = db_.Get(rocksdb::ReadOptions(), schedule_.key(k), &v);
      if (s.IsNotFound()) {
        if (present(k, g)) fail("latest get lost a key present at generation " + std::to_string(g));
        continue;
      }
      const auto at = v.rfind('@');
      const int version = at == std::string::npos ? -1 : std::atoi(v.c_str() + at + 1);
      if (!s.ok() || version < schedule_.version_at(k, g) ||
          v != Schedule::value(schedule_.key(k), version) || schedule_.version_at(k, version) != version) {
        fail("latest get: " + s.ToString() + " \"" + v + "\" for a key at version " +
             std::to_string(schedule_.version_at(k, g)) + " by generation " + std::to_string(g));
      }
    }
  }

  // Forward and backward over everything, and Seek / SeekForPrev with steps both ways.
  void check_iteration(const rocksdb::ReadOptions& ro, int g) {
    std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(ro));
    check_scan(*it, g);
    const std::vector<int> live = live_keys(g);
    for (int i = 0; i < 8; ++i) {
      const int probe_index = schedule_.sorted()[rng_() % schedule_.sorted().size()];
      std::string probe = schedule_.key(probe_index);
      if (rng_() % 2 == 0) probe.push_back('\0');  // between keys
      // Index in `live` of the first key >= probe.
      const auto lb = static_cast<std::ptrdiff_t>(
          std::lower_bound(live.begin(), live.end(), probe,
                           [&](int k, const std::string& p) { return schedule_.key(k) < p; }) -
          live.begin());
      it->Seek(probe);
      for (std::ptrdiff_t pos = lb, steps = 0; steps < 4; ++pos, ++steps) {
        if (!expect_at(*it, live, pos, g, "seek")) break;
        if (pos < 0 || pos >= static_cast<std::ptrdiff_t>(live.size())) break;
        it->Next();
      }
      it->Seek(probe);
      if (it->Valid()) {
        it->Prev();
        expect_at(*it, live, lb - 1, g, "seek then prev");
      }
      // SeekForPrev: the last key <= probe.
      const bool exact = lb < static_cast<std::ptrdiff_t>(live.size()) && schedule_.key(live[lb]) == probe;
      it->SeekForPrev(probe);
      for (std::ptrdiff_t pos = exact ? lb : lb - 1, steps = 0; steps < 4; --pos, ++steps) {
        if (!expect_at(*it, live, pos, g, "seek_for_prev")) break;
        if (pos < 0) break;
        it->Prev();
      }
    }
  }

  // The scheduled keys live at generation g, in key order (kGenKey, which sorts first, aside).
  std::vector<int> live_keys(int g) const {
    std::vector<int> out;
    for (int k : schedule_.sorted())
      if (present(k, g)) out.push_back(k);
    return out;
  }

  // The iterator must be at live[pos] (or past the end / before the start, or at kGenKey
  // before the first key), holding the version of generation g.
  bool expect_at(const rocksdb::Iterator& it, const std::vector<int>& live, std::ptrdiff_t pos, int g,
                 const char* what) {
    if (pos < 0) {
      const bool ok = !it.Valid() || it.key() == kGenKey;
      if (!ok) fail(std::string(what) + ": expected the start, at " + shown(it));
      return ok;
    }
    if (pos >= static_cast<std::ptrdiff_t>(live.size())) {
      if (it.Valid()) fail(std::string(what) + ": expected the end, at " + shown(it));
      return !it.Valid();
    }
    const int k = live[static_cast<std::size_t>(pos)];
    if (!it.Valid() || it.key() != schedule_.key(k) || it.value() != expected_value(k, g)) {
      fail(std::string(what) + " at generation " + std::to_string(g) + ": at " + shown(it) +
           ", expected key " + std::to_string(k) + " version " + std::to_string(schedule_.version_at(k, g)));
      return false;
    }
    return true;
  }

  void check_scan(rocksdb::Iterator& it, int g) {
    const std::vector<int> live = live_keys(g);
    std::size_t i = 0;
    it.SeekToFirst();
    if (g > 0) {
      if (!it.Valid() || it.key() != kGenKey) fail("scan does not start at " + kGenKey);
      it.Next();
    }
    for (; it.Valid(); it.Next(), ++i) {
      if (!expect_at(it, live, static_cast<std::ptrdiff_t>(i), g, "next")) return;
    }
    if (i != live.size())
      fail("forward scan saw " + std::to_string(i) + " of " + std::to_string(live.size()) + " keys");
    std::ptrdiff_t pos = static_cast<std::ptrdiff_t>(live.size()) - 1;
    for (it.SeekToLast(); it.Valid() && it.key() != kGenKey; it.Prev(), --pos) {
      if (!expect_at(it, live, pos, g, "prev")) return;
    }
    if (pos != -1) fail("backward scan stopped " + std::to_string(pos + 1) + " keys early");
    if (!it.status().ok()) fail("iterator: " + it.status().ToString());
  }

  void fail(std::string e) { errors_.add(std::move(e)); }

  rocksdb::DB& db_;
  const Schedule& schedule_;
  Errors& errors_;
  std::mt19937_64 rng_;
};

std::unique_ptr<rocksdb::DB> open_db(rocksdb::Env* env, MemtableKind kind) {
  rocksdb::Options o;
  o.env = env;
  o.create_if_missing = true;
  o.allow_concurrent_memtable_write = false;
  if (kind == MemtableKind::Ordered) {
    o.memtable_factory = std::make_shared<rstmdb::storage::OrderedMemTableFactory>();
  } else {
    o.memtable_factory = std::make_shared<rocksdb::SkipListFactory>();
  }
  o.write_buffer_size = 256u << 20;  // the whole run stays in the one live memtable
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(o, "/db", &raw);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return std::unique_ptr<rocksdb::DB>(raw);
}

}  // namespace

TEST_CASE("memtable concurrency: readers see exact, ordered contents while one writer inserts") {
  const MemtableKind kind = GENERATE(MemtableKind::Ordered, MemtableKind::SkipList);
  const char* const memtable = kind == MemtableKind::Ordered ? "ordered" : "skiplist";
  CAPTURE(memtable);
  const Schedule schedule(42);
  const std::unique_ptr<rocksdb::Env> env(rocksdb::NewMemEnv(rocksdb::Env::Default()));
  auto db = open_db(env.get(), kind);

  Errors errors;
  std::atomic<bool> writer_done{false};
  std::atomic<int> started{0};
  std::vector<std::atomic<long>> rounds(kReaders);
  std::vector<std::thread> readers;
  // Stops and joins the readers however the writer's part ends (a failed REQUIRE included).
  struct JoinReaders {
    std::atomic<bool>& done;
    std::vector<std::thread>& threads;
    ~JoinReaders() {
      done = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } join_readers{writer_done, readers};
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      Reader reader(*db, schedule, errors, 1000 + static_cast<std::uint64_t>(r));
      started.fetch_add(1);
      while (!writer_done.load()) {
        reader.round();
        rounds[static_cast<std::size_t>(r)].fetch_add(1);
      }
      reader.round();  // the final state
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + kReaderTimeout;
  auto wait_for = [&](const std::function<bool()>& done) {
    while (!done() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    return done();
  };
  bool readers_kept_up = wait_for([&] { return started.load() == kReaders; });

  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  for (int g = 1; g <= kGenerations && readers_kept_up; ++g) {
    rocksdb::WriteBatch batch;
    for (int k : schedule.batch(g))
      REQUIRE(batch.Put(schedule.key(k), Schedule::value(schedule.key(k), g)).ok());
    REQUIRE(batch.Put(kGenKey, std::to_string(g)).ok());
    REQUIRE(db->Write(wo, &batch).ok());
    if (g % (kGenerations / 4) == 0) {
      // Every reader completes a whole round over this state before the writer moves on, so
      // each one has read while the writer was busy.
      std::vector<long> before;
      for (const auto& n : rounds)
        before.push_back(n.load());
      readers_kept_up = wait_for([&] {
        for (std::size_t r = 0; r < rounds.size(); ++r)
          if (rounds[r].load() < before[r] + 2) return false;
        return true;
      });
    }
  }
  writer_done = true;
  for (auto& t : readers)
    t.join();
  CHECK(readers_kept_up);
  INFO(errors.text());
  CHECK(errors.count() == 0);
  std::string files;
  REQUIRE(db->GetProperty("rocksdb.num-files-at-level0", &files));
  CHECK(files == "0");  // all of it was read from the live memtable
  for (const auto& n : rounds)
    CHECK(n.load() >= 8);
}
