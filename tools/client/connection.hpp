// One RCP session to a server over TCP or TLS, for command-line clients: blocking calls with
// deadlines, run on the caller's thread (an Asio io_context the connection owns and runs only
// inside its own methods). Not thread-safe; one thread uses a Connection at a time.
//
// Protocol: requests are RCPX frames (or JSONL lines once HELLO negotiated jsonl); replies are
// decoded with protocol::FrameDecoder and protocol::parse_server_message. Responses arrive in
// request order (protocol.md §7), so call() expects the next response to carry its id; events
// and `end` messages that arrive meanwhile go to the stream handler (or are dropped).
//
// TLS (runtime.md §3.2, clients): OpenSSL via asio::ssl, TLS 1.2 minimum; the peer certificate
// is verified against --ca-cert or the system store, and its SAN against the server name
// (DNS name or IP address); SNI is sent for DNS names only; `insecure` skips verification.
#pragma once

#include "protocol/client_envelope.hpp"
#include "tools/client/client_error.hpp"
#include "tools/client/connection_options.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace rstmdb::client {

struct HelloResult {
  std::string wire_mode;  // as the server chose it
  std::string server_name;
  std::string server_version;
};

// receive() ended by SIGINT or SIGTERM (only while catch_interrupts(true)).
struct Interrupted {
  int signal = 0;
};

class Connection {
 public:
  // Diagnostics for -v; one line per call, without a newline. Never receives the token.
  using Trace = std::function<void(std::string_view line)>;
  using StreamHandler = std::function<void(const protocol::StreamMessage&)>;

  explicit Connection(ConnectionOptions options, Trace trace = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Resolves the server (IPv4 addresses tried first), connects, does the TLS handshake, HELLO
  // (client_name, wire_modes [mode], features ["idempotency","batch"]) and AUTH when a token is
  // set. Throws ClientError; the connection is then closed and open() may be called again.
  HelloResult open();
  // Closes the socket (no BYE: the server needs none). Idempotent.
  void close() noexcept;
  bool is_open() const noexcept;
  // True when the connection is open but the server has closed its side (for example after
  // its idle timeout), as far as the socket shows without reading; no request is in flight
  // then, so reopening is safe.
  bool peer_closed() const noexcept;

  // One request and its response. A response with status "error" is returned, not thrown.
  // Throws ClientError (Timeout after options.request_timeout, Closed, Protocol, Tls); the
  // connection is closed after any of these.
  protocol::ResponseMessage call(std::string_view op, const boost::json::object& params);

  // Events and `end` messages that arrive during call(); default: dropped.
  void set_stream_handler(StreamHandler handler);

  // Streaming: write a request without waiting (returns its id), then receive() messages.
  std::string send(std::string_view op, const boost::json::object& params);
  // The next message from the server; waits at most `timeout` (nullopt: for ever). Returns
  // Interrupted when a caught signal arrives first. Throws ClientError like call().
  std::variant<protocol::ServerMessage, Interrupted> receive(
      std::optional<std::chrono::milliseconds> timeout);

  // While on, SIGINT and SIGTERM are caught instead of ending the process and make receive()
  // return Interrupted. A signal that arrives between receives is kept for the next one.
  // Turning it off restores the default action.
  void catch_interrupts(bool on);
  bool catching_interrupts() const noexcept;

  // What a caught signal does to call(): Defer (the default) keeps it for the next receive()
  // and lets the call finish; Abort ends the call at once: the connection is closed (its
  // response would be out of step) and call() throws ClientError(Kind::Interrupted).
  enum class CallInterrupts { Defer, Abort };
  void set_call_interrupts(CallInterrupts mode) noexcept;
  CallInterrupts call_interrupts() const noexcept;

  const ConnectionOptions& options() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rstmdb::client
