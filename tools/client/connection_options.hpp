// How a client reaches a server: address, token, TLS, wire mode and timeouts. Filled from the
// command line and environment by each tool (rstmdb-cli: tools/cli/command_line.hpp).
#pragma once

#include "tools/client/server_address.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace rstmdb::client {

struct TlsOptions {
  bool enabled = false;
  std::optional<std::string> ca_cert;      // PEM bundle to trust; default: the system store
  std::optional<std::string> client_cert;  // PEM chain for mTLS, only with client_key
  std::optional<std::string> client_key;   // PEM key, unencrypted
  bool insecure = false;                   // skip certificate and name verification
  // Name sent as SNI (DNS names only) and verified against the certificate's SAN (DNS name or
  // IP address); default: the host of the server address.
  std::optional<std::string> server_name;
};

enum class WireMode { BinaryJson, Jsonl };

// Connect deadline: name resolution + TCP connect + TLS handshake.
inline constexpr std::chrono::milliseconds kDefaultConnectTimeout{10'000};
// Per request, HELLO and AUTH included.
inline constexpr std::chrono::milliseconds kDefaultRequestTimeout{30'000};

struct ConnectionOptions {
  ServerAddress server{"127.0.0.1", kDefaultPort};
  std::optional<std::string> token;  // sent with AUTH after HELLO; never logged
  TlsOptions tls;
  WireMode wire_mode = WireMode::BinaryJson;
  std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout;
  std::chrono::milliseconds request_timeout = kDefaultRequestTimeout;
  std::string client_name = "rstmdb-cli";  // HELLO client_name
};

}  // namespace rstmdb::client
