#include "tools/client/tls_setup.hpp"

#include "tools/client/client_error.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace rstmdb::client {
namespace ssl = boost::asio::ssl;

namespace {

ClientError config_error(const std::string& what, const boost::system::error_code& ec) {
  return ClientError(ClientError::Kind::Config, "TLS configuration error: " + what + ": " + ec.message());
}

bool is_ip_literal(const std::string& name) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(name, ec);
  return !ec;
}

}  // namespace

ssl::context make_client_tls_context(const TlsOptions& tls) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);

  boost::system::error_code ec;
  if (tls.ca_cert) {
    ctx.load_verify_file(*tls.ca_cert, ec);
    if (ec) throw config_error("cannot load CA certificate '" + *tls.ca_cert + "'", ec);
  } else {
    ctx.set_default_verify_paths(ec);
    if (ec) throw config_error("cannot load the system trust store", ec);
  }
  if (tls.client_cert && tls.client_key) {
    ctx.use_certificate_chain_file(*tls.client_cert, ec);
    if (ec) throw config_error("cannot load client certificate '" + *tls.client_cert + "'", ec);
    ctx.use_private_key_file(*tls.client_key, ssl::context::pem, ec);
    if (ec) throw config_error("cannot load client key '" + *tls.client_key + "'", ec);
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      ERR_clear_error();
      throw ClientError(ClientError::Kind::Config, "TLS configuration error: client key '" + *tls.client_key +
                                                       "' does not match client certificate '" +
                                                       *tls.client_cert + "'");
    }
  }
  ctx.set_verify_mode(tls.insecure ? ssl::verify_none : ssl::verify_peer);
  return ctx;
}

void configure_tls_session(SSL* ssl, const std::string& name, bool insecure) {
  const bool ip = is_ip_literal(name);
  if (!insecure) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    if (ok != 1) {
      ERR_clear_error();
      throw ClientError(ClientError::Kind::Config,
                        "TLS configuration error: cannot verify server name '" + name + "'");
    }
  }
  // RFC 6066 §3: SNI carries DNS host names only, never address literals.
  if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    ERR_clear_error();
    throw ClientError(ClientError::Kind::Config,
                      "TLS configuration error: invalid server name '" + name + "'");
  }
}

std::string describe_tls_failure(SSL* ssl, const boost::system::error_code& ec) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  if (ec == boost::asio::error::eof || ec == ssl::error::stream_truncated) {
    return "the server closed the connection during the handshake (is TLS enabled on the server?)";
  }
  return ec.message();
}

std::string describe_tls_session(SSL* ssl, const std::string& name, bool insecure) {
  std::string out = SSL_get_version(ssl);
  if (const char* cipher = SSL_get_cipher_name(ssl)) {
    out += " ";
    out += cipher;
  }
  if (X509* cert = SSL_get1_peer_certificate(ssl)) {
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    out += ", server certificate ";
    out += subject;
    X509_free(cert);
  }
  out += insecure ? ", not verified (--insecure)" : ", verified for " + name;
  return out;
}

}  // namespace rstmdb::client
