#include "server/transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace rstmdb::server {

namespace asio = boost::asio;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

Transport::Transport(Socket socket) : plain_(std::move(socket)) {}

Transport::Transport(Socket socket, std::shared_ptr<TlsContext> context)
    : plain_(std::move(socket)), context_(std::move(context)) {
  tls_.emplace(std::move(plain_), context_->native());
}

asio::awaitable<std::optional<unsigned char>> Transport::peek_first_byte() {
  auto [wait_ec] = co_await socket().async_wait(Socket::wait_read, kUseTuple);
  if (wait_ec) co_return std::nullopt;
  unsigned char byte = 0;
  boost::system::error_code ec;
  const std::size_t n = socket().receive(asio::buffer(&byte, 1), Socket::message_peek, ec);
  if (ec || n == 0) co_return std::nullopt;
  co_return byte;
}

asio::awaitable<boost::system::error_code> Transport::handshake() {
  if (!tls_) co_return boost::system::error_code{};
  auto [ec] = co_await tls_->async_handshake(TlsStream::server, kUseTuple);
  co_return ec;
}

asio::awaitable<boost::system::error_code> Transport::shutdown_send() {
  if (tls_) {
    // Marking the peer's close_notify as already received makes SSL_shutdown send ours and
    // finish at once, instead of reading until the peer answers with its own: the peer's
    // remaining input is discarded below the TLS layer, and many clients never answer.
    SSL_set_shutdown(tls_->native_handle(), SSL_get_shutdown(tls_->native_handle()) | SSL_RECEIVED_SHUTDOWN);
    auto [ec] = co_await tls_->async_shutdown(kUseTuple);
    if (ec) co_return ec;
  }
  boost::system::error_code ec;
  socket().shutdown(Socket::shutdown_send, ec);
  co_return ec;
}

void Transport::close() noexcept {
  boost::system::error_code ignored;
  socket().shutdown(Socket::shutdown_both, ignored);
  socket().close(ignored);
}

std::string Transport::session_description() const {
  if (!tls_) return {};
  SSL* ssl = const_cast<TlsStream&>(*tls_).native_handle();
  const char* cipher = SSL_get_cipher_name(ssl);
  return std::string(SSL_get_version(ssl)) + " " + (cipher != nullptr ? cipher : "?");
}

std::optional<std::string> Transport::client_common_name() const {
  if (!tls_) return std::nullopt;
  SSL* ssl = const_cast<TlsStream&>(*tls_).native_handle();
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return std::nullopt;
  X509_NAME* subject = X509_get_subject_name(peer);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return std::nullopt;
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return std::nullopt;
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return cn;
}

}  // namespace rstmdb::server
