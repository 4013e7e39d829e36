// `rstmdbd status` and `rstmdbd reload` (runtime.md §2.1): clients of the admin socket, which
// they find from the same configuration as the server (admin.socket_path, else
// <storage.data_dir>/admin.sock).
//
//   status   prints ADMIN_STATUS's result as one JSON line; exit 0, 69 if the socket cannot
//            be reached, 1 if the server answers with an error.
//   reload   prints what changed; exit 0 when applied, 78 when the server rejected the new
//            configuration (it keeps the old one), 1 when the server cannot reload, 69 if the
//            socket cannot be reached.
#pragma once

#include "config/config.hpp"

namespace rstmdb::server {

int run_status_command(const config::Config& config);
int run_reload_command(const config::Config& config);

}  // namespace rstmdb::server
