#include "tools/client/server_address.hpp"

#include <catch2/catch.hpp>

using namespace rstmdb::client;

TEST_CASE("server address forms", "[server_address]") {
  auto a = parse_server_address("127.0.0.1:7401");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 7401);
  a = parse_server_address("example.com");
  REQUIRE(a);
  CHECK(a->host == "example.com");
  CHECK(a->port == 7401);
  a = parse_server_address("[::1]:7500");
  REQUIRE(a);
  CHECK(a->host == "::1");
  CHECK(a->port == 7500);
  a = parse_server_address("[fe80::1]");
  REQUIRE(a);
  CHECK(a->host == "fe80::1");
  CHECK(a->port == 7401);
  a = parse_server_address("::1");
  REQUIRE(a);
  CHECK(a->host == "::1");
  CHECK_FALSE(parse_server_address(""));
  CHECK_FALSE(parse_server_address(":7401"));
  CHECK_FALSE(parse_server_address("host:"));
  CHECK_FALSE(parse_server_address("host:0"));
  CHECK_FALSE(parse_server_address("host:65536"));
  CHECK_FALSE(parse_server_address("[::1"));
  CHECK_FALSE(parse_server_address("[::1]x"));
  CHECK_FALSE(parse_server_address("[]:1"));
  // Bracketed or bare, an IPv6 literal has only hex digits, ':' and '.' (then a zone).
  CHECK_FALSE(parse_server_address("::1]"));
  CHECK_FALSE(parse_server_address("[db.example.com]:1"));
  CHECK_FALSE(parse_server_address("a b:c:d"));
  a = parse_server_address("[fe80::1%eth0]:7401");
  REQUIRE(a);
  CHECK(a->host == "fe80::1%eth0");
  a = parse_server_address("::ffff:127.0.0.1");
  REQUIRE(a);
  CHECK(a->host == "::ffff:127.0.0.1");
}

TEST_CASE("server addresses format back with brackets for IPv6", "[server_address]") {
  CHECK(format_server_address(ServerAddress{"127.0.0.1", 7401}) == "127.0.0.1:7401");
  CHECK(format_server_address(ServerAddress{"db.example.com", 9}) == "db.example.com:9");
  CHECK(format_server_address(ServerAddress{"::1", 7500}) == "[::1]:7500");
}
