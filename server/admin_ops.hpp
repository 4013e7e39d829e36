// The operations of the admin socket (runtime.md §5.7). Requests and responses use the RCP
// envelopes, one JSON object per line:
//   {"type":"request","id":"1","op":"ADMIN_STATUS","params":{}}
//   {"type":"response","id":"1","status":"ok","result":{...}}
//   {"type":"response","id":"1","status":"error","error":{"code":"BAD_REQUEST",...}}
//
//   ADMIN_STATUS                 {} → state, uptime_s, connections, latest_offset, pid, version,
//                                data_dir, last_reload, last_backup, checkpoints_open
//   ADMIN_RELOAD                 {} → Server::reload's result: {applied, changed, restart_required}
//                                or BAD_REQUEST (details.reason "rejected" | "not_built")
//   ADMIN_CHECKPOINT_CREATE      {} → {id, path, latest_offset, oldest_offset, machines,
//                                instances, created_at, server_version}
//   ADMIN_CHECKPOINT_RELEASE     {id, backup_completed?} → {released: id}
//
// These ops exist only here: the RCP dispatcher does not know them (a TCP client gets
// "unknown operation"), and RCP ops are unknown here.
#pragma once

#include "protocol/envelope.hpp"
#include "server/admin_checkpoints.hpp"
#include "server/reload.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace rstmdb::server {

// What the admin ops need from the server.
struct AdminServices {
  // The ADMIN_STATUS result; cheap, called on an I/O thread.
  std::function<boost::json::object()> status;
  // Server::reload; blocking.
  std::function<ReloadResult(std::string_view trigger)> reload;
  CheckpointRegistry* checkpoints = nullptr;
};

class AdminOps {
 public:
  explicit AdminOps(AdminServices services) : services_(std::move(services)) {}

  // True for ops that block (a flush, file removal, reading configuration files): the caller
  // runs them off the I/O threads.
  static bool blocks(std::string_view op) noexcept;
  static bool is_admin_op(std::string_view op) noexcept;

  // One parsed request → one response envelope (JSON text without the newline).
  std::string run(const protocol::Request& request) const;

 private:
  AdminServices services_;
};

// JSON of a ReloadRecord or BackupRecord time: "2026-02-21T10:15:30.123Z".
std::string admin_time_text(std::chrono::system_clock::time_point t);

}  // namespace rstmdb::server
