// The client side of the admin socket (admin_ops.hpp has the protocol), for `rstmdbd status`,
// `rstmdbd reload` and `rstmdbd backup`. Blocking, one request at a time, every step bounded by
// a deadline. Not used by the server.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::server {

// Connect and send: the server answers at once.
inline constexpr std::chrono::seconds kAdminConnectTimeout{5};
// A reply may wait for a checkpoint: a flush of every memtable and the hard links.
inline constexpr std::chrono::seconds kAdminReplyTimeout{300};
// Longest response line accepted (status and checkpoint results are well under 4 KiB).
inline constexpr std::size_t kMaxAdminResponseBytes = 1 << 20;

struct AdminReply {
  bool ok = false;
  boost::json::object result;  // when ok
  std::string code;            // error code when not ok ("BAD_REQUEST", ...)
  std::string message;         // error message when not ok
  boost::json::object details;
};

class AdminClient {
 public:
  // Connects to the socket at `path`. nullopt with `error` set if it cannot be reached.
  static std::optional<AdminClient> connect(const std::string& path, std::string& error);

  AdminClient(AdminClient&& other) noexcept;
  AdminClient& operator=(AdminClient&&) = delete;
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;
  ~AdminClient();

  // The server's uid (SO_PEERCRED), for the caller to check whom it is talking to.
  uid_t peer_uid() const noexcept { return peer_uid_; }

  // Sends one request and waits for its response. nullopt with `error` set on a broken or
  // silent connection, or a response that is not a well-formed envelope for this request.
  std::optional<AdminReply> call(std::string_view op, const boost::json::object& params, std::string& error,
                                 std::chrono::seconds timeout = kAdminReplyTimeout);

 private:
  explicit AdminClient(int fd, uid_t peer_uid) : fd_(fd), peer_uid_(peer_uid) {}
  int fd_ = -1;
  uid_t peer_uid_ = 0;
  std::uint64_t next_id_ = 1;
  std::string pending_;  // bytes read past the last response line
};

}  // namespace rstmdb::server
