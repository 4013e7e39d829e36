#include "storage/records.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <random>
#include <string>

using namespace rstmdb::storage;

namespace {

InstanceRecord sample_instance() {
  InstanceRecord r;
  r.machine = "order";
  r.version = 3;
  r.state = "paid";
  r.ctx_json = R"({"customer":"alice","amount":99.99})";
  r.last_event_id = "evt-1";
  r.last_wal_offset = 1523;
  r.created_at = 1767225600000;
  r.updated_at = 1767225700000;
  r.deleted = false;
  return r;
}

std::string random_bytes(std::mt19937& rng, std::size_t max_len) {
  std::uniform_int_distribution<std::size_t> len(0, max_len);
  std::uniform_int_distribution<int> any(0, 255);
  std::string s(len(rng), '\0');
  for (auto& c : s)
    c = static_cast<char>(any(rng));
  return s;
}

}  // namespace

TEST_CASE("instance record round trip", "[records]") {
  InstanceRecord r = sample_instance();
  InstanceRecord out;
  REQUIRE(decode_instance(encode_instance(r), out));
  CHECK(out == r);
  CHECK(static_cast<unsigned char>(encode_instance(r).front()) == kRecordFormatV1);

  r.last_event_id.reset();
  r.deleted = true;
  r.version = std::numeric_limits<std::uint32_t>::max();
  r.last_wal_offset = std::numeric_limits<std::uint64_t>::max();
  r.created_at = std::numeric_limits<std::int64_t>::min();
  r.updated_at = -1;
  r.machine = std::string("m\0\xFF", 3);
  r.ctx_json = std::string(100000, 'x');
  REQUIRE(decode_instance(encode_instance(r), out));
  CHECK(out == r);

  // An empty last_event_id is not the same as none.
  r.last_event_id = "";
  REQUIRE(decode_instance(encode_instance(r), out));
  CHECK(out.last_event_id.has_value());
  CHECK(out == r);

  InstanceRecord empty;
  REQUIRE(decode_instance(encode_instance(empty), out));
  CHECK(out == empty);
}

TEST_CASE("machine and idempotency record round trip", "[records]") {
  MachineRecord m{R"({"states":["a","b"],"initial":"a"})", "6e04913c", 1767225600000};
  MachineRecord mo;
  REQUIRE(decode_machine(encode_machine(m), mo));
  CHECK(mo == m);
  m.created_at = std::numeric_limits<std::int64_t>::max();
  REQUIRE(decode_machine(encode_machine(m), mo));
  CHECK(mo == m);

  IdempotencyRecord i{-5, R"({"instance_id":"x"})"};
  IdempotencyRecord io;
  REQUIRE(decode_idempotency(encode_idempotency(i), io));
  CHECK(io == i);
}

TEST_CASE("truncated, extended and re-versioned records are rejected", "[records]") {
  const std::string inst = encode_instance(sample_instance());
  const std::string mach = encode_machine(MachineRecord{"{}", "abc", 7});
  const std::string idem = encode_idempotency(IdempotencyRecord{9, "{}"});
  InstanceRecord io;
  MachineRecord mo;
  IdempotencyRecord ido;
  for (std::size_t n = 0; n < inst.size(); ++n)
    CHECK_FALSE(decode_instance(inst.substr(0, n), io));
  for (std::size_t n = 0; n < mach.size(); ++n)
    CHECK_FALSE(decode_machine(mach.substr(0, n), mo));
  for (std::size_t n = 0; n < idem.size(); ++n)
    CHECK_FALSE(decode_idempotency(idem.substr(0, n), ido));
  CHECK_FALSE(decode_instance(inst + "x", io));
  CHECK_FALSE(decode_machine(mach + "x", mo));
  CHECK_FALSE(decode_idempotency(idem + "x", ido));
  std::string v2 = inst;
  v2[0] = 2;
  CHECK_FALSE(decode_instance(v2, io));
  // A failed decode leaves the output alone.
  InstanceRecord untouched = sample_instance();
  CHECK_FALSE(decode_instance("", untouched));
  CHECK(untouched == sample_instance());
}

TEST_CASE("hostile lengths and varints are rejected", "[records]") {
  InstanceRecord io;
  // Version byte, then a machine length of 2^63 encoded in 10 bytes.
  std::string huge("\x01", 1);
  huge += std::string(9, '\xFF');
  huge += '\x7F';
  CHECK_FALSE(decode_instance(huge, io));
  // Length longer than the remaining input.
  CHECK_FALSE(decode_instance(std::string("\x01\x05"
                                          "ab",
                                          4),
                              io));
  // Never-ending varint.
  CHECK_FALSE(decode_instance(std::string("\x01") + std::string(20, '\x80'), io));
  // Version above u32.
  InstanceRecord r = sample_instance();
  std::string enc = encode_instance(r);
  std::string bad("\x01\x05order\x80\x80\x80\x80\x10", 12);  // version = 2^32
  CHECK_FALSE(decode_instance(bad + enc.substr(8), io));
  CHECK(decode_instance(std::string("\x01\x05order\x03", 8) + enc.substr(8), io));
  // Unknown flag bits.
  InstanceRecord plain;
  std::string p = encode_instance(plain);  // 01 00 00 00 00 flags ...
  REQUIRE(p[5] == 0);
  p[5] = 0x04;
  CHECK_FALSE(decode_instance(p, io));
}

TEST_CASE("random bytes never crash the decoders", "[records]") {
  std::mt19937 rng(12345);
  const std::string valid = encode_instance(sample_instance());
  std::uniform_int_distribution<std::size_t> pos(0, valid.size() - 1);
  std::uniform_int_distribution<int> any(0, 255);
  InstanceRecord io;
  MachineRecord mo;
  IdempotencyRecord ido;
  int accepted = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes = random_bytes(rng, 64);
      if (!bytes.empty() && i % 4 == 0) bytes[0] = static_cast<char>(kRecordFormatV1);
    } else {
      bytes = valid;  // mutate a valid record so decoding gets deep
      for (int k = 0; k < 1 + i % 3; ++k)
        bytes[pos(rng)] = static_cast<char>(any(rng));
    }
    if (decode_instance(bytes, io)) {
      ++accepted;
      // Whatever decodes re-encodes to the same bytes: the format has one spelling per record
      // except for non-minimal varints.
      InstanceRecord again;
      REQUIRE(decode_instance(encode_instance(io), again));
      CHECK(again == io);
    }
    (void)decode_machine(bytes, mo);
    (void)decode_idempotency(bytes, ido);
  }
  CHECK(accepted >= 0);
}
