#include "server/admin_ops.hpp"

#include <boost/json/array.hpp>

#include <array>
#include <ctime>

namespace rstmdb::server {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 4> kAdminOps = {"ADMIN_STATUS", "ADMIN_RELOAD",
                                                       "ADMIN_CHECKPOINT_CREATE", "ADMIN_CHECKPOINT_RELEASE"};

std::string error_response(const protocol::Request& request, protocol::Error error) {
  return protocol::encode_error_response(request.id, error);
}

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v)
    a.emplace_back(s);
  return a;
}

std::string reload_response(const protocol::Request& request, const ReloadResult& r) {
  switch (r.outcome) {
    case ReloadResult::Outcome::Applied: {
      json::object o;
      o["applied"] = true;
      o["changed"] = strings(r.changed);
      o["restart_required"] = strings(r.restart_only);
      return protocol::encode_ok_response(request.id, o);
    }
    case ReloadResult::Outcome::Rejected: {
      protocol::Error e = protocol::bad_request(r.message);
      e.details["reason"] = "rejected";
      return error_response(request, std::move(e));
    }
    case ReloadResult::Outcome::NotBuilt:
      break;
  }
  protocol::Error e = protocol::bad_request("not implemented: " + r.message);
  e.details["reason"] = "not_built";
  return error_response(request, std::move(e));
}

}  // namespace

std::string admin_time_text(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

bool AdminOps::blocks(std::string_view op) noexcept {
  return op == "ADMIN_RELOAD" || op == "ADMIN_CHECKPOINT_CREATE" || op == "ADMIN_CHECKPOINT_RELEASE";
}

bool AdminOps::is_admin_op(std::string_view op) noexcept {
  for (auto name : kAdminOps) {
    if (name == op) return true;
  }
  return false;
}

std::string AdminOps::run(const protocol::Request& request) const {
  const std::string_view op = request.op;
  if (op == "ADMIN_STATUS") return protocol::encode_ok_response(request.id, services_.status());
  if (op == "ADMIN_RELOAD")
    return reload_response(request, services_.reload("ADMIN_RELOAD on the admin socket"));
  if (op == "ADMIN_CHECKPOINT_CREATE") {
    auto made = services_.checkpoints->create();
    if (auto* e = std::get_if<protocol::Error>(&made)) return error_response(request, std::move(*e));
    const auto& info = std::get<CheckpointInfo>(made);
    json::object o;
    o["id"] = info.id;
    o["path"] = info.path.string();
    o["latest_offset"] = info.summary.latest_offset;
    o["oldest_offset"] = info.summary.oldest_offset;
    o["machines"] = info.summary.machines;
    o["instances"] = info.summary.instances;
    o["created_at"] = admin_time_text(info.created_at);
    o["server_version"] = RSTMDB_VERSION;
    return protocol::encode_ok_response(request.id, o);
  }
  if (op == "ADMIN_CHECKPOINT_RELEASE") {
    const json::value* id = request.params.if_contains("id");
    if (id == nullptr || !id->is_string()) {
      return error_response(request, protocol::bad_request_field("missing or invalid field 'id'", "id"));
    }
    bool completed = false;
    if (const json::value* c = request.params.if_contains("backup_completed")) {
      if (!c->is_bool()) {
        return error_response(
            request, protocol::bad_request_field("backup_completed must be a boolean", "backup_completed"));
      }
      completed = c->get_bool();
    }
    if (auto e = services_.checkpoints->release(id->get_string(), completed)) {
      return error_response(request, std::move(*e));
    }
    json::object o;
    o["released"] = id->get_string();
    return protocol::encode_ok_response(request.id, o);
  }
  return error_response(request, protocol::bad_request("unknown operation: " + request.op));
}

}  // namespace rstmdb::server
