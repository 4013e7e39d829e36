#include "tools/client/connection.hpp"

#include "protocol/frame.hpp"
#include "protocol/frame_decoder.hpp"
#include "protocol/frame_encoder.hpp"
#include "protocol/json_text.hpp"
#include "tools/client/tls_setup.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/array.hpp>

#include <poll.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace rstmdb::client {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace json = boost::json;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Bytes asked of the socket per read.
constexpr std::size_t kReadChunk = 64 * 1024;
// How long close-down waits for cancelled operations to finish.
constexpr auto kAbortDrain = std::chrono::seconds(2);

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

std::string ms_text(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", std::chrono::duration<double, std::milli>(d).count());
  return buf;
}

std::string json_string(const json::object& o, std::string_view key) {
  if (const json::value* v = o.if_contains(key); v != nullptr && v->is_string()) {
    return std::string(v->get_string().data(), v->get_string().size());
  }
  return {};
}

// Long payloads are cut in -v output (a machine definition can be megabytes).
std::string abbreviated(std::string_view text) {
  constexpr std::size_t kShown = 300;
  if (text.size() <= kShown) return std::string(text);
  return std::string(text.substr(0, kShown)) + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string server_error_text(const protocol::ResponseMessage& r) {
  return "server error: " + std::string(r.error_code()) + " - " + std::string(r.error_message());
}

}  // namespace

std::string_view client_error_code(ClientError::Kind kind) noexcept {
  switch (kind) {
    case ClientError::Kind::Config:
      return "CONFIG_ERROR";
    case ClientError::Kind::Connect:
      return "CONNECTION_FAILED";
    case ClientError::Kind::Tls:
      return "TLS_ERROR";
    case ClientError::Kind::Timeout:
      return "TIMEOUT";
    case ClientError::Kind::Closed:
      return "CONNECTION_CLOSED";
    case ClientError::Kind::Protocol:
      return "PROTOCOL_ERROR";
    case ClientError::Kind::Server:
      return "SERVER_ERROR";
    case ClientError::Kind::Interrupted:
      return "INTERRUPTED";
  }
  return "CLIENT_ERROR";
}

struct Connection::Impl {
  Impl(ConnectionOptions o, Trace t) : options(std::move(o)), trace(std::move(t)) {}

  ConnectionOptions options;
  Trace trace;
  StreamHandler stream_handler;

  asio::io_context io;
  std::optional<ssl::context> tls_context;  // built at the first TLS open
  // Declared before `tls` so that the TLS stream, which refers to it, is destroyed first.
  std::unique_ptr<tcp::socket> socket;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;
  std::unique_ptr<asio::signal_set> signals;
  bool signal_wait_pending = false;
  std::optional<int> caught_signal;
  CallInterrupts call_interrupts = CallInterrupts::Defer;

  protocol::FrameDecoder decoder;
  protocol::Framing framing = protocol::Framing::Rcpx;
  std::string out;  // the bytes of the write in progress
  bool reading = false;
  bool writing = false;
  int pending = 0;  // socket operations whose handlers have not run yet (abort waits for them)
  boost::system::error_code read_error;
  boost::system::error_code write_error;
  bool open = false;
  std::uint64_t next_id = 1;

  void log(const std::string& line) const {
    if (trace) trace(line);
  }

  std::string server_text() const { return format_server_address(options.server); }

  // ---- running the loop --------------------------------------------------------------------

  // Runs handlers until `done()` or the deadline. Returns false on timeout.
  template <typename Done>
  bool run_until(Done done, std::optional<Clock::time_point> deadline) {
    io.restart();
    while (!done()) {
      const std::size_t ran = deadline ? io.run_one_until(*deadline) : io.run_one();
      if (ran == 0) {
        if (deadline && Clock::now() >= *deadline) return false;
        if (io.stopped()) io.restart();  // no work left: only possible if done() is already true
        if (!done() && pending == 0 && !signal_wait_pending) {
          throw ClientError(ClientError::Kind::Protocol, "internal: waiting with nothing to wait for");
        }
      }
    }
    return true;
  }

  // Closes the socket and lets every pending handler finish (with operation_aborted).
  void abort() noexcept {
    boost::system::error_code ignored;
    if (socket) {
      socket->shutdown(tcp::socket::shutdown_both, ignored);
      socket->close(ignored);
    }
    try {
      io.restart();
      const auto until = Clock::now() + kAbortDrain;
      while (pending > 0 && io.run_one_until(until) > 0) {
      }
    } catch (...) {
      // A handler threw while draining: nothing more can be done for this connection.
    }
    if (pending > 0) {
      // Handlers still refer to this object; they must never run after it is gone.
      std::fprintf(stderr, "rstmdb-cli: socket operations did not finish after close; exiting\n");
      std::_Exit(1);
    }
    reading = writing = false;
    tls.reset();
    socket.reset();
    open = false;
  }

  [[noreturn]] void fail(ClientError::Kind kind, const std::string& message) {
    abort();
    throw ClientError(kind, message);
  }

  std::optional<Clock::time_point> deadline_after(std::optional<std::chrono::milliseconds> d) const {
    if (!d) return std::nullopt;
    return Clock::now() + *d;
  }

  // ---- opening -----------------------------------------------------------------------------

  void connect_tcp(Clock::time_point deadline) {
    // The resolver's handler may outlive this call (getaddrinfo cannot be interrupted), so its
    // results live in shared state rather than on this stack frame.
    struct Resolution {
      bool done = false;
      boost::system::error_code ec;
      tcp::resolver::results_type results;
    };
    auto resolution = std::make_shared<Resolution>();
    tcp::resolver resolver(io);
    log("resolving " + options.server.host);
    resolver.async_resolve(options.server.host, std::to_string(options.server.port),
                           [resolution](const boost::system::error_code& ec, tcp::resolver::results_type r) {
                             resolution->ec = ec;
                             resolution->results = std::move(r);
                             resolution->done = true;
                           });
    if (!run_until([&] { return resolution->done; }, deadline)) {
      resolver.cancel();
      fail(ClientError::Kind::Timeout, "connecting to " + server_text() + " timed out after " +
                                           seconds_text(options.connect_timeout) + " (resolving the name)");
    }
    if (resolution->ec) {
      fail(ClientError::Kind::Connect,
           "cannot resolve '" + options.server.host + "': " + resolution->ec.message());
    }
    const auto& results = resolution->results;
    // IPv4 first: a server bound to 127.0.0.1 is then reached at once for "localhost".
    std::vector<tcp::endpoint> endpoints;
    for (const auto& e : results)
      if (e.endpoint().address().is_v4()) endpoints.push_back(e.endpoint());
    for (const auto& e : results)
      if (!e.endpoint().address().is_v4()) endpoints.push_back(e.endpoint());

    socket = std::make_unique<tcp::socket>(io);
    bool connected = false;
    boost::system::error_code cec;
    tcp::endpoint used;
    ++pending;
    asio::async_connect(*socket, endpoints,
                        [&](const boost::system::error_code& ec, const tcp::endpoint& ep) {
                          --pending;
                          cec = ec;
                          used = ep;
                          connected = true;
                        });
    const auto started = Clock::now();
    if (!run_until([&] { return connected; }, deadline)) {
      fail(ClientError::Kind::Timeout,
           "connecting to " + server_text() + " timed out after " + seconds_text(options.connect_timeout));
    }
    if (cec) fail(ClientError::Kind::Connect, "cannot connect to " + server_text() + ": " + cec.message());
    boost::system::error_code ignored;
    socket->set_option(tcp::no_delay(true), ignored);
    log("connected to " + used.address().to_string() + " port " + std::to_string(used.port()) + " in " +
        ms_text(Clock::now() - started));
  }

  void handshake_tls(Clock::time_point deadline) {
    tls = std::make_unique<ssl::stream<tcp::socket&>>(*socket, *tls_context);
    const std::string name = options.tls.server_name.value_or(options.server.host);
    configure_tls_session(tls->native_handle(), name, options.tls.insecure);
    bool done = false;
    boost::system::error_code hec;
    ++pending;
    tls->async_handshake(ssl::stream_base::client, [&](const boost::system::error_code& ec) {
      --pending;
      hec = ec;
      done = true;
    });
    if (!run_until([&] { return done; }, deadline)) {
      fail(ClientError::Kind::Timeout, "TLS handshake with " + server_text() + " timed out");
    }
    if (hec)
      fail(ClientError::Kind::Tls,
           "TLS handshake failed: " + describe_tls_failure(tls->native_handle(), hec));
    log("TLS: " + describe_tls_session(tls->native_handle(), name, options.tls.insecure));
  }

  // ---- reading and writing -----------------------------------------------------------------

  void start_read() {
    if (reading || !socket) return;
    reading = true;
    ++pending;
    const auto space = decoder.prepare(kReadChunk);
    auto handler = [this](const boost::system::error_code& ec, std::size_t n) {
      reading = false;
      --pending;
      if (ec) {
        read_error = ec;
        return;
      }
      decoder.commit(n);
    };
    if (tls) {
      tls->async_read_some(asio::buffer(space.data(), space.size()), handler);
    } else {
      socket->async_read_some(asio::buffer(space.data(), space.size()), handler);
    }
  }

  void start_signal_wait() {
    if (!signals || signal_wait_pending) return;
    signal_wait_pending = true;
    signals->async_wait([this](const boost::system::error_code& ec, int signo) {
      signal_wait_pending = false;
      if (!ec) caught_signal = signo;
    });
  }

  [[noreturn]] void fail_read() {
    const auto ec = read_error;
    read_error.clear();
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
      fail(ClientError::Kind::Closed, "connection closed");
    }
    if (ec.category() == asio::error::get_ssl_category()) {
      fail(ClientError::Kind::Tls, "TLS error: " + ec.message());
    }
    fail(ClientError::Kind::Closed, "connection lost: " + ec.message());
  }

  void write_frame(std::string_view payload, std::optional<Clock::time_point> deadline) {
    if (payload.size() > protocol::kMaxPayloadBytes) {
      throw ClientError(ClientError::Kind::Config, "request too large (" + std::to_string(payload.size()) +
                                                       " bytes; the limit is " +
                                                       std::to_string(protocol::kMaxPayloadBytes) + ")");
    }
    out.clear();
    protocol::append_frame(out, framing, payload);
    writing = true;
    ++pending;
    auto handler = [this](const boost::system::error_code& ec, std::size_t) {
      writing = false;
      --pending;
      write_error = ec;
    };
    if (tls) {
      asio::async_write(*tls, asio::buffer(out), handler);
    } else {
      asio::async_write(*socket, asio::buffer(out), handler);
    }
    if (!run_until([&] { return !writing; }, deadline)) {
      fail(ClientError::Kind::Timeout,
           "request timeout (could not send within " + seconds_text(options.request_timeout) + ")");
    }
    if (write_error) {
      const auto ec = write_error;
      write_error.clear();
      fail(ClientError::Kind::Closed, "connection lost: " + ec.message());
    }
  }

  std::string send(std::string_view op, const json::object& params) {
    if (!open) throw ClientError(ClientError::Kind::Closed, "not connected");
    const std::string id = std::to_string(next_id++);
    const std::string payload = protocol::encode_request(id, op, params);
    if (op == "AUTH") {
      log("-> AUTH id=" + id + " (token not shown)");
    } else {
      log("-> " + std::string(op) + " id=" + id + " " + abbreviated(payload));
    }
    write_frame(payload, deadline_after(options.request_timeout));
    return id;
  }

  // `interruptible` false (inside call()): a caught signal stays pending for the next
  // interruptible receive instead of ending this one.
  std::variant<protocol::ServerMessage, Interrupted> receive(std::optional<Clock::time_point> deadline,
                                                             bool interruptible) {
    while (true) {
      auto decoded = decoder.next();
      if (auto* m = std::get_if<protocol::DecodedMessage>(&decoded)) {
        auto parsed = protocol::parse_server_message(m->payload);
        if (auto* bad = std::get_if<protocol::MalformedMessage>(&parsed)) {
          fail(ClientError::Kind::Protocol, "malformed message from the server: " + bad->reason);
        }
        return std::get<protocol::ServerMessage>(std::move(parsed));
      }
      if (auto* c = std::get_if<protocol::CloseConnection>(&decoded)) {
        std::string message = "malformed data from the server: " + c->detail;
        if (!tls && c->reason == protocol::CloseReason::BadStart) {
          message += " (a TLS server? try --tls)";
        }
        fail(ClientError::Kind::Protocol, message);
      }
      if (interruptible && caught_signal) {
        const int s = *caught_signal;
        caught_signal.reset();
        return Interrupted{s};
      }
      if (read_error) fail_read();
      if (!socket) throw ClientError(ClientError::Kind::Closed, "not connected");
      start_read();
      start_signal_wait();
      if (!run_until([&] { return !reading || (interruptible && caught_signal.has_value()); }, deadline)) {
        fail(ClientError::Kind::Timeout,
             "request timeout (no response within " + seconds_text(options.request_timeout) + ")");
      }
    }
  }

  protocol::ResponseMessage call(std::string_view op, const json::object& params) {
    const bool abortable = call_interrupts == CallInterrupts::Abort;
    if (abortable && caught_signal) {  // nothing sent yet: the connection stays usable
      caught_signal.reset();
      throw ClientError(ClientError::Kind::Interrupted, "interrupted");
    }
    const auto started = Clock::now();
    const std::string id = send(op, params);
    const auto deadline = deadline_after(options.request_timeout);
    while (true) {
      auto got = receive(deadline, abortable);
      if (std::holds_alternative<Interrupted>(got)) fail(ClientError::Kind::Interrupted, "interrupted");
      auto message = std::get<protocol::ServerMessage>(std::move(got));
      if (auto* stream = std::get_if<protocol::StreamMessage>(&message)) {
        log("<- " + stream->type + " " + abbreviated(protocol::to_json(stream->body)));
        if (stream_handler) stream_handler(*stream);
        continue;
      }
      auto& response = std::get<protocol::ResponseMessage>(message);
      if (response.id != id) {
        fail(ClientError::Kind::Protocol, "response id '" + response.id + "' where '" + id + "' was due");
      }
      log("<- " + std::string(op) + " id=" + id + " " +
          (response.ok ? "ok" : std::string(response.error_code())) + " in " +
          ms_text(Clock::now() - started));
      return std::move(response);
    }
  }

  HelloResult open_connection() {
    abort();
    decoder = protocol::FrameDecoder();
    framing = protocol::Framing::Rcpx;
    read_error.clear();
    write_error.clear();
    caught_signal.reset();
    // Bad TLS files are reported before anything is sent.
    if (options.tls.enabled && !tls_context) tls_context.emplace(make_client_tls_context(options.tls));
    const auto deadline = Clock::now() + options.connect_timeout;
    log("connecting to " + server_text() + (options.tls.enabled ? " (TLS)" : ""));
    connect_tcp(deadline);
    if (options.tls.enabled) handshake_tls(deadline);

    json::object hello;
    hello["protocol_version"] = 1;
    hello["client_name"] = options.client_name;
    hello["wire_modes"] = json::array{options.wire_mode == WireMode::Jsonl ? "jsonl" : "binary_json"};
    hello["features"] = json::array{"idempotency", "batch"};
    open = true;  // call() below needs it; reset by abort() on failure
    protocol::ResponseMessage r;
    try {
      r = call("HELLO", hello);
    } catch (const ClientError& e) {
      // A TLS listener drops a plaintext HELLO; say what is the likely cause.
      if (!options.tls.enabled && e.kind() == ClientError::Kind::Closed) {
        throw ClientError(e.kind(), std::string(e.what()) + " (if the server uses TLS, add --tls)");
      }
      throw;
    }
    if (!r.ok) {
      const std::string text = server_error_text(r);
      abort();
      throw ClientError(ClientError::Kind::Server, text, std::move(r.error));
    }
    HelloResult result;
    result.wire_mode = json_string(r.result, "wire_mode");
    result.server_name = json_string(r.result, "server_name");
    result.server_version = json_string(r.result, "server_version");
    if (result.wire_mode == "jsonl") framing = protocol::Framing::Jsonl;
    log("HELLO: " + abbreviated(protocol::to_json(r.result)));

    if (options.token) {
      json::object auth;
      auth["method"] = "bearer";
      auth["token"] = *options.token;
      protocol::ResponseMessage a = call("AUTH", auth);
      if (!a.ok) {
        const std::string text = server_error_text(a);
        abort();
        throw ClientError(ClientError::Kind::Server, text, std::move(a.error));
      }
    }
    return result;
  }
};

Connection::Connection(ConnectionOptions options, Trace trace)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(trace))) {}

Connection::~Connection() {
  close();
}

HelloResult Connection::open() {
  return impl_->open_connection();
}

void Connection::close() noexcept {
  impl_->abort();
}

bool Connection::is_open() const noexcept {
  return impl_->open;
}

bool Connection::peer_closed() const noexcept {
  if (!impl_->open || !impl_->socket) return false;
  pollfd p{};
  p.fd = impl_->socket->native_handle();
  p.events = POLLIN | POLLRDHUP;
  if (::poll(&p, 1, 0) <= 0) return false;
  // Readable data alone (an event, a TLS record) is not a close.
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

protocol::ResponseMessage Connection::call(std::string_view op, const json::object& params) {
  return impl_->call(op, params);
}

void Connection::set_stream_handler(StreamHandler handler) {
  impl_->stream_handler = std::move(handler);
}

std::string Connection::send(std::string_view op, const json::object& params) {
  return impl_->send(op, params);
}

std::variant<protocol::ServerMessage, Interrupted> Connection::receive(
    std::optional<std::chrono::milliseconds> timeout) {
  return impl_->receive(impl_->deadline_after(timeout), true);
}

void Connection::catch_interrupts(bool on) {
  if (on) {
    if (!impl_->signals) impl_->signals = std::make_unique<asio::signal_set>(impl_->io, SIGINT, SIGTERM);
    return;
  }
  if (!impl_->signals) return;
  boost::system::error_code ignored;
  impl_->signals->cancel(ignored);
  impl_->io.restart();
  while (impl_->signal_wait_pending && impl_->io.poll_one() > 0) {
  }
  impl_->signals.reset();
  impl_->signal_wait_pending = false;
  impl_->caught_signal.reset();
}

bool Connection::catching_interrupts() const noexcept {
  return impl_->signals != nullptr;
}

void Connection::set_call_interrupts(CallInterrupts mode) noexcept {
  impl_->call_interrupts = mode;
}

Connection::CallInterrupts Connection::call_interrupts() const noexcept {
  return impl_->call_interrupts;
}

const ConnectionOptions& Connection::options() const noexcept {
  return impl_->options;
}

}  // namespace rstmdb::client
