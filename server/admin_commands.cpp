#include "server/admin_commands.hpp"

#include "protocol/json_text.hpp"
#include "server/admin_client.hpp"

#include <iostream>

namespace rstmdb::server {

namespace {

constexpr int kExitError = 1;
constexpr int kExitUnavailable = 69;
constexpr int kExitConfig = 78;

std::optional<AdminReply> ask(const config::Config& config, std::string_view command, std::string_view op,
                              int& exit_code) {
  const std::string path = config::admin_socket_path(config);
  std::string error;
  auto client = AdminClient::connect(path, error);
  if (!client) {
    std::cerr << "rstmdbd: " << command << ": " << error
              << " (is rstmdbd running with this configuration?)\n";
    exit_code = kExitUnavailable;
    return std::nullopt;
  }
  auto reply = client->call(op, {}, error);
  if (!reply) {
    std::cerr << "rstmdbd: " << command << ": " << error << "\n";
    exit_code = kExitUnavailable;
  }
  return reply;
}

std::string joined(const boost::json::value* list) {
  std::string out;
  if (list == nullptr || !list->is_array()) return out;
  for (const auto& v : list->get_array()) {
    if (!v.is_string()) continue;
    if (!out.empty()) out += ", ";
    out += std::string(v.get_string());
  }
  return out;
}

}  // namespace

int run_status_command(const config::Config& config) {
  int rc = 0;
  auto reply = ask(config, "status", "ADMIN_STATUS", rc);
  if (!reply) return rc;
  if (!reply->ok) {
    std::cerr << "rstmdbd: status: " << reply->code << ": " << reply->message << "\n";
    return kExitError;
  }
  std::cout << protocol::to_json(reply->result) << "\n";
  return 0;
}

int run_reload_command(const config::Config& config) {
  int rc = 0;
  auto reply = ask(config, "reload", "ADMIN_RELOAD", rc);
  if (!reply) return rc;
  if (!reply->ok) {
    std::cerr << "rstmdbd: reload: " << reply->message << "\n";
    const auto* reason = reply->details.if_contains("reason");
    return reason && reason->is_string() && reason->get_string() == "rejected" ? kExitConfig : kExitError;
  }
  const std::string changed = joined(reply->result.if_contains("changed"));
  std::cout << "reload applied: " << (changed.empty() ? std::string("nothing changed") : "changed " + changed)
            << "\n";
  const std::string restart = joined(reply->result.if_contains("restart_required"));
  if (!restart.empty())
    std::cerr << "rstmdbd: reload: these changes take effect after a restart: " << restart << "\n";
  return 0;
}

}  // namespace rstmdb::server
