// Server configuration: every key of runtime.md §1.3 with its default.
// Loading (defaults < YAML file < environment < flags) and validation live in loader.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rstmdb::config {

// storage.fsync_policy (runtime.md §1.4).
struct FsyncPolicy {
  enum class Kind { EveryWrite, EveryN, EveryMs, Never };
  Kind kind = Kind::EveryWrite;
  std::uint64_t n = 0;            // N for EveryN / EveryMs
  std::string to_string() const;  // "every_write", "every_n:N", "every_ms:N", "never"
};

struct NetworkConfig {
  std::string bind_addr = "127.0.0.1:7401";
  std::uint64_t idle_timeout_secs = 300;  // 0 = off
  std::uint32_t max_connections = 1000;
  std::uint32_t max_frame_bytes = 16777216;  // 4 KiB .. 16 MiB
  std::uint32_t max_in_flight = 1024;
  std::uint64_t max_write_buffer_bytes = 64ull * 1024 * 1024;
  // Close a connection whose unsent replies make no write progress for N s; 0 = off.
  std::uint32_t write_timeout_secs = 30;
  std::uint32_t handshake_timeout_secs = 10;  // 0 = none
  std::uint32_t io_threads = 0;               // 0 = CPUs (max 16)
  // An I/O thread out of work busy-polls this long before it sleeps (server/io_loop.hpp); 0 = off.
  std::uint32_t io_spin_us = 50;
  std::uint32_t shutdown_grace_secs = 5;
};

struct AuthConfig {
  bool required = false;
  // Lower-cased, trimmed 64-hex SHA-256 digests, from auth.token_hashes,
  // RSTMDB_AUTH_TOKEN_HASH and the secrets file, in that order, without duplicates.
  std::vector<std::string> token_hashes;
  // Optional label per hash (secrets file "HASH LABEL"); same length as token_hashes,
  // "" where none was given.
  std::vector<std::string> token_labels;
  std::optional<std::string> secrets_file;  // alias auth.token_hashes_file
  // Close the connection after this many failed AUTHs (protocol.md §11); 0 = unlimited.
  std::uint32_t max_failures_per_connection = 10;
};

struct StorageConfig {
  std::string data_dir = "./data";
  FsyncPolicy fsync_policy;
  std::uint64_t wal_segment_size_mb = 64;
  std::uint32_t max_machine_versions = 0;  // 0 = unlimited
  bool allow_instance_recreate = true;
  bool allow_flush_all = false;
  std::uint64_t idempotency_ttl_secs = 86400;  // 0 = forever
  std::uint64_t block_cache_mb = 256;
  std::uint64_t instance_cache_mb = 64;  // the sequencer's parsed-instance cache
  std::string memtable = "ordered";      // ordered | skiplist (RocksDB's own)
  std::int32_t max_open_files = 1024;    // -1 = unlimited
};

struct CompactionConfig {
  bool enabled = true;
  std::uint64_t events_threshold = 10000;  // 0 = off
  std::uint64_t size_threshold_mb = 100;
  std::uint64_t min_interval_secs = 60;
  std::uint64_t retain_entries = 100000;
  std::uint64_t retain_secs = 86400;
};

struct TlsConfig {
  bool enabled = false;
  std::optional<std::string> cert_path;  // alias tls.cert_file
  std::optional<std::string> key_path;   // alias tls.key_file
  bool require_client_cert = false;
  std::optional<std::string> client_ca_path;  // alias tls.ca_file
  std::string min_version = "1.2";            // "1.2" | "1.3"
  std::string cipher_list =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  std::string ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
};

struct MetricsConfig {
  bool enabled = false;
  std::string bind_addr = "0.0.0.0:9090";
  bool state_gauges = true;
};

struct LoggingConfig {
  std::string level = "info";      // trace debug info warn error critical off
  std::string format = "text";     // text | json ("pretty" is read as text)
  std::string access_log = "off";  // off | writes | all
};

struct WatchConfig {
  std::uint32_t max_subscriptions_per_connection = 1024;
  std::uint32_t queue_events = 4096;
  std::uint64_t queue_bytes = 16ull * 1024 * 1024;
};

struct AdminConfig {
  std::optional<std::string> socket_path;  // default <data_dir>/admin.sock; <= 107 bytes
};

// The default admin socket name inside the data directory.
inline constexpr std::string_view kDefaultAdminSocketName = "admin.sock";

struct Config {
  NetworkConfig network;
  AuthConfig auth;
  StorageConfig storage;
  CompactionConfig compaction;
  TlsConfig tls;
  MetricsConfig metrics;
  LoggingConfig logging;
  WatchConfig watch;
  AdminConfig admin;
  // Path of the YAML file that was loaded, if any.
  std::optional<std::string> config_file;
};

// admin.socket_path, or <storage.data_dir>/admin.sock when unset (runtime.md §1.3). The server
// binds it and `rstmdbd status|reload|backup` connect to it, from the same configuration.
std::string admin_socket_path(const Config& config);

}  // namespace rstmdb::config
