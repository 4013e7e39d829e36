#include "storage/keys.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using namespace rstmdb::storage;

namespace {

int sign(int v) {
  return (v > 0) - (v < 0);
}

// Byte-wise comparison, as RocksDB's default comparator does it.
int compare_bytes(std::string_view a, std::string_view b) {
  return sign(a.compare(b));
}

// Biased towards the bytes the escaping cares about.
std::string random_bytes(std::mt19937& rng, std::size_t max_len) {
  std::uniform_int_distribution<std::size_t> len(0, max_len);
  std::uniform_int_distribution<int> pick(0, 5);
  std::uniform_int_distribution<int> any(0, 255);
  std::string s(len(rng), '\0');
  for (auto& c : s) {
    switch (pick(rng)) {
      case 0:
        c = '\x00';
        break;
      case 1:
        c = '\xFF';
        break;
      case 2:
        c = '\x01';
        break;
      default:
        c = static_cast<char>(any(rng));
        break;
    }
  }
  return s;
}

std::string ordered(std::string_view s) {
  std::string out;
  append_ordered(out, s);
  return out;
}

}  // namespace

TEST_CASE("u32/u64 big-endian round trip and order", "[keys]") {
  std::string out;
  append_u32_be(out, 0x01020304u);
  append_u64_be(out, 0x1122334455667788ull);
  CHECK(out == std::string("\x01\x02\x03\x04\x11\x22\x33\x44\x55\x66\x77\x88", 12));
  std::string_view in = out;
  std::uint32_t a = 0;
  std::uint64_t b = 0;
  REQUIRE(read_u32_be(in, a));
  REQUIRE(read_u64_be(in, b));
  CHECK(a == 0x01020304u);
  CHECK(b == 0x1122334455667788ull);
  CHECK(in.empty());
  CHECK_FALSE(read_u32_be(in, a));
  std::string_view short_in("\x01\x02\x03", 3);
  CHECK_FALSE(read_u64_be(short_in, b));
  CHECK(short_in.size() == 3);

  CHECK(decode_u64_value(u64_value(42)) == 42u);
  CHECK_FALSE(decode_u64_value("1234567").has_value());
  CHECK_FALSE(decode_u64_value("123456789").has_value());
}

TEST_CASE("offset keys sort numerically", "[keys]") {
  const std::vector<std::uint64_t> offsets = {1,    2, 255, 256, 65535, 65536, 1ull << 32, (1ull << 53) - 1,
                                              ~0ull};
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const std::string k = offset_key(offsets[i]);
    CHECK(k.size() == 8);
    CHECK(decode_offset_key(k) == offsets[i]);
    if (i > 0) CHECK(offset_key(offsets[i - 1]) < k);
  }
  CHECK(decode_offset_key("short") == 0);
}

TEST_CASE("ordered components: exact encoding", "[keys]") {
  CHECK(ordered("") == std::string("\x00\x01", 2));
  CHECK(ordered("ab") == std::string("ab\x00\x01", 4));
  CHECK(ordered(std::string("a\0b", 3)) == std::string("a\x00\xFF"
                                                       "b\x00\x01",
                                                       6));
}

TEST_CASE("ordered components preserve order whatever follows", "[keys]") {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> any(0, 255);
  for (int i = 0; i < 20000; ++i) {
    std::string a = random_bytes(rng, 8);
    std::string b = (i % 4 == 0) ? a + random_bytes(rng, 3) : random_bytes(rng, 8);  // many prefixes
    if (a == b) continue;
    const std::string x = random_bytes(rng, 4);
    const std::string y = random_bytes(rng, 4);
    INFO("a=" << ordered(a).size() << " b=" << ordered(b).size());
    REQUIRE(compare_bytes(ordered(a) + x, ordered(b) + y) == compare_bytes(a, b));
  }
}

TEST_CASE("ordered components round trip and reject malformed input", "[keys]") {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const std::string a = random_bytes(rng, 16);
    const std::string b = random_bytes(rng, 16);
    const std::string tail = random_bytes(rng, 5);
    std::string enc = ordered(a) + ordered(b) + tail;
    std::string_view in = enc;
    std::string da, db;
    REQUIRE(read_ordered(in, da));
    REQUIRE(read_ordered(in, db));
    CHECK(da == a);
    CHECK(db == b);
    CHECK(in == tail);
  }
  std::string out;
  std::string_view unterminated("abc");
  CHECK_FALSE(read_ordered(unterminated, out));
  std::string_view dangling("ab\x00", 3);
  CHECK_FALSE(read_ordered(dangling, out));
  std::string_view bad_escape("a\x00\x02", 3);
  CHECK_FALSE(read_ordered(bad_escape, out));
  std::string_view empty;
  CHECK_FALSE(read_ordered(empty, out));
}

TEST_CASE("prefix_end bounds every key with the prefix", "[keys]") {
  CHECK(prefix_end("abc") == "abd");
  CHECK(prefix_end(std::string("a\xFF\xFF", 3)) == "b");
  CHECK(prefix_end(std::string("\xFF\xFF", 2)).empty());
  CHECK(prefix_end("").empty());
  std::mt19937 rng(99);
  for (int i = 0; i < 5000; ++i) {
    const std::string prefix = random_bytes(rng, 6);
    const std::string end = prefix_end(prefix);
    if (end.empty()) continue;
    const std::string key = prefix + random_bytes(rng, 6);
    REQUIRE(key < end);
    REQUIRE(prefix < end);
    // Smallest such key: nothing between the prefix family and `end` lacks the prefix.
    const std::string other = random_bytes(rng, 8);
    if (other >= prefix && other < end) REQUIRE(other.starts_with(prefix));
  }
}

TEST_CASE("machine keys", "[keys]") {
  const std::string name("order\0x", 7);
  std::string decoded;
  std::uint32_t version = 0;
  REQUIRE(decode_machine_key(machine_key(name, 7), decoded, version));
  CHECK(decoded == name);
  CHECK(version == 7);
  CHECK(machine_key("order", 2) < machine_key("order", 10));
  CHECK(machine_key("order", 0xFFFFFFFF) < machine_key("order2", 0));
  CHECK(machine_key("order", 3).starts_with(machine_prefix("order")));
  CHECK_FALSE(machine_key("order2", 1).starts_with(machine_prefix("order")));
  CHECK_FALSE(decode_machine_key(machine_key("order", 1) + "x", decoded, version));
  CHECK_FALSE(decode_machine_key(machine_prefix("order") + "ab", decoded, version));
}

TEST_CASE("index keys", "[keys]") {
  const std::string m = index_by_machine("order", "id-1");
  CHECK(m.starts_with(index_by_machine_prefix("order")));
  CHECK(m.substr(index_by_machine_prefix("order").size()) == "id-1");
  CHECK_FALSE(index_by_machine("order2", "x").starts_with(index_by_machine_prefix("order")));

  const std::string s = index_by_machine_state("order", "paid", "id-2");
  CHECK(s.starts_with(index_by_machine_state_prefix("order", "paid")));
  CHECK_FALSE(index_by_machine_state("order", "paid2", "x")
                  .starts_with(index_by_machine_state_prefix("order", "paid")));
  CHECK(s.substr(index_by_machine_state_prefix("order", "paid").size()) == "id-2");

  IndexKey k;
  REQUIRE(decode_index_key(m, k));
  CHECK((k.kind == kIndexByMachine && k.machine == "order" && k.state.empty() && k.id == "id-1"));
  REQUIRE(decode_index_key(s, k));
  CHECK((k.kind == kIndexByMachineState && k.machine == "order" && k.state == "paid" && k.id == "id-2"));
  CHECK_FALSE(decode_index_key("", k));
  CHECK_FALSE(decode_index_key("xabc", k));
  CHECK_FALSE(decode_index_key("mabc", k));

  // The two families never overlap, and ids sort within a prefix.
  CHECK(index_by_machine("order", "a") < index_by_machine("order", "b"));
  CHECK(index_by_machine_state("a", "z", "1") < index_by_machine_state("b", "a", "1"));
}

TEST_CASE("idempotency keys", "[keys]") {
  CHECK(idempotency_create_key("k1") == "ck1");
  const std::string a = idempotency_apply_key("inst", "k1");
  const std::string d = idempotency_delete_key("inst", "k1");
  CHECK(a.front() == kIdempotencyApply);
  CHECK(d.front() == kIdempotencyDelete);
  const std::string ap = idempotency_instance_prefix(kIdempotencyApply, "inst");
  CHECK(a.starts_with(ap));
  CHECK(d.starts_with(idempotency_instance_prefix(kIdempotencyDelete, "inst")));
  // The range of one instance does not reach an instance whose id extends it.
  const std::string end = prefix_end(ap);
  CHECK(a < end);
  CHECK(idempotency_apply_key("inst", std::string(100, '\xFF')) < end);
  CHECK_FALSE((idempotency_apply_key("inst2", "k1") >= ap && idempotency_apply_key("inst2", "k1") < end));
  CHECK_FALSE((idempotency_apply_key("ins", "t") >= ap && idempotency_apply_key("ins", "t") < end));
}

TEST_CASE("count keys", "[keys]") {
  std::string machine, state;
  REQUIRE(decode_count_key(count_key("order", "paid"), machine, state));
  CHECK(machine == "order");
  CHECK(state == "paid");
  CHECK(count_key("order", "paid").starts_with(count_machine_prefix("order")));
  CHECK_FALSE(count_key("order2", "paid").starts_with(count_machine_prefix("order")));
  CHECK_FALSE(decode_count_key(count_machine_prefix("order"), machine, state));
  CHECK_FALSE(decode_count_key(count_key("a", "b") + "x", machine, state));
  CHECK(kMetaLatestOffset == "latest_offset");
  CHECK(kMetaOldestOffset == "oldest_offset");
}
