#include "server/traffic_recorder.hpp"

#include "server/logging.hpp"
#include "server/metrics.hpp"

#include <boost/json/value.hpp>

namespace rstmdb::server {

namespace {

// runtime.md §4.4: the ops `access_log: writes` audits.
constexpr std::array<std::string_view, 9> kAuditedWrites = {
    "PUT_MACHINE", "CREATE_INSTANCE",   "APPLY_EVENT", "DELETE_INSTANCE", "BATCH", "FLUSH_ALL",
    "COMPACT",     "SNAPSHOT_INSTANCE", "AUTH"};

// The access line's principal of a session known only by its client certificate (mTLS
// without a token): distinct from token labels, as sha256: marks a token fingerprint.
constexpr std::string_view kClientCertPrincipalPrefix = "cn:";

// Ops whose params are never looked at for the log lines (AUTH carries the token).
bool params_are_secret(std::string_view op) {
  return op == "AUTH" || op == "HELLO";
}

std::optional<std::string> string_param(const boost::json::object& params, std::string_view key,
                                        std::string_view alias = {}) {
  const auto* v = params.if_contains(key);
  if ((v == nullptr || !v->is_string()) && !alias.empty()) v = params.if_contains(alias);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  // Only the logged prefix is kept (LogLine cuts there anyway): bounded memory per request.
  const auto s = std::string_view(v->get_string());
  return std::string(s.substr(0, LogLine::kMaxFieldBytes + 4));
}

}  // namespace

std::optional<AccessLogMode> parse_access_log_mode(std::string_view text) noexcept {
  if (text == "off") return AccessLogMode::Off;
  if (text == "writes") return AccessLogMode::Writes;
  if (text == "all") return AccessLogMode::All;
  return std::nullopt;
}

TrafficRecorder::TrafficRecorder(ServerMetrics* metrics, AccessLogMode access_log)
    : metrics_(metrics),
      access_log_(access_log),
      request_log_(get_logger("request")),
      access_log_lines_(get_logger("access")) {
  for (auto op : kAuditedWrites)
    audited_writes_.set(Dispatcher::operation_index(op));
}

void TrafficRecorder::request_received() noexcept {
  if (metrics_ != nullptr) metrics_->requests().received();
}

void TrafficRecorder::requests_abandoned(std::size_t count) noexcept {
  if (metrics_ != nullptr && count > 0) metrics_->requests().abandoned(count);
}

void TrafficRecorder::protocol_error(protocol::CloseReason reason) noexcept {
  if (metrics_ != nullptr) metrics_->protocol_error(reason);
}

bool TrafficRecorder::wants_details(std::size_t operation) const noexcept {
  switch (access_log_.load(std::memory_order_relaxed)) {
    case AccessLogMode::All:
      return true;
    case AccessLogMode::Writes:
      if (audited_writes_.test(std::min(operation, audited_writes_.size() - 1))) return true;
      break;
    case AccessLogMode::Off:
      break;
  }
  return request_log_->should_log(spdlog::level::debug);
}

RequestDetails TrafficRecorder::details_of(const protocol::Request& request) {
  RequestDetails d;
  if (params_are_secret(request.op)) return d;
  const auto& params = request.params;
  d.instance_id = string_param(params, "instance_id", "id");
  d.machine = string_param(params, "machine");
  if (const auto* v = params.if_contains("version")) {
    if (v->is_uint64()) d.version = v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0) d.version = static_cast<std::uint64_t>(v->get_int64());
  }
  return d;
}

void TrafficRecorder::request_finished(const FinishedRequest& r) const {
  if (metrics_ != nullptr) metrics_->requests().finished(r.operation, r.duration, r.error);
  const auto mode = access_log_.load(std::memory_order_relaxed);
  const bool access =
      mode == AccessLogMode::All || (mode == AccessLogMode::Writes &&
                                     audited_writes_.test(std::min(r.operation, audited_writes_.size() - 1)));
  const bool debug = request_log_->should_log(spdlog::level::debug);
  if (access || debug) write_lines(r, debug, access);
}

void TrafficRecorder::write_lines(const FinishedRequest& r, bool debug_line, bool access_line) const {
  auto fill = [&](LogLine& line) {
    line.number("conn", r.session.connection_id)
        .text("peer", r.session.peer)
        .token("op", Dispatcher::operation_name(r.operation))
        .text("id", r.request_id)
        .token("status", r.error ? "error" : "ok");
    if (r.error) {
      line.token("code", protocol::error_code_name(*r.error));
    } else {
      line.none("code");
    }
    line.number("dur_us", static_cast<std::uint64_t>(
                              std::chrono::duration_cast<std::chrono::microseconds>(r.duration).count()))
        .number("bytes_in", r.bytes_in)
        .number("bytes_out", r.bytes_out);
    if (r.details != nullptr) {
      if (r.details->instance_id) line.text("instance_id", *r.details->instance_id);
      if (r.details->machine) line.text("machine", *r.details->machine);
      if (r.details->version) line.number("version", *r.details->version);
    }
    if (r.wal_offset) line.number("wal_offset", *r.wal_offset);
  };
  if (debug_line) {
    auto line = LogLine::fields("request");
    fill(line);
    request_log_->debug("{}", line.str());
  }
  if (access_line) {
    auto line = LogLine::fields("access");
    fill(line);
    // The token's principal when the session presented one, else the verified client
    // certificate's CN (mTLS); client_cn names the certificate whenever there is one, so a
    // session with both shows both.
    if (r.session.principal) {
      line.text("principal", *r.session.principal);
    } else if (r.session.client_cert_cn) {
      line.text("principal", std::string(kClientCertPrincipalPrefix) + *r.session.client_cert_cn);
    } else {
      line.none("principal");
    }
    if (r.session.client_cert_cn) line.text("client_cn", *r.session.client_cert_cn);
    access_log_lines_->info("{}", line.str());
  }
}

}  // namespace rstmdb::server
