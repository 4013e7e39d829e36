// The RCP listener's TLS configuration as one OpenSSL context (runtime.md §3.2): TLS 1.2 and 1.3
// only (floor tls.min_version), ECDHE+AEAD ciphers for 1.2 (tls.cipher_list) and the 1.3 suites
// (tls.ciphersuites), groups X25519/P-256/P-384, no compression or renegotiation, server cipher
// preference, session resumption allowed; with tls.require_client_cert, SSL_VERIFY_PEER |
// SSL_VERIFY_FAIL_IF_NO_PEER_CERT against tls.client_ca_path, depth 8.
//
// A context is built once at startup (a failure there is exit 78) and again by every reload;
// the server swaps the shared pointer, so connections accepted afterwards use the new one and
// open connections keep the one they were accepted with (each session holds its own pointer).
//
// Threads: build() reads files and may run on any thread (reload runs it on the blocking
// pool); a built context is only used to create TLS streams, which OpenSSL allows from any
// thread.
#pragma once

#include "config/config.hpp"

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace rstmdb::server {

// Longest client certificate chain accepted for mTLS (runtime.md §3.2).
inline constexpr int kClientVerifyDepth = 8;

// Why a context could not be built: the configuration key at fault and what went wrong.
struct TlsProblem {
  std::string key;      // "tls.cert_path", "tls.key_path", "tls.client_ca_path", ...
  std::string problem;  // one line, OpenSSL's reason included
};

class TlsContext {
 public:
  // Builds from `tls` (tls.enabled is assumed). Returns null and fills `problem` on failure.
  static std::shared_ptr<TlsContext> build(const config::TlsConfig& tls, TlsProblem& problem);

  // Passed to each new TLS stream (asio wants it mutable; streams only read it).
  boost::asio::ssl::context& native() noexcept { return context_; }

  // The leaf certificate's notAfter (the source of rstmdb_tls_certificate_expiry_timestamp_seconds).
  std::chrono::system_clock::time_point certificate_expiry() const noexcept { return not_after_; }
  // SHA-256 of the leaf certificate (DER), lowercase hex: tells a rotated certificate apart.
  const std::string& certificate_fingerprint() const noexcept { return fingerprint_; }
  bool client_certificate_required() const noexcept { return mtls_; }

  // "min TLSv1.2, cert expires 2026-03-01T12:00:00Z (in 30 days), mTLS required" (startup line).
  std::string describe() const;

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

 private:
  TlsContext();

  boost::asio::ssl::context context_;
  std::chrono::system_clock::time_point not_after_{};
  std::string fingerprint_;
  std::string min_version_;
  bool mtls_ = false;
};

// "2026-03-01T12:00:00Z".
std::string utc_time_text(std::chrono::system_clock::time_point t);

}  // namespace rstmdb::server
