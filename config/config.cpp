#include "config/config.hpp"

namespace rstmdb::config {

std::string FsyncPolicy::to_string() const {
  switch (kind) {
    case Kind::EveryWrite:
      return "every_write";
    case Kind::EveryN:
      return "every_n:" + std::to_string(n);
    case Kind::EveryMs:
      return "every_ms:" + std::to_string(n);
    case Kind::Never:
      return "never";
  }
  return "every_write";
}

std::string admin_socket_path(const Config& config) {
  if (config.admin.socket_path) return *config.admin.socket_path;
  std::string dir = config.storage.data_dir;
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  return dir + "/" + std::string(kDefaultAdminSocketName);
}

}  // namespace rstmdb::config
