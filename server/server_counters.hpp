// Counts the RCP listener keeps for the metrics endpoint (runtime.md §4.2), readable with
// Server::counters(). Relaxed atomics: each value is exact, the set is not a snapshot.
//
//   rejected_tls_handshake      rstmdb_connections_rejected_total{reason="tls_handshake"}
//   rejected_handshake_timeout  rstmdb_connections_rejected_total{reason="handshake_timeout"}
//   reloads_applied / _rejected rstmdb_config_reloads_total{result="applied"|"rejected"}
//   last_reload_success_unix_s  rstmdb_config_last_reload_success_timestamp_seconds (0 = never)
//   tls_certificate_expiry_unix_s  rstmdb_tls_certificate_expiry_timestamp_seconds (0 = no TLS)
//
// A connection whose handshake failed or timed out was accepted (rstmdb_connections_total) and
// reaches Server::on_session_closed with the reason "tls_handshake" or "handshake_timeout":
// those are rejections, not closes of an established session.
#pragma once

#include <atomic>
#include <cstdint>

namespace rstmdb::server {

struct ServerCounters {
  std::atomic<std::uint64_t> rejected_tls_handshake{0};
  std::atomic<std::uint64_t> rejected_handshake_timeout{0};
  std::atomic<std::uint64_t> reloads_applied{0};
  std::atomic<std::uint64_t> reloads_rejected{0};
  std::atomic<std::int64_t> last_reload_success_unix_s{0};
  std::atomic<std::int64_t> tls_certificate_expiry_unix_s{0};
};

}  // namespace rstmdb::server
