// Handlers of WATCH_INSTANCE, WATCH_ALL and UNWATCH (operations.md §15-17, §26). They run on the
// connection's strand: parameters, the per-connection limit and the start offset are settled
// there, the subscription is recorded in the connection's EventQueue, and the WATCH is answered
// by the hub once it has registered the subscription (so a connection can never have more
// subscription requests outstanding with the hub than requests in flight). UNWATCH answers at
// once: the connection drops the subscription's events itself.
#pragma once

#include "server/dispatcher.hpp"

namespace rstmdb::server {

// `services` (engine, hub) must outlive the dispatcher.
void register_watch_ops(Dispatcher& dispatcher, const Services& services);

}  // namespace rstmdb::server
