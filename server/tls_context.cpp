#include "server/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>
#include <string_view>

namespace rstmdb::server {

namespace {

// Named in the session cache so that resumed sessions of an mTLS listener keep their verified
// client (OpenSSL refuses to resume without one when peer verification is on).
constexpr std::string_view kSessionIdContext = "rstmdbd";
// runtime.md §3.2 "Other".
constexpr const char* kGroups = "X25519:P-256:P-384";

// Encrypted keys are not supported (runtime.md §1.3); without this OpenSSL would prompt on a tty.
int refuse_passphrase(char*, int, int, void*) {
  return 0;
}

// The first queued OpenSSL error is the most specific one ("no start line" rather than "PEM lib").
std::string take_openssl_error() {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(first);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

std::string hex(const unsigned char* data, unsigned int size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0x0F]);
  }
  return out;
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

std::string utc_time_text(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TlsContext::TlsContext() : context_(boost::asio::ssl::context::tls_server) {}

std::shared_ptr<TlsContext> TlsContext::build(const config::TlsConfig& tls, TlsProblem& problem) {
  ERR_clear_error();
  std::shared_ptr<TlsContext> self(new TlsContext());
  SSL_CTX* ctx = self->context_.native_handle();
  auto fail = [&](std::string key, std::string what) {
    problem = TlsProblem{std::move(key), std::move(what)};
    return nullptr;
  };
  SSL_CTX_set_default_passwd_cb(ctx, refuse_passphrase);

  const int min_version = tls.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return fail("tls.min_version", "cannot set the protocol versions: " + take_openssl_error());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their 2 x 34 KiB of record buffers back (a database keeps many open).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, tls.cipher_list.c_str()) != 1) {
    return fail("tls.cipher_list", "OpenSSL accepts none of these ciphers (" + take_openssl_error() + ")");
  }
  if (SSL_CTX_set_ciphersuites(ctx, tls.ciphersuites.c_str()) != 1) {
    return fail("tls.ciphersuites", "not a valid TLS 1.3 suite list (" + take_openssl_error() + ")");
  }
  if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    return fail("tls",
                std::string("cannot set the key exchange groups ") + kGroups + ": " + take_openssl_error());
  }
  SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(kSessionIdContext.data()),
                                 static_cast<unsigned int>(kSessionIdContext.size()));

  if (!tls.cert_path) return fail("tls.cert_path", "not set (required when tls.enabled is true)");
  if (!tls.key_path) return fail("tls.key_path", "not set (required when tls.enabled is true)");
  const std::string& cert = *tls.cert_path;
  const std::string& key = *tls.key_path;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return fail("tls.cert_path",
                "cannot load a PEM certificate chain from " + quoted(cert) + ": " + take_openssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("tls.key_path", "cannot load an unencrypted PEM private key from " + quoted(key) +
                                    " matching the certificate in tls.cert_path: " + take_openssl_error());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    take_openssl_error();
    return fail("tls.key_path", "private key does not match the certificate in tls.cert_path");
  }

  if (tls.require_client_cert) {
    if (!tls.client_ca_path)
      return fail("tls.client_ca_path", "required when tls.require_client_cert is true");
    const std::string& ca = *tls.client_ca_path;
    if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
      return fail("tls.client_ca_path",
                  "cannot load PEM CA certificates from " + quoted(ca) + ": " + take_openssl_error());
    }
    // The CA names sent in the CertificateRequest, so a client with several certificates picks
    // the right one.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
    if (names == nullptr) {
      return fail("tls.client_ca_path", "no CA certificate in " + quoted(ca) + ": " + take_openssl_error());
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    SSL_CTX_set_verify_depth(ctx, kClientVerifyDepth);
    self->mtls_ = true;
  }

  X509* leaf = SSL_CTX_get0_certificate(ctx);
  std::tm not_after{};
  if (leaf == nullptr || ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &not_after) != 1) {
    return fail("tls.cert_path", "cannot read the expiry date of the certificate in " + quoted(cert));
  }
  self->not_after_ = std::chrono::system_clock::from_time_t(::timegm(&not_after));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (X509_digest(leaf, EVP_sha256(), digest, &digest_size) != 1) {
    return fail("tls.cert_path", "cannot fingerprint the certificate in " + quoted(cert));
  }
  self->fingerprint_ = hex(digest, digest_size);
  self->min_version_ = min_version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2";
  ERR_clear_error();
  return self;
}

std::string TlsContext::describe() const {
  const auto left =
      std::chrono::duration_cast<std::chrono::hours>(not_after_ - std::chrono::system_clock::now());
  const auto days = left.count() / 24;
  std::string out = "min " + min_version_ + ", cert expires " + utc_time_text(not_after_);
  out += left.count() < 0 ? " (expired)" : " (in " + std::to_string(days) + " days)";
  out += mtls_ ? ", mTLS required" : ", no client certificates";
  return out;
}

}  // namespace rstmdb::server
