// The admin socket (runtime.md §5.7): an AF_UNIX stream socket at admin.socket_path (default
// <data_dir>/admin.sock), mode 0600, served on the server's io_context. `rstmdbd status`,
// `rstmdbd reload` and `rstmdbd backup` talk to it (admin_ops.hpp has the protocol).
//
// Who may connect: the file mode admits only the server's user (and root); every accepted
// peer is also checked with SO_PEERCRED and closed unless its uid is the server's or 0, with a
// rate-limited WARN naming uid and pid.
//
// Lifecycle: start() after the data-directory lock is held and before READY. A socket file
// left by a crashed server is replaced: it is one if connecting to it is refused (nothing
// listens); a path where something does listen, or that is not a socket, is an error (the
// server exits 69) and is never removed. stop() (at shutdown, runtime.md §5.3 step 2) closes
// the listener and every connection and removes the socket file if it is still ours.
//
// Bounds (a local peer is trusted with the server's data, but still must not wedge it):
// kMaxAdminConnections at once (more are closed at accept), request lines of at most
// kMaxAdminLineBytes (longer: an error, then close), kAdminIoTimeout to send a request line or
// to take a response (an idle connection is closed after it). Requests on one connection are
// answered in order; blocking ones (admin_ops.hpp) run on the blocking pool, never on an I/O
// thread. Every kCheckpointSweepInterval, checkpoints older than kMaxCheckpointAge are purged.
#pragma once

#include "server/admin_ops.hpp"
#include "server/rate_limited_warning.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace rstmdb::server {

// A few operators' tools at once (status, reload, a backup) with room to spare.
inline constexpr std::size_t kMaxAdminConnections = 8;
// Admin requests are tiny ({"id":..,"op":..,"params":{"id":..}}); 64 KiB is generous.
inline constexpr std::size_t kMaxAdminLineBytes = 64 * 1024;
// Time to send a complete request line, and to take a response; idle connections close after it.
inline constexpr std::chrono::seconds kAdminIoTimeout{10};
// How often abandoned checkpoints are looked for.
inline constexpr std::chrono::seconds kCheckpointSweepInterval{60};

class AdminSocket {
 public:
  // `blocking` runs blocking ops (the server's blocking pool). `ops` and `checkpoints` must
  // outlive this object; so must the io_context, whose threads run everything here.
  // `warnings` rate-limits the WARNs peers can trigger (refused uids, the connection limit).
  AdminSocket(boost::asio::io_context& io, boost::asio::any_io_executor blocking, std::string path,
              const AdminOps& ops, CheckpointRegistry& checkpoints, ClientWarnings& warnings);
  ~AdminSocket();

  AdminSocket(const AdminSocket&) = delete;
  AdminSocket& operator=(const AdminSocket&) = delete;

  // Binds and starts accepting; returns "" or the problem ("admin socket <path>: ...").
  // Call before the io_context runs, once.
  std::string start();
  // Thread-safe, idempotent.
  void stop();

  const std::string& path() const noexcept { return path_; }

 private:
  using Socket = boost::asio::local::stream_protocol::socket;
  struct Connection;

  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(std::shared_ptr<Connection> connection);
  boost::asio::awaitable<void> sweep_loop();
  std::string prepare_path();
  void forget(std::uint64_t id);

  boost::asio::io_context& io_;
  boost::asio::any_io_executor blocking_;
  std::string path_;
  const AdminOps& ops_;
  CheckpointRegistry& checkpoints_;
  ClientWarnings& warnings_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer sweep_timer_;
  uid_t own_uid_;

  std::mutex mutex_;  // guards the members below
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections_;
  std::uint64_t next_id_ = 1;
  bool stopped_ = false;
  std::optional<std::pair<dev_t, ino_t>> bound_;  // the socket file we created
};

}  // namespace rstmdb::server
