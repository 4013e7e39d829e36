// Incremental SHA-256 through OpenSSL's EVP interface (manifest digests, runtime.md §7.1).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace rstmdb::backup {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  // Lowercase hex of the digest; the object is spent afterwards (further calls throw).
  std::string hex_digest();

 private:
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const noexcept;
  };
  std::unique_ptr<evp_md_ctx_st, Free> ctx_;
};

// True if `s` is 64 lowercase hex digits.
bool is_sha256_hex(std::string_view s) noexcept;

}  // namespace rstmdb::backup
