// Handlers of the session operations HELLO, AUTH, PING, BYE and INFO (protocol.md §10-14).
#pragma once

#include "server/dispatcher.hpp"

namespace rstmdb::server {

// Installs the five handlers into `dispatcher`. `services` must outlive it.
void register_session_ops(Dispatcher& dispatcher, const Services& services);

}  // namespace rstmdb::server
