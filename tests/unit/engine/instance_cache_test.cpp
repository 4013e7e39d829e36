#include "engine/instance_cache.hpp"

#include <catch2/catch.hpp>

#include <string>

using rstmdb::engine::Instance;
using rstmdb::engine::InstanceCache;

namespace {

Instance with_ctx_bytes(std::size_t n) {
  Instance inst;
  inst.rec.machine = "m";
  inst.rec.state = "s";
  inst.rec.ctx_json = "{\"x\":\"" + std::string(n, 'a') + "\"}";
  return inst;
}

}  // namespace

TEST_CASE("instance cache: stays within its byte budget and evicts gradually") {
  const auto one = InstanceCache::charge("id-00000", with_ctx_bytes(1000));
  InstanceCache cache(100 * one);
  for (int i = 0; i < 100; ++i) {
    cache.begin_request();
    cache.put("id-" + std::to_string(10000 + i).substr(1), with_ctx_bytes(1000), false);
  }
  CHECK(cache.size() == 100);
  CHECK(cache.evictions() == 0);
  // One more entry makes room for itself only: no wholesale clear.
  cache.put("id-x0100", with_ctx_bytes(1000), false);
  CHECK(cache.bytes() <= cache.max_bytes());
  CHECK(cache.size() >= 99);
  CHECK(cache.evictions() <= 2);
  for (int i = 0; i < 10000; ++i)
    cache.put("bulk-" + std::to_string(i), with_ctx_bytes(1000), false);
  CHECK(cache.bytes() <= cache.max_bytes());
  CHECK(cache.size() <= 101);
}

TEST_CASE("instance cache: entries in use survive a pass over cold data (second chance)") {
  const auto one = InstanceCache::charge("hot", with_ctx_bytes(500));
  InstanceCache cache(50 * one);
  cache.put("hot", with_ctx_bytes(500), false);
  for (int i = 0; i < 5000; ++i) {
    cache.begin_request();
    REQUIRE(cache.find("hot") != nullptr);  // touched between every cold insert
    cache.put("cold-" + std::to_string(i), with_ctx_bytes(500), false);
  }
  CHECK(cache.find("hot") != nullptr);
  CHECK(cache.bytes() <= cache.max_bytes());
}

TEST_CASE("instance cache: what the running request looked up is pinned until the next request") {
  const auto one = InstanceCache::charge("p", with_ctx_bytes(100));
  InstanceCache cache(3 * one);
  cache.begin_request();
  const Instance* held = cache.put("p", with_ctx_bytes(100), true);
  REQUIRE(held != nullptr);
  const std::string ctx_before = held->rec.ctx_json;
  for (int i = 0; i < 100; ++i)
    cache.put("other-" + std::to_string(i), with_ctx_bytes(100), false);
  CHECK(cache.find("p") == held);  // still there, same address
  CHECK(held->rec.ctx_json == ctx_before);
  cache.begin_request();
  for (int i = 0; i < 100; ++i)
    cache.put("later-" + std::to_string(i), with_ctx_bytes(100), false);
  CHECK(cache.find("p") == nullptr);  // unpinned now, and cold
}

TEST_CASE("instance cache: an unpinned entry larger than the whole budget is not kept") {
  InstanceCache cache(4096);
  CHECK(cache.put("huge", with_ctx_bytes(100000), false) == nullptr);
  CHECK(cache.size() == 0);
  CHECK(cache.bytes() == 0);
}
