// Handlers of the data operations (operations.md §2-18): params parsed into engine commands
// (server/request_parsing.hpp), and the engine's results turned into replies. Writes go to
// the engine's sequencer; point reads run inline; scans run on the blocking-work pool.
#pragma once

#include "server/dispatcher.hpp"

namespace rstmdb::server {

// Installs the handlers of every data op into `dispatcher`. `services` (with its engine and
// blocking-work executor) must outlive the dispatcher.
void register_data_ops(Dispatcher& dispatcher, const Services& services);

}  // namespace rstmdb::server
