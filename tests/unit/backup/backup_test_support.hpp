// Shared by the backup module's tests: temporary directories and a store filled the way the
// engine fills it (one batch per commit: instance record, counters, log entry, latest_offset).
#pragma once

#include "storage/keys.hpp"
#include "storage/records.hpp"
#include "storage/store.hpp"
#include "support/temp_dir.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

namespace backup_test {

namespace fs = std::filesystem;
using namespace rstmdb::storage;

// The backup tests' directories: rstmdb::test::TempDir named rstmdb-backup-test-*.
class TempDir : public rstmdb::test::TempDir {
 public:
  TempDir() : rstmdb::test::TempDir("rstmdb-backup-test") {}
};

inline StoreOptions small_options(const fs::path& dir) {
  StoreOptions o;
  o.data_dir = dir.string();
  o.block_cache_mb = 8;
  o.max_open_files = 256;
  o.write_buffer_mb = 1;
  return o;
}

inline std::unique_ptr<Store> open_ok(const StoreOptions& o) {
  OpenResult r = Store::open(o);
  INFO(r.message);
  REQUIRE(r.store);
  return std::move(r.store);
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

// Flips one bit of the byte at `offset` of `path`.
inline void flip_byte(const fs::path& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  REQUIRE(f);
  c = static_cast<char>(c ^ 0x20);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

// A data directory's store with machines and instances written commit by commit.
class FilledStore {
 public:
  explicit FilledStore(const fs::path& data_dir) : store_(open_ok(small_options(data_dir))) {
    Batch m = store_->new_batch();
    m.put(Cf::Machines, machine_key("order", 1), encode_machine({"{\"states\":[]}", "sum", 1}));
    REQUIRE_FALSE(store_->write(m, false));
  }

  // Moves (or creates) `id` into `state` at the next offset.
  void commit(const std::string& id, const std::string& state) {
    const std::uint64_t offset = ++latest_;
    Batch b = store_->new_batch();
    InstanceRecord r;
    r.machine = "order";
    r.version = 1;
    r.state = state;
    r.ctx_json = "{\"n\":" + std::to_string(offset) + ",\"pad\":\"" + std::string(100, 'p') + "\"}";
    r.last_wal_offset = offset;
    if (auto it = states_.find(id); it != states_.end()) {
      b.put(Cf::Counts, count_key("order", it->second), u64_value(--counts_[it->second]));
    }
    states_[id] = state;
    b.put(Cf::Counts, count_key("order", state), u64_value(++counts_[state]));
    b.put(Cf::Instances, id, encode_instance(r));
    b.put(Cf::Log, offset_key(offset), "{\"offset\":" + std::to_string(offset) + "}");
    b.put(Cf::Meta, kMetaLatestOffset, u64_value(offset));
    REQUIRE_FALSE(store_->write(b, false));
  }

  void fill(std::size_t commits, std::size_t instances = 300) {
    static const char* kStates[] = {"new", "paid", "shipped"};
    for (std::size_t i = 0; i < commits; ++i)
      commit("order-" + std::to_string(i % instances), kStates[i % 3]);
  }

  fs::path checkpoint(const std::string& name) {
    const fs::path cp = fs::path(store_->data_dir()) / "checkpoints" / name;
    REQUIRE_FALSE(store_->checkpoint(cp.string()));
    return cp;
  }

  Store& store() { return *store_; }
  std::uint64_t latest() const { return latest_; }
  std::uint64_t live() const { return states_.size(); }
  void close() { store_.reset(); }

 private:
  std::unique_ptr<Store> store_;
  std::uint64_t latest_ = 0;
  std::map<std::string, std::string> states_;
  std::map<std::string, std::uint64_t> counts_;
};

}  // namespace backup_test
