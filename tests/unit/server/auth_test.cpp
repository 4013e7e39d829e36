#include "server/auth.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <string>

using rstmdb::server::sha256_hex;
using rstmdb::server::TokenVerifier;

namespace {

// protocol.md §11: sha256("my-secret-token").
constexpr const char* kSecretHash = "ea5add57437cbf20af59034d7ed17968dcc56767b41965fcc5b376d45db8b4a3";

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

}  // namespace

TEST_CASE("sha256_hex gives lowercase hex digests") {
  CHECK(sha256_hex("my-secret-token") == kSecretHash);
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex(std::string("a\0b", 3)) != sha256_hex("a"));
}

TEST_CASE("a token matches its configured hash whatever the hash's case") {
  const TokenVerifier lower({kSecretHash}, {});
  const TokenVerifier shouting({upper(kSecretHash)}, {});
  REQUIRE(lower.verify("my-secret-token"));
  REQUIRE(shouting.verify("my-secret-token"));
  CHECK_FALSE(lower.verify("my-secret-token "));
  CHECK_FALSE(lower.verify("MY-SECRET-TOKEN"));
  CHECK_FALSE(lower.verify(""));
}

TEST_CASE("every configured hash is accepted and names its principal") {
  const TokenVerifier verifier({sha256_hex("alpha"), kSecretHash, sha256_hex("gamma")}, {"svc-alpha", ""});
  CHECK(verifier.size() == 3);
  CHECK(verifier.verify("alpha") == std::optional<std::string>("svc-alpha"));
  // No label: the default principal is the hash's first 8 hex digits.
  CHECK(verifier.verify("my-secret-token") == std::optional<std::string>("sha256:ea5add57"));
  CHECK(verifier.verify("gamma") == std::optional<std::string>("sha256:" + sha256_hex("gamma").substr(0, 8)));
  CHECK_FALSE(verifier.verify("delta"));
}

TEST_CASE("no configured hash accepts nothing") {
  const TokenVerifier empty({}, {});
  CHECK_FALSE(empty.verify("anything"));
}
