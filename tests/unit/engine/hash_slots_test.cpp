// HashSlots (the instance cache's open-addressing index) against a std::map model: random
// inserts, erases and lookups, with hashes drawn from a tiny range so runs of slots are long,
// collide and wrap around the end of the array, which is where backward-shift erase can go
// wrong.
#include "engine/hash_slots.hpp"

#include <catch2/catch.hpp>

#include <list>
#include <map>
#include <random>
#include <string>

namespace {

struct Item {
  std::string key;
  std::uint64_t hash;
};
struct ItemKey {
  static std::string_view key(const Item& i) { return i.key; }
  static std::uint64_t hash(const Item& i) { return i.hash; }
};
using Slots = rstmdb::engine::HashSlots<Item, ItemKey>;

}  // namespace

TEST_CASE("hash slots: random inserts and erases read back like a map, through colliding runs") {
  // Hash range: 7 values (long runs of equal hashes); a range near a power of two with the
  // top values (runs that wrap past the array's end); and a wide one.
  const std::uint64_t hash_range = GENERATE(7, 63, 1u << 20);
  CAPTURE(hash_range);
  std::mt19937 rng(3);
  std::list<Item> storage;
  std::map<std::string, Item*> model;
  Slots slots;
  for (int step = 0; step < 20000; ++step) {
    const std::string key = "k" + std::to_string(rng() % 400);
    auto found = model.find(key);
    const std::uint64_t hash_of_key = std::hash<std::string>{}(key) % hash_range + (hash_range == 63 ? 1 : 0);
    if (found == model.end()) {
      storage.push_back(Item{key, hash_of_key});
      slots.insert(&storage.back());
      model[key] = &storage.back();
    } else if (rng() % 2 == 0) {
      slots.erase(found->second);
      model.erase(found);
    }
    REQUIRE(slots.size() == model.size());
    if (step % 97 == 0) {
      for (int k = 0; k < 400; ++k) {
        const std::string probe = "k" + std::to_string(k);
        const std::uint64_t h = std::hash<std::string>{}(probe) % hash_range + (hash_range == 63 ? 1 : 0);
        auto m = model.find(probe);
        Item* got = slots.find(probe, h);
        REQUIRE(got == (m == model.end() ? nullptr : m->second));
        if (got != nullptr) CHECK(slots.candidate(h) != nullptr);
      }
    }
  }
  slots.clear();
  CHECK(slots.size() == 0);
  CHECK(slots.find("k1", 1) == nullptr);
}
