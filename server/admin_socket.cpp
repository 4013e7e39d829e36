#include "server/admin_socket.hpp"

#include "server/logging.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace rstmdb::server {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// One op as a coroutine of its own, so that it can run on the blocking pool. A free function
// with by-value parameters rather than a capturing lambda: GCC 12 mis-copies the captures of a
// lambda coroutine handed to co_spawn (a freed pointer into the caller's frame; seen with ASan).
asio::awaitable<std::string> run_op(const AdminOps* ops, protocol::Request request) {
  co_return ops->run(request);
}

// Connects to `path` to learn whether something listens there: 0 if it does, else the errno.
int probe(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof(addr.sun_path) - 1));
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

struct AdminSocket::Connection {
  Connection(Socket s, std::uint64_t connection_id)
      : socket(std::move(s)), deadline(socket.get_executor()), id(connection_id) {}
  Socket socket;
  asio::steady_timer deadline;  // closes the socket when a read or write takes too long
  std::uint64_t id;

  void close() {
    boost::system::error_code ignored;
    socket.shutdown(local::socket::shutdown_both, ignored);
    socket.close(ignored);
    deadline.cancel();
  }
  void arm(std::chrono::steady_clock::duration d) {
    deadline.expires_after(d);
    deadline.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        socket.close(ignored);
      }
    });
  }
};

AdminSocket::AdminSocket(asio::io_context& io, asio::any_io_executor blocking, std::string path,
                         const AdminOps& ops, CheckpointRegistry& checkpoints, ClientWarnings& warnings)
    : io_(io),
      blocking_(std::move(blocking)),
      path_(std::move(path)),
      ops_(ops),
      checkpoints_(checkpoints),
      warnings_(warnings),
      acceptor_(asio::make_strand(io)),
      sweep_timer_(io),
      own_uid_(::geteuid()) {}

AdminSocket::~AdminSocket() {
  stop();
}

std::string AdminSocket::prepare_path() {
  struct stat st {};
  if (::lstat(path_.c_str(), &st) != 0) {
    if (errno == ENOENT) return "";
    return "admin socket " + path_ + ": " + errno_text(errno);
  }
  if (!S_ISSOCK(st.st_mode)) return "admin socket " + path_ + ": exists and is not a socket; not removing it";
  const int err = probe(path_);
  if (err == 0) return "admin socket " + path_ + " is in use by another process";
  if (err != ECONNREFUSED)
    return "admin socket " + path_ + ": cannot tell whether it is in use: " + errno_text(err);
  // A socket nobody listens on: what a crashed server leaves behind.
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    return "admin socket " + path_ + ": cannot remove the stale socket: " + errno_text(errno);
  }
  get_logger("admin")->info("admin socket {}: replaced a stale socket file", path_);
  return "";
}

std::string AdminSocket::start() {
  if (std::string problem = prepare_path(); !problem.empty()) return problem;
  boost::system::error_code ec;
  const local::endpoint endpoint(path_);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (ec) return "admin socket " + path_ + ": cannot bind: " + ec.message();
  // The umask (0077) already kept group and others out; make the mode exact.
  if (::chmod(path_.c_str(), 0600) != 0) return "admin socket " + path_ + ": chmod: " + errno_text(errno);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    std::lock_guard lock(mutex_);
    bound_ = std::make_pair(st.st_dev, st.st_ino);
  }
  acceptor_.listen(static_cast<int>(kMaxAdminConnections), ec);
  if (ec) return "admin socket " + path_ + ": cannot listen: " + ec.message();
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
  asio::co_spawn(io_, sweep_loop(), asio::detached);
  get_logger("admin")->info("admin socket listening on {}", path_);
  return "";
}

void AdminSocket::stop() {
  std::vector<std::shared_ptr<Connection>> live;
  std::optional<std::pair<dev_t, ino_t>> bound;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& [id, weak] : connections_) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
    bound = bound_;
  }
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  asio::post(io_, [this] { sweep_timer_.cancel(); });
  for (auto& c : live)
    asio::post(c->socket.get_executor(), [c] { c->close(); });
  // Remove the file only if it is still the one we bound (an operator may have replaced it).
  struct stat st {};
  if (bound && ::lstat(path_.c_str(), &st) == 0 && st.st_dev == bound->first && st.st_ino == bound->second) {
    ::unlink(path_.c_str());
  }
}

void AdminSocket::forget(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  connections_.erase(id);
}

asio::awaitable<void> AdminSocket::accept_loop() {
  auto log = get_logger("admin");
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      log->warn("admin socket: accept failed: {}", ec.message());
      continue;
    }
    ucred peer{};
    socklen_t len = sizeof(peer);
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
      log->warn("admin socket: cannot read the peer's credentials: {}; closing", errno_text(errno));
      continue;  // the socket closes as it goes out of scope
    }
    if (peer.uid != own_uid_ && peer.uid != 0) {
      warnings_.admin_refused.warn(
          "admin socket: refused a connection from uid {} (pid {}): only {} may use it", peer.uid, peer.pid,
          own_uid_ == 0 ? std::string("root") : "uid " + std::to_string(own_uid_) + " and root");
      continue;
    }
    std::shared_ptr<Connection> connection;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) co_return;
      if (connections_.size() >= kMaxAdminConnections) {
        warnings_.admin_connection_limit.warn(
            "admin socket: {} connections open, closing a new one from pid {}", kMaxAdminConnections,
            peer.pid);
        continue;
      }
      connection = std::make_shared<Connection>(std::move(socket), next_id_++);
      connections_.emplace(connection->id, connection);
    }
    asio::co_spawn(connection->socket.get_executor(), serve(connection), asio::detached);
  }
}

asio::awaitable<void> AdminSocket::serve(std::shared_ptr<Connection> c) {
  std::string buffer;
  for (;;) {
    c->arm(kAdminIoTimeout);
    auto [ec, n] = co_await asio::async_read_until(
        c->socket, asio::dynamic_buffer(buffer, kMaxAdminLineBytes), '\n', kUseTuple);
    c->deadline.cancel();
    std::string response;
    bool close_after = false;
    if (ec == asio::error::not_found) {
      response = protocol::encode_error_response(
          "",
          protocol::bad_request("request line longer than " + std::to_string(kMaxAdminLineBytes) + " bytes"));
      close_after = true;
    } else if (ec) {
      break;  // end of input, timeout (the socket was closed) or an error
    } else {
      std::string_view line(buffer.data(), n - 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) {
        buffer.erase(0, n);
        continue;
      }
      auto parsed = protocol::parse_request(line);
      buffer.erase(0, n);
      if (auto* bad = std::get_if<protocol::EnvelopeError>(&parsed)) {
        response = protocol::encode_error_response(bad->id, bad->error);
      } else {
        auto request = std::get<protocol::Request>(std::move(parsed));
        if (AdminOps::blocks(request.op)) {
          response =
              co_await asio::co_spawn(blocking_, run_op(&ops_, std::move(request)), asio::use_awaitable);
        } else {
          response = ops_.run(request);
        }
      }
    }
    response.push_back('\n');
    c->arm(kAdminIoTimeout);
    auto [write_ec, written] = co_await asio::async_write(c->socket, asio::buffer(response), kUseTuple);
    (void)written;
    c->deadline.cancel();
    if (write_ec || close_after) break;
  }
  c->close();
  forget(c->id);
}

asio::awaitable<void> AdminSocket::sweep_loop() {
  auto log = get_logger("admin");
  for (;;) {
    sweep_timer_.expires_after(kCheckpointSweepInterval);
    auto [ec] = co_await sweep_timer_.async_wait(kUseTuple);
    if (ec) co_return;
    if (checkpoints_.open_count() == 0) continue;
    CheckpointRegistry& registry = checkpoints_;
    asio::post(blocking_, [&registry, log] {
      for (const auto& id : registry.purge_older_than(kMaxCheckpointAge))
        log->warn("checkpoint {} was not released within {} s; purged it", id,
                  std::chrono::duration_cast<std::chrono::seconds>(kMaxCheckpointAge).count());
    });
  }
}

}  // namespace rstmdb::server
