#include "server/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

namespace rstmdb::server {

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 digest failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0F]);
  }
  return out;
}

TokenVerifier::TokenVerifier(std::vector<std::string> hashes, std::vector<std::string> labels) {
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    std::string h = hashes[i];
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string label = i < labels.size() ? labels[i] : std::string();
    if (label.empty()) label = "sha256:" + h.substr(0, 8);
    hashes_.push_back(std::move(h));
    principals_.push_back(std::move(label));
  }
}

std::optional<std::string> TokenVerifier::verify(std::string_view token) const {
  auto found = match(token);
  if (!found) return std::nullopt;
  return std::move(found->principal);
}

bool TokenVerifier::accepts_digest(std::string_view digest) const {
  return std::find(hashes_.begin(), hashes_.end(), digest) != hashes_.end();
}

std::optional<TokenMatch> TokenVerifier::match(std::string_view token) const {
  const std::string digest = sha256_hex(token);
  std::size_t matched = hashes_.size();
  for (std::size_t i = 0; i < hashes_.size(); ++i) {
    // Hashes are validated to be 64 hex digits at load time; a different length can never
    // match and is compared over the digest length anyway to keep the timing uniform.
    const bool same_length = hashes_[i].size() == digest.size();
    const bool equal = same_length && CRYPTO_memcmp(hashes_[i].data(), digest.data(), digest.size()) == 0;
    // Branch-free selection: remember the first match without leaving the loop.
    const std::size_t candidate = equal ? i : hashes_.size();
    matched = std::min(matched, candidate);
  }
  if (matched == hashes_.size()) return std::nullopt;
  return TokenMatch{principals_[matched], hashes_[matched]};
}

}  // namespace rstmdb::server
