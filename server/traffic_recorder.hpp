// What every finished request and every framing violation leaves behind (runtime.md §4.2,
// §4.4): the request series (RequestMetrics, when metrics are on), the per-request DEBUG line
// (logger "request") and the audit line (logger "access", logging.access_log):
//
//   request  conn peer op id status code dur_us bytes_in bytes_out [instance_id machine version wal_offset]
//   access   the same fields plus principal (the token's label or sha256:<8 hex> fingerprint;
//            else, on an mTLS session, cn:<client certificate CN>; "-" when neither) and, on
//            an mTLS session, client_cn (the certificate's subject CN)
//
// `access_log: writes` writes the audit line for PUT_MACHINE, CREATE_INSTANCE, APPLY_EVENT,
// DELETE_INSTANCE, BATCH, FLUSH_ALL, COMPACT, SNAPSHOT_INSTANCE and AUTH; `all` for every
// request. Never logged: tokens, AUTH params, hashes, bodies (ctx, payload, initial_ctx,
// definition) — the lines carry only the fields above, with sizes for the rest. Client strings
// are quoted, escaped and cut (LogLine).
//
// Cost: with metrics off, the access log off and the "request" logger above DEBUG, a request
// costs one relaxed load and one level check; the fields for the lines are gathered only when a
// line will be written (wants_details).
//
// Thread-safety: every member function may be called from any thread; set_access_log() takes
// effect for requests that finish after it (a reload).
#pragma once

#include "protocol/envelope.hpp"
#include "protocol/error.hpp"
#include "protocol/frame_decoder.hpp"
#include "server/dispatcher.hpp"

#include <spdlog/logger.h>

#include <atomic>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::server {

class ServerMetrics;

enum class AccessLogMode : unsigned char { Off, Writes, All };
// "off" | "writes" | "all" (the loader accepts only these).
std::optional<AccessLogMode> parse_access_log_mode(std::string_view text) noexcept;

// The optional fields of a request's log lines, taken from its params before it runs.
struct RequestDetails {
  std::optional<std::string> instance_id;
  std::optional<std::string> machine;
  std::optional<std::uint64_t> version;
};

// One answered request, as the session reports it.
struct FinishedRequest {
  const SessionContext& session;
  std::size_t operation;  // Dispatcher::operation_index
  std::string_view request_id;
  std::optional<protocol::ErrorCode> error;  // the response's code; none = ok
  std::chrono::nanoseconds duration;         // decode → response queued
  std::size_t bytes_in = 0;                  // request payload
  std::size_t bytes_out = 0;                 // framed response
  const RequestDetails* details = nullptr;   // set when wants_details() said so
  std::optional<std::uint64_t> wal_offset;   // from the result, when details were wanted
};

class TrafficRecorder {
 public:
  // `metrics` may be null (metrics.enabled: false); it must outlive the recorder.
  TrafficRecorder(ServerMetrics* metrics, AccessLogMode access_log);

  void set_access_log(AccessLogMode mode) noexcept { access_log_.store(mode, std::memory_order_relaxed); }

  void request_received() noexcept;
  // Requests that were received and will never be answered (their connection closed).
  void requests_abandoned(std::size_t count) noexcept;
  void request_finished(const FinishedRequest& request) const;
  void protocol_error(protocol::CloseReason reason) noexcept;

  // Whether a line will be written for a request of this op: gather its details then.
  bool wants_details(std::size_t operation) const noexcept;
  static RequestDetails details_of(const protocol::Request& request);

 private:
  void write_lines(const FinishedRequest& request, bool debug_line, bool access_line) const;

  ServerMetrics* metrics_;
  std::atomic<AccessLogMode> access_log_;
  std::bitset<Dispatcher::kKnownOperationCount + 1> audited_writes_;  // by operation index
  std::shared_ptr<spdlog::logger> request_log_;
  std::shared_ptr<spdlog::logger> access_log_lines_;
};

}  // namespace rstmdb::server
