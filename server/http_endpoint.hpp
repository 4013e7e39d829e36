// The metrics and health HTTP endpoint (runtime.md §4.1), on its own thread and io_context so
// that it answers while the main event loop is stalled. Boost.Beast HTTP/1.1, plain TCP, no
// authentication; GET and HEAD only (others: 405); keep-alive as the client asks.
//
// Bounds: at most kMaxConnections open at once (a connection beyond them is accepted and closed
// at once, so the backlog never fills); every read and write has kTimeout (a client that sends
// nothing, a partial request, or does not read its response is closed); request headers at most
// kMaxHeaderBytes; a request with a body is refused (400).
//
// Routing is the caller's: `handler(path, query)` returns the response; HEAD gets the same
// status and headers with no body. Thread: the handler runs on the endpoint's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace rstmdb::server {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpEndpoint {
 public:
  static constexpr std::size_t kMaxConnections = 16;
  static constexpr auto kTimeout = std::chrono::seconds(5);
  static constexpr std::size_t kMaxHeaderBytes = 8 * 1024;

  using Handler = std::function<HttpResponse(std::string_view path, std::string_view query)>;

  explicit HttpEndpoint(Handler handler);
  ~HttpEndpoint();  // stop()

  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds `addr` ("host:port", "[v6]:port"; port 0 = any), starts listening and the thread.
  // Returns "" on success, else why it could not bind.
  std::string start(std::string_view addr);
  // The bound address as "host:port" (after start()).
  std::string local_address() const;
  // Closes the listener and every connection and joins the thread. Idempotent.
  void stop();

  class Impl;  // http_endpoint.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

// "host:port" / "[v6]:port" → the host, and whether it is a wildcard address (0.0.0.0, ::)
// that listens on every interface.
bool listens_on_all_interfaces(std::string_view addr);

}  // namespace rstmdb::server
