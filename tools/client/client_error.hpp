// The one error type of the client library: everything that keeps a request from getting a
// response. (A response with status "error" is not a ClientError; callers get it as a
// ResponseMessage. Only a refused HELLO or AUTH while opening becomes Kind::Server.)
#pragma once

#include <boost/json/object.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace rstmdb::client {

class ClientError : public std::runtime_error {
 public:
  enum class Kind {
    Config,       // bad client settings: unreadable CA/cert/key file, request too large
    Connect,      // name resolution or TCP connect failed
    Tls,          // TLS handshake or record failure, certificate verification
    Timeout,      // connect or request deadline passed
    Closed,       // the server closed the connection
    Protocol,     // the server wrote something that is not RCP
    Server,       // the server refused HELLO or AUTH; server_error() holds its error object
    Interrupted,  // a caught SIGINT/SIGTERM ended call() (CallInterrupts::Abort)
  };

  ClientError(Kind kind, const std::string& message, boost::json::object server_error = {})
      : std::runtime_error(message), kind_(kind), server_error_(std::move(server_error)) {}

  Kind kind() const noexcept { return kind_; }
  const boost::json::object& server_error() const noexcept { return server_error_; }

 private:
  Kind kind_;
  boost::json::object server_error_;
};

// Stable names for --json error output: CONFIG_ERROR, CONNECTION_FAILED, TLS_ERROR, TIMEOUT,
// CONNECTION_CLOSED, PROTOCOL_ERROR, INTERRUPTED (and the server's own code for Kind::Server).
std::string_view client_error_code(ClientError::Kind kind) noexcept;

}  // namespace rstmdb::client
