// CheckpointRegistry (server/admin_checkpoints.hpp): limits, release, the purge of abandoned
// checkpoints (which the e2e tests cannot wait an hour for) and a failed store.
#include "server/admin_checkpoints.hpp"
#include "storage/keys.hpp"
#include "storage/store.hpp"
#include "support/temp_dir.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <random>

using namespace rstmdb;
namespace fs = std::filesystem;

namespace {

using rstmdb::test::TempDir;

// Each test's directory: rstmdb::test::TempDir named rstmdb-cp-test-*.
constexpr const char* kTempPrefix = "rstmdb-cp-test";

std::unique_ptr<storage::Store> open_store(const fs::path& dir) {
  storage::StoreOptions o;
  o.data_dir = dir.string();
  o.block_cache_mb = 8;
  o.write_buffer_mb = 1;
  auto r = storage::Store::open(o);
  INFO(r.message);
  REQUIRE(r.store);
  return std::move(r.store);
}

server::CheckpointInfo created(server::CheckpointRegistry& registry) {
  auto made = registry.create();
  if (auto* e = std::get_if<protocol::Error>(&made)) FAIL(e->message);
  return std::get<server::CheckpointInfo>(made);
}

}  // namespace

TEST_CASE("checkpoints are made, counted, limited and released", "[checkpoints]") {
  TempDir tmp(kTempPrefix);
  auto store = open_store(tmp.path() / "data");
  storage::Batch b = store->new_batch();
  b.put(storage::Cf::Meta, storage::kMetaLatestOffset, storage::u64_value(42));
  b.put(storage::Cf::Log, storage::offset_key(42), "{}");
  REQUIRE_FALSE(store->write(b, false));
  server::CheckpointRegistry registry(*store, {});

  const auto first = created(registry);
  CHECK(first.summary.latest_offset == 42);
  CHECK(first.path == fs::weakly_canonical(tmp.path() / "data" / "checkpoints" / first.id));
  CHECK(fs::exists(first.path / "CURRENT"));
  CHECK(server::valid_checkpoint_id(first.id));
  std::vector<server::CheckpointInfo> more;
  for (std::size_t i = 1; i < server::kMaxOpenCheckpoints; ++i)
    more.push_back(created(registry));
  CHECK(registry.open_count() == server::kMaxOpenCheckpoints);
  auto refused = registry.create();
  REQUIRE(std::holds_alternative<protocol::Error>(refused));
  CHECK(std::get<protocol::Error>(refused).code == protocol::ErrorCode::RateLimited);

  CHECK_FALSE(registry.release(first.id, true));
  CHECK_FALSE(fs::exists(first.path));
  REQUIRE(registry.last_backup());
  CHECK(registry.last_backup()->checkpoint == first.id);
  CHECK(registry.last_backup()->latest_offset == 42);
  auto twice = registry.release(first.id, true);
  REQUIRE(twice);
  CHECK(twice->code == protocol::ErrorCode::NotFound);
  auto bad = registry.release("../db", false);
  REQUIRE(bad);
  CHECK(bad->code == protocol::ErrorCode::BadRequest);
  CHECK(fs::exists(tmp.path() / "data" / "db" / "CURRENT"));
  CHECK(registry.open_count() == server::kMaxOpenCheckpoints - 1);
}

TEST_CASE("abandoned checkpoints are purged by age", "[checkpoints]") {
  TempDir tmp(kTempPrefix);
  auto store = open_store(tmp.path() / "data");
  server::CheckpointRegistry registry(*store, {});
  const auto a = created(registry);
  const auto b = created(registry);
  CHECK(registry.purge_older_than(server::kMaxCheckpointAge).empty());  // young
  CHECK(registry.open_count() == 2);
  const auto purged = registry.purge_older_than(std::chrono::seconds(0));
  CHECK(purged.size() == 2);
  CHECK_FALSE(fs::exists(a.path));
  CHECK_FALSE(fs::exists(b.path));
  CHECK(registry.open_count() == 0);
  auto late = registry.release(a.id, true);
  REQUIRE(late);
  CHECK(late->code == protocol::ErrorCode::NotFound);
  CHECK_FALSE(registry.last_backup());  // a purged checkpoint is no successful backup
}

TEST_CASE("no checkpoint of a failed store", "[checkpoints]") {
  TempDir tmp(kTempPrefix);
  auto store = open_store(tmp.path() / "data");
  server::CheckpointRegistry registry(*store, {});
  store->mark_failed(storage::StorageError("disk gone"));
  auto made = registry.create();
  REQUIRE(std::holds_alternative<protocol::Error>(made));
  CHECK(std::get<protocol::Error>(made).code == protocol::ErrorCode::WalIoError);
  CHECK(registry.open_count() == 0);
  CHECK(fs::is_empty(tmp.path() / "data" / "checkpoints"));
}
