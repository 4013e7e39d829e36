// FingerTable: the ordered memtable's writer-only map from a user key to its newest node.
#include "storage/finger_table.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using rstmdb::storage::FingerTable;

namespace {

struct FakeNode {
  std::string key;
};

std::string_view key_of(FakeNode* n) {
  return n->key;
}

std::uint64_t real_hash(std::string_view k) {
  return std::hash<std::string_view>{}(k);
}

}  // namespace

TEST_CASE("finger table: finds every key's latest node across growth") {
  FingerTable<FakeNode> table;
  std::vector<std::unique_ptr<FakeNode>> nodes;
  constexpr int kKeys = 20'000;  // several doublings past the initial 1024 slots
  for (int version = 0; version < 2; ++version) {
    for (int i = 0; i < kKeys; ++i) {
      nodes.push_back(std::make_unique<FakeNode>(FakeNode{"key-" + std::to_string(i)}));
      FakeNode* node = nodes.back().get();
      FakeNode** slot = table.slot(node->key, real_hash(node->key), key_of);
      REQUIRE(slot != nullptr);
      if (version == 0) {
        REQUIRE(*slot == nullptr);  // new key
      } else {
        REQUIRE(*slot != nullptr);  // the first version's node, found again
        REQUIRE((*slot)->key == node->key);
        REQUIRE(*slot == nodes[static_cast<std::size_t>(i)].get());
      }
      *slot = node;
    }
  }
  CHECK(table.size() == kKeys);
  CHECK(table.bytes() >= 2 * kKeys * sizeof(void*));  // load factor at most 1/2
}

TEST_CASE("finger table: keys that all collide give up after a bounded probe") {
  FingerTable<FakeNode> table;
  std::vector<std::unique_ptr<FakeNode>> nodes;
  constexpr std::uint64_t kSameHash = 42;
  int placed = 0;
  for (int i = 0; i < 200; ++i) {
    nodes.push_back(std::make_unique<FakeNode>(FakeNode{"collide-" + std::to_string(i)}));
    FakeNode* node = nodes.back().get();
    FakeNode** slot = table.slot(node->key, kSameHash, key_of);
    if (slot == nullptr) continue;
    REQUIRE(*slot == nullptr);
    *slot = node;
    ++placed;
  }
  // Only the first kMaxProbes keys of one cluster get a slot; the others are refused, not
  // probed for ever.
  CHECK(placed == FingerTable<FakeNode>::kMaxProbes);
  // The placed keys are still found, and a different hash is unaffected.
  for (int i = 0; i < placed; ++i) {
    FakeNode** slot = table.slot(nodes[static_cast<std::size_t>(i)]->key, kSameHash, key_of);
    REQUIRE(slot != nullptr);
    CHECK(*slot == nodes[static_cast<std::size_t>(i)].get());
  }
  FakeNode other{"other"};
  FakeNode** slot = table.slot(other.key, kSameHash + 512, key_of);  // far from the cluster
  REQUIRE(slot != nullptr);
  CHECK(*slot == nullptr);
}
