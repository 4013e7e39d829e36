#include "protocol/crc32c.hpp"

#include "test_bytes.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using namespace rstmdb::protocol;
using rstmdb::protocol::test::kPingRequest;
using rstmdb::protocol::test::kPongResponse;

TEST_CASE("crc32c check values", "[crc32c]") {
  CHECK(crc32c(std::string_view("123456789")) == 0xE3069283u);
  CHECK(crc32c(std::string_view("")) == 0x00000000u);
  CHECK(crc32c(nullptr, 0) == 0x00000000u);
  // protocol.md §3.6
  CHECK(kPingRequest.size() == 51);
  CHECK(crc32c(kPingRequest) == 0xC32009C4u);
  CHECK(kPongResponse.size() == 65);
  CHECK(crc32c(kPongResponse) == 0x4B7B432Fu);
  CHECK(crc32c(std::string_view(R"({"type":"request","id":"1","op":"PING"})")) == 0x15F193B1u);
}

TEST_CASE("crc32c RFC 3720 vectors", "[crc32c]") {
  std::string zeros(32, '\0');
  std::string ones(32, '\xFF');
  std::string incrementing, decrementing;
  for (int i = 0; i < 32; ++i) {
    incrementing.push_back(static_cast<char>(i));
    decrementing.push_back(static_cast<char>(31 - i));
  }
  CHECK(crc32c(zeros) == 0x8A9136AAu);
  CHECK(crc32c(ones) == 0x62A8AB43u);
  CHECK(crc32c(incrementing) == 0x46DD794Eu);
  CHECK(crc32c(decrementing) == 0x113FDB5Cu);
}

TEST_CASE("crc32c table and hardware paths agree", "[crc32c]") {
  CHECK(crc32c_table(0, "123456789", 9) == 0xE3069283u);

  std::mt19937_64 rng(20240601);
  std::vector<unsigned char> buf(70000);
  for (auto& b : buf)
    b = static_cast<unsigned char>(rng());

  for (int iter = 0; iter < 3000; ++iter) {
    const std::size_t offset = rng() % 16;  // exercise every alignment of the start
    std::size_t len;
    switch (iter % 4) {
      case 0:
        len = rng() % 16;
        break;
      case 1:
        len = rng() % 100;
        break;
      case 2:
        len = rng() % 5000;
        break;
      default:
        len = rng() % (buf.size() - 16);
        break;
    }
    const auto seed = static_cast<std::uint32_t>(rng());
    const std::uint32_t table = crc32c_table(seed, buf.data() + offset, len);
    const std::uint32_t dispatched = crc32c_extend(seed, buf.data() + offset, len);
    REQUIRE(table == dispatched);
    if (crc32c_hardware_available()) {
      REQUIRE(crc32c_hardware(seed, buf.data() + offset, len) == table);
    }
  }
  if (crc32c_hardware_available()) {
    CHECK(crc32c_hardware(0, "123456789", 9) == 0xE3069283u);
  } else {
    WARN("SSE4.2 not available: only the table path was tested");
  }
}

TEST_CASE("crc32c_extend continues a CRC", "[crc32c]") {
  std::mt19937 rng(7);
  std::string data(3000, '\0');
  for (auto& c : data)
    c = static_cast<char>(rng());
  const std::uint32_t whole = crc32c(data);
  for (std::size_t split = 0; split <= data.size(); split += 37) {
    const std::uint32_t head = crc32c(data.data(), split);
    CHECK(crc32c_extend(head, data.data() + split, data.size() - split) == whole);
    CHECK(crc32c_table(crc32c_table(0, data.data(), split), data.data() + split, data.size() - split) ==
          whole);
  }
  CHECK(crc32c_extend(crc32c(std::string_view("1234")), "56789", 5) == 0xE3069283u);
  CHECK(crc32c_extend(0xE3069283u, "", 0) == 0xE3069283u);
}
