#include "server/http_endpoint.hpp"

#include "server/logging.hpp"
#include "server/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <pthread.h>

#include <array>
#include <thread>

namespace rstmdb::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// After an accept failure (out of descriptors): pause, so the thread does not spin.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
// After refusing a request: how long, and how many more bytes, to wait for the client to close.
constexpr auto kRefusalLinger = std::chrono::seconds(1);
constexpr std::size_t kRefusalDrainBytes = 64 * 1024;
constexpr std::string_view kServerHeader = "rstmdb-cpp/" RSTMDB_VERSION;

}  // namespace

class HttpEndpoint::Impl {
 public:
  explicit Impl(Handler handler) : handler_(std::move(handler)) {}

  std::string start(std::string_view addr) {
    std::string host, port;
    if (!split_host_port(addr, host, port)) return "not host:port";
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints =
        resolver.resolve(host, port, tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec) return ec.message();
    if (endpoints.empty()) return "no address";
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      return ec.message();
    }
    asio::co_spawn(io_, accept_loop(), [](std::exception_ptr e) { log_failure(e, "accept loop"); });
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "rstmdb-http");
      io_.run();
    });
    return {};
  }

  std::string local_address() const {
    boost::system::error_code ec;
    const auto ep = acceptor_.local_endpoint(ec);
    if (ec) return "unknown";
    if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
    return ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void stop() {
    if (!thread_.joinable()) return;
    io_.stop();
    thread_.join();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    // Connections still open are closed when their suspended coroutines are destroyed with
    // io_ (its pending handlers own them).
  }

 private:
  static void log_failure(std::exception_ptr e, const char* what) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      get_logger("metrics")->error("http {} failed: {}", what, ex.what());
    }
  }

  asio::awaitable<void> accept_loop() {
    asio::steady_timer backoff(io_);
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kUseTuple);
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) {
        backoff.expires_after(kAcceptBackoff);
        co_await backoff.async_wait(kUseTuple);
        continue;
      }
      if (open_ >= kMaxConnections) {
        boost::system::error_code ignored;
        socket.close(ignored);  // nothing written: the client sees the connection closed at once
        continue;
      }
      ++open_;
      asio::co_spawn(io_, serve(std::move(socket)),
                     [](std::exception_ptr e) { log_failure(e, "connection"); });
    }
  }

  http::response<http::string_body> respond(const http::request<http::empty_body>& req) {
    http::response<http::string_body> res;
    res.version(11);
    res.set(http::field::server, kServerHeader);
    res.keep_alive(req.keep_alive());
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "method not allowed\n";
    } else {
      const std::string_view target(req.target().data(), req.target().size());
      const auto question = target.find('?');
      const auto path = target.substr(0, question);
      const auto query =
          question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
      HttpResponse answer;
      try {
        answer = handler_(path, query);
      } catch (const std::exception& e) {
        get_logger("metrics")->error("http request {} failed: {}", path, e.what());
        answer = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"};
      }
      res.result(static_cast<http::status>(answer.status));
      res.set(http::field::content_type, answer.content_type);
      res.body() = std::move(answer.body);
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) {
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);  // HEAD: the GET's headers, no body
    }
    return res;
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    struct Slot {
      std::size_t& open;
      ~Slot() { --open; }
    } slot{open_};
    beast::tcp_stream stream(std::move(socket));
    // A request is its header block (GET and HEAD have no body): read up to and including the
    // blank line into `raw`, at most kMaxHeaderBytes (start line, fields and the blank line,
    // exactly), then parsed by Beast. Bytes after it (a pipelined request) stay in `raw`.
    std::string raw;
    raw.reserve(1024);
    for (;;) {
      stream.expires_after(kTimeout);
      auto [read_ec, n] = co_await asio::async_read_until(stream, asio::dynamic_buffer(raw, kMaxHeaderBytes),
                                                          "\r\n\r\n", kUseTuple);
      http::request_parser<http::empty_body> parser;
      parser.header_limit(kMaxHeaderBytes);
      parser.eager(true);
      bool too_large = read_ec == asio::error::not_found;  // the limit was reached first
      boost::system::error_code parse_ec;
      if (read_ec && !too_large) co_return;  // closed, reset, timed out: nothing to answer
      if (!too_large) {
        parser.put(asio::buffer(raw.data(), n), parse_ec);
        if (!parse_ec && !parser.is_done()) parse_ec = http::error::unexpected_body;  // a body follows
        too_large = parse_ec == http::error::header_limit;
        raw.erase(0, n);
      }
      if (too_large || parse_ec) {
        // Malformed, too large, or with a body: say so once and close.
        http::response<http::string_body> bad;
        bad.version(11);
        bad.result(too_large ? http::status::request_header_fields_too_large : http::status::bad_request);
        bad.set(http::field::server, kServerHeader);
        bad.set(http::field::content_type, "text/plain; charset=utf-8");
        bad.keep_alive(false);
        bad.body() = too_large ? "request header too large\n" : "bad request\n";
        bad.prepare_payload();
        stream.expires_after(kTimeout);
        co_await http::async_write(stream, bad, kUseTuple);
        // Let the client read the refusal: stop sending, then discard what it still sends
        // (bounded in bytes and time) until it closes, so that closing with unread input does
        // not reset the connection under the response.
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.expires_after(kRefusalLinger);
        std::array<char, 4096> sink;
        for (std::size_t drained = 0; drained < kRefusalDrainBytes;) {
          auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kUseTuple);
          if (ec) break;
          drained += n;
        }
        co_return;
      }
      auto res = respond(parser.get());
      const bool keep_alive = res.keep_alive();
      stream.expires_after(kTimeout);
      if (parser.get().method() == http::verb::head) {
        http::response_serializer<http::string_body> sr(res);
        sr.split(true);
        auto [ec, m] = co_await http::async_write_header(stream, sr, kUseTuple);
        if (ec) co_return;
      } else {
        auto [ec, m] = co_await http::async_write(stream, res, kUseTuple);
        if (ec) co_return;
      }
      if (!keep_alive) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  Handler handler_;
  std::size_t open_ = 0;  // connections being served; on the endpoint's thread only
  std::thread thread_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
};

HttpEndpoint::HttpEndpoint(Handler handler) : impl_(std::make_unique<Impl>(std::move(handler))) {}

HttpEndpoint::~HttpEndpoint() {
  stop();
}

std::string HttpEndpoint::start(std::string_view addr) {
  return impl_->start(addr);
}

std::string HttpEndpoint::local_address() const {
  return impl_->local_address();
}

void HttpEndpoint::stop() {
  impl_->stop();
}

bool listens_on_all_interfaces(std::string_view addr) {
  std::string host, port;
  if (!split_host_port(addr, host, port)) return false;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  return !ec && address.is_unspecified();
}

}  // namespace rstmdb::server
