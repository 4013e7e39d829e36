// Bearer-token verification against configured SHA-256 digests (protocol.md §11, runtime.md §3.1).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rstmdb::server {

// Lowercase hex SHA-256 of the token's bytes (64 characters).
std::string sha256_hex(std::string_view data);

// A token that verified: who it names and the configured digest it matched.
struct TokenMatch {
  std::string principal;
  std::string digest;  // lowercase hex, as configured
};

// Immutable after construction; safe to share between threads.
class TokenVerifier {
 public:
  // `hashes`: 64-hex digests, any case (normalised here). `labels[i]` names the principal of
  // hashes[i] ("" = default "sha256:<first 8 hex>"); labels may be shorter than hashes.
  TokenVerifier(std::vector<std::string> hashes, std::vector<std::string> labels);

  // The principal of the matching hash, or nullopt. The digest of `token` is compared with
  // every configured hash in constant time, without an early exit on a match, so the time
  // taken does not reveal which hash matched or where a mismatch was.
  std::optional<std::string> verify(std::string_view token) const;
  // As verify(), with the digest that matched (a reload that drops it revokes the session).
  std::optional<TokenMatch> match(std::string_view token) const;
  // Whether `digest` (lowercase hex) is still configured. Not constant-time: digests are not
  // secrets, and this only checks sessions that already authenticated.
  bool accepts_digest(std::string_view digest) const;

  std::size_t size() const noexcept { return hashes_.size(); }

 private:
  std::vector<std::string> hashes_;
  std::vector<std::string> principals_;
};

}  // namespace rstmdb::server
