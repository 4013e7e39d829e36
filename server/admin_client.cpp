#include "server/admin_client.hpp"

#include "protocol/envelope.hpp"
#include "protocol/json_text.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace rstmdb::server {

namespace json = boost::json;

namespace {

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Waits for `events` on fd until the deadline: true if ready, false on timeout (errno set).
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

}  // namespace

std::optional<AdminClient> AdminClient::connect(const std::string& path, std::string& error) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    error = "admin socket path " + path + " is longer than " + std::to_string(sizeof(addr.sun_path) - 1) +
            " bytes";
    return std::nullopt;
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = "socket: " + errno_text(errno);
    return std::nullopt;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const auto deadline = std::chrono::steady_clock::now() + kAdminConnectTimeout;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (err == EAGAIN || err == EINPROGRESS) {
      socklen_t len = sizeof(err);
      if (!wait_for(fd, POLLOUT, deadline) || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    }
    if (err != 0) {
      ::close(fd);
      error = "cannot connect to the admin socket " + path + ": " + errno_text(err);
      return std::nullopt;
    }
  }
  ucred peer{};
  socklen_t len = sizeof(peer);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
    error = "admin socket " + path + ": cannot read the server's credentials: " + errno_text(errno);
    ::close(fd);
    return std::nullopt;
  }
  return AdminClient(fd, peer.uid);
}

AdminClient::AdminClient(AdminClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      peer_uid_(other.peer_uid_),
      next_id_(other.next_id_),
      pending_(std::move(other.pending_)) {}

AdminClient::~AdminClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<AdminReply> AdminClient::call(std::string_view op, const json::object& params,
                                            std::string& error, std::chrono::seconds timeout) {
  const std::string id = std::to_string(next_id_++);
  std::string line = R"({"type":"request","id":)";
  protocol::append_json_string(line, id);
  line += R"(,"op":)";
  protocol::append_json_string(line, op);
  line += R"(,"params":)";
  protocol::append_json(line, params);
  line += "}\n";

  const auto send_deadline = std::chrono::steady_clock::now() + kAdminConnectTimeout;
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n > 0) {
      rest.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (errno == EAGAIN && !wait_for(fd_, POLLOUT, send_deadline)) {
        error = "cannot send to the admin socket: " + errno_text(errno);
        return std::nullopt;
      }
      continue;
    }
    error = "cannot send to the admin socket: " + errno_text(errno);
    return std::nullopt;
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t newline;
  while ((newline = pending_.find('\n')) == std::string::npos) {
    if (pending_.size() > kMaxAdminResponseBytes) {
      error =
          "the admin socket sent a response longer than " + std::to_string(kMaxAdminResponseBytes) + " bytes";
      return std::nullopt;
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      pending_.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      error = "the server closed the admin connection without answering " + std::string(op);
      return std::nullopt;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      if (!wait_for(fd_, POLLIN, deadline)) {
        error = "no answer to " + std::string(op) + " from the admin socket within " +
                std::to_string(timeout.count()) + " s";
        return std::nullopt;
      }
      continue;
    }
    error = "cannot read from the admin socket: " + errno_text(errno);
    return std::nullopt;
  }
  const std::string text = pending_.substr(0, newline);
  pending_.erase(0, newline + 1);

  json::value doc;
  protocol::JsonParseError parse_error;
  if (!protocol::is_valid_utf8(text) || !protocol::parse_json(text, doc, parse_error) || !doc.is_object()) {
    error = "the admin socket sent something that is not a JSON response";
    return std::nullopt;
  }
  const json::object& o = doc.get_object();
  const json::value* got_id = o.if_contains("id");
  const json::value* status = o.if_contains("status");
  if (got_id == nullptr || !got_id->is_string() || got_id->get_string() != id || status == nullptr ||
      !status->is_string()) {
    error = "the admin socket sent a response that does not answer request " + id;
    return std::nullopt;
  }
  AdminReply reply;
  if (status->get_string() == "ok") {
    const json::value* result = o.if_contains("result");
    if (result == nullptr || !result->is_object()) {
      error = "the admin socket sent an ok response without a result object";
      return std::nullopt;
    }
    reply.ok = true;
    reply.result = result->get_object();
    return reply;
  }
  const json::value* e = o.if_contains("error");
  if (e == nullptr || !e->is_object()) {
    error = "the admin socket sent an error response without an error object";
    return std::nullopt;
  }
  const json::object& eo = e->get_object();
  if (const auto* c = eo.if_contains("code"); c && c->is_string()) reply.code = std::string(c->get_string());
  if (const auto* m = eo.if_contains("message"); m && m->is_string())
    reply.message = std::string(m->get_string());
  if (const auto* d = eo.if_contains("details"); d && d->is_object()) reply.details = d->get_object();
  return reply;
}

}  // namespace rstmdb::server
