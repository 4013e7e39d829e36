// The byte stream under one session: a TCP socket, or TLS over it (runtime.md §3.2). The session
// has one code path for both; what differs is decided here, at run time, per call:
//
//   async_read_some / async_write_some   the socket's, or the TLS stream's (records)
//   handshake()                          TLS: the server handshake; plain: nothing to do
//   write_now()                          plain only (see below; can_write_now())
//   shutdown_send()                      TLS: close_notify, then FIN; plain: FIN
//   socket()                             the TCP socket underneath, for options, the peer
//                                        address, cancel(), SIOCOUTQ and discarding input
//                                        after shutdown_send() (raw bytes, not records)
//
// write_now() writes on the calling thread without waiting: the socket is non-blocking, and
// what the kernel does not take stays with the caller. Through TLS that cannot work: asio's
// synchronous TLS write encrypts into its own buffer first and loses the rest of a record the
// kernel did not take, so a TLS session always writes from its writer coroutine.
//
// Threads: like the socket, a Transport is used from its session's strand only. At most one
// read and one write may be outstanding at a time (full duplex through TLS too).
#pragma once

#include "server/tls_context.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <memory>
#include <optional>
#include <string>

namespace rstmdb::server {

class Transport {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using TlsStream = boost::asio::ssl::stream<Socket>;

  // Plain TCP.
  explicit Transport(Socket socket);
  // TLS over `socket` with `context` (held for the connection's life); handshake() comes first.
  Transport(Socket socket, std::shared_ptr<TlsContext> context);

  bool is_tls() const noexcept { return tls_.has_value(); }
  Socket& socket() noexcept { return tls_ ? tls_->next_layer() : plain_; }
  const Socket& socket() const noexcept { return tls_ ? tls_->next_layer() : plain_; }
  Socket::executor_type get_executor() noexcept { return socket().get_executor(); }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            plain_.async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            plain_.async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  // Whether write_now() may be used: plain connections only.
  bool can_write_now() const noexcept { return !tls_; }
  // Plain only: writes what the non-blocking socket takes now and returns the count (0 and
  // would_block when it takes nothing).
  std::size_t write_now(boost::asio::const_buffer bytes, boost::system::error_code& ec) {
    return plain_.write_some(bytes, ec);
  }

  // The first byte the client sent, without consuming it; waits until one is there. nullopt if
  // the peer closed first or the wait failed (cancelled: the handshake deadline).
  boost::asio::awaitable<std::optional<unsigned char>> peek_first_byte();
  // The TLS server handshake (plain: succeeds at once). On failure the error carries
  // OpenSSL's reason, and the alert OpenSSL produced has been sent.
  boost::asio::awaitable<boost::system::error_code> handshake();
  // Ends our sending side: TLS sends close_notify without waiting for the peer's, then both
  // send a FIN. The peer may go on sending; socket() reads discard it.
  boost::asio::awaitable<boost::system::error_code> shutdown_send();
  // Shuts down and closes the socket at once (no close_notify).
  void close() noexcept;

  // After a TLS handshake: "TLSv1.3 TLS_AES_128_GCM_SHA256", and the client certificate's
  // subject CN if one was presented (mTLS). Empty for plain connections.
  std::string session_description() const;
  std::optional<std::string> client_common_name() const;

 private:
  Socket plain_;  // the socket while plain; moved into tls_ otherwise
  std::optional<TlsStream> tls_;
  std::shared_ptr<TlsContext> context_;  // keeps the SSL_CTX of this connection alive
};

}  // namespace rstmdb::server
