#include "storage/key_order_check.hpp"

#include <rocksdb/comparator.h>
#include <rocksdb/slice.h>

#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string_view>
#include <vector>

namespace rstmdb::storage {

namespace {

using namespace std::string_view_literals;

// In bytewise order. Neighbours differ in one way each: a zero byte, a prefix, case, the sign
// bit of a byte, a difference past byte 8.
constexpr std::string_view kProbeUserKeys[] = {
    ""sv,
    "\x00"sv,
    "\x00\x00"sv,
    "\x00\x01"sv,
    "\x01"sv,
    "A"sv,
    "B"sv,
    "a"sv,
    "a\x00"sv,
    "a\x00\x00"sv,
    "a\x01"sv,
    "aa"sv,
    "ab"sv,
    "b"sv,
    "k0009"sv,
    "k001"sv,
    "k0010"sv,
    "shared-prefix-0001"sv,
    "shared-prefix-0001\x00"sv,
    "shared-prefix-0002"sv,
    "\x7f"sv,
    "\x80"sv,
    "\xfe\xff"sv,
    "\xff"sv,
    "\xff\x00"sv,
    "\xff\xff"sv,
};

constexpr std::uint64_t kMaxSequence = (std::uint64_t{1} << 56) - 1;
constexpr unsigned kTypeDeletion = 0x0;
constexpr unsigned kTypeValue = 0x1;

constexpr std::uint64_t tag(std::uint64_t sequence, unsigned type) {
  return sequence << 8 | type;
}

// Every user key gets this tag; the keys in kFullTagKeys get all of kTags, in descending order
// (newest first). Sequence 1 against 2^40 also catches a tag decoded with the wrong byte order.
constexpr std::uint64_t kCommonTag = tag(std::uint64_t{1} << 40, kTypeValue);
constexpr std::uint64_t kTags[] = {
    tag(kMaxSequence, kTypeValue),
    kCommonTag,
    tag(std::uint64_t{1} << 40, kTypeDeletion),
    tag(1, kTypeValue),
    tag(0, kTypeValue),
};
constexpr std::string_view kFullTagKeys[] = {""sv, "a"sv, "\xff\xff"sv};

struct ProbeEntry {
  std::string_view user_key;
  std::uint64_t tag;
  std::string encoded;  // varint32(internal key length), user key, 8-byte little-endian tag

  rocksdb::Slice internal_key() const {
    const std::size_t prefix = encoded.size() - user_key.size() - 8;
    return rocksdb::Slice(encoded.data() + prefix, encoded.size() - prefix);
  }
};

std::string encode_entry(std::string_view user_key, std::uint64_t t) {
  std::string out;
  std::uint32_t len = static_cast<std::uint32_t>(user_key.size() + 8);
  while (len >= 0x80) {
    out.push_back(static_cast<char>(len | 0x80));
    len >>= 7;
  }
  out.push_back(static_cast<char>(len));
  out.append(user_key);
  char fixed[8];
  for (int i = 0; i < 8; ++i)
    fixed[i] = static_cast<char>(t >> (8 * i));
  out.append(fixed, 8);
  return out;
}

// The probe entries in bytewise internal-key order.
const std::vector<ProbeEntry>& probe_entries() {
  static const std::vector<ProbeEntry> entries = [] {
    std::vector<ProbeEntry> out;
    for (std::string_view user : kProbeUserKeys) {
      bool full = false;
      for (std::string_view k : kFullTagKeys)
        full = full || k == user;
      if (full) {
        for (std::uint64_t t : kTags)
          out.push_back({user, t, encode_entry(user, t)});
      } else {
        out.push_back({user, kCommonTag, encode_entry(user, kCommonTag)});
      }
    }
    return out;
  }();
  return entries;
}

std::string shown(std::string_view key) {
  std::string out = "\"";
  for (const char c : key) {
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
      out += hex;
    }
  }
  return out + "\"";
}

std::string shown(const ProbeEntry& e) {
  return shown(e.user_key) + " (sequence " + std::to_string(e.tag >> 8) + ", type " +
         std::to_string(e.tag & 0xFF) + ")";
}

int sign(int v) {
  return (v > 0) - (v < 0);
}

const char* relation(int s) {
  return s < 0 ? "before" : s > 0 ? "after" : "equal to";
}

}  // namespace

std::optional<std::string> bytewise_user_order_mismatch(const rocksdb::Comparator& cmp) {
  const std::string name = cmp.Name();
  const std::string who = "comparator \"" + name + "\"";
  if (name != rocksdb::BytewiseComparator()->Name()) {
    return who + " is not \"" + rocksdb::BytewiseComparator()->Name() + "\"";
  }
  if (cmp.timestamp_size() != 0) {
    return who + " has " + std::to_string(cmp.timestamp_size()) + "-byte timestamps";
  }
  const std::size_t n = std::size(kProbeUserKeys);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const rocksdb::Slice a(kProbeUserKeys[i].data(), kProbeUserKeys[i].size());
      const rocksdb::Slice b(kProbeUserKeys[j].data(), kProbeUserKeys[j].size());
      const int got = sign(cmp.Compare(a, b));
      const int want = i < j ? -1 : i > j ? 1 : 0;
      if (got != want) {
        return who + " orders " + shown(kProbeUserKeys[i]) + " " + relation(got) + " " +
               shown(kProbeUserKeys[j]);
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> bytewise_internal_order_mismatch(const rocksdb::MemTableRep::KeyComparator& cmp) {
  const std::vector<ProbeEntry>& entries = probe_entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    for (std::size_t j = 0; j < entries.size(); ++j) {
      // RocksDB's own memtable comparator orders by sequence only, ignoring the type: two
      // entries of one user key and sequence never meet in a memtable, so either order is fine.
      if (i != j && entries[i].user_key == entries[j].user_key &&
          (entries[i].tag >> 8) == (entries[j].tag >> 8)) {
        continue;
      }
      const int want = i < j ? -1 : i > j ? 1 : 0;
      const int by_entries = sign(cmp(entries[i].encoded.data(), entries[j].encoded.data()));
      const int by_key = sign(cmp(entries[i].encoded.data(), entries[j].internal_key()));
      if (by_entries != want || by_key != want) {
        return "the memtable comparator orders " + shown(entries[i]) + " " +
               relation(by_entries != want ? by_entries : by_key) + " " + shown(entries[j]);
      }
    }
  }
  return std::nullopt;
}

}  // namespace rstmdb::storage
