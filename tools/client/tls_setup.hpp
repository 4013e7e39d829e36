// OpenSSL settings of a client connection (runtime.md §3.2, "Clients"): the context from the
// TLS options, and per connection the name to verify and send as SNI.
#pragma once

#include "tools/client/connection_options.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include <openssl/ssl.h>

#include <string>
#include <string_view>

namespace rstmdb::client {

// TLS 1.2 minimum, no compression; trusts `ca_cert` or the system store; loads the client
// certificate and key (which must match). Throws ClientError(Config) naming the file at fault.
boost::asio::ssl::context make_client_tls_context(const TlsOptions& tls);

// Per connection: verify the peer certificate's SAN against `name` (as an IP address when it
// is one, else as a DNS name) unless `insecure`; send `name` as SNI when it is a DNS name.
// Throws ClientError(Config) if OpenSSL refuses the name.
void configure_tls_session(SSL* ssl, const std::string& name, bool insecure);

// A readable reason for a failed handshake: the certificate verification result when that is
// what failed ("certificate verify failed: hostname mismatch"), else the OpenSSL reason.
std::string describe_tls_failure(SSL* ssl, const boost::system::error_code& ec);

// "TLSv1.3 TLS_AES_256_GCM_SHA384, server certificate CN=..., verified for NAME" (for -v).
std::string describe_tls_session(SSL* ssl, const std::string& name, bool insecure);

}  // namespace rstmdb::client
