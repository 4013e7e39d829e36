#include <catch2/catch.hpp>

#include "config/value_parsers.hpp"

using namespace rstmdb::config;

TEST_CASE("parse_host_port", "[config][parsers]") {
  std::string problem;
  auto hp = parse_host_port("[2001:db8::1]:7401", &problem);
  REQUIRE(hp);
  CHECK(hp->host == "2001:db8::1");
  CHECK(hp->port == 7401);
  CHECK(hp->ipv6);

  hp = parse_host_port("db.example.com.:0", &problem);
  REQUIRE(hp);
  CHECK(hp->host == "db.example.com.");
  CHECK(hp->port == 0);
  CHECK(!hp->ipv6);

  CHECK(!parse_host_port("::1:7401", &problem));
  CHECK(problem.find("brackets") != std::string::npos);
  CHECK(!parse_host_port("a..b:1", &problem));
  CHECK(!parse_host_port(std::string(64, 'a') + ".com:1", &problem));
  CHECK(parse_host_port(std::string(63, 'a') + ".com:1", &problem));
  CHECK(!parse_host_port("1.2.3:1", &problem));
  CHECK(!parse_host_port("h:-1", &problem));
  CHECK(!parse_host_port("", &problem));
}

TEST_CASE("numbers", "[config][parsers]") {
  CHECK(parse_unsigned("18446744073709551615") == 18446744073709551615ull);
  CHECK(!parse_unsigned("18446744073709551616"));
  CHECK(!parse_unsigned("+1"));
  CHECK(!parse_unsigned("1_000"));
  CHECK(!parse_unsigned(""));
  CHECK(parse_signed("-1") == -1);
  CHECK(!parse_signed("-"));
  CHECK(!parse_signed("--1"));
}

TEST_CASE("token hash normalisation", "[config][parsers]") {
  const std::string hash(64, 'A');
  CHECK(normalize_token_hash(" " + hash + "\t") == std::string(64, 'a'));
  CHECK(!normalize_token_hash(std::string(63, 'a')));
  CHECK(!normalize_token_hash(std::string(65, 'a')));
  CHECK(!normalize_token_hash(std::string(63, 'a') + "g"));
}

TEST_CASE("RUST_LOG parsing", "[config][parsers]") {
  std::string problem;
  CHECK(log_level_from_rust_log("", &problem) == std::nullopt);
  CHECK(log_level_from_rust_log("tokio=trace", &problem) == std::nullopt);
  CHECK(log_level_from_rust_log("info,rstmdb=warn,rstmdb_storage=error", &problem) == "error");
  CHECK(log_level_from_rust_log("off", &problem) == "off");
  CHECK(problem.empty());
  CHECK(log_level_from_rust_log("rstmdb=verbose", &problem) == std::nullopt);
  CHECK(!problem.empty());
}

TEST_CASE("double_quoted escapes control characters", "[config][parsers]") {
  CHECK(double_quoted("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\x01\"");
}
