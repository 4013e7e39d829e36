#include "server/health.hpp"

#include "protocol/json_text.hpp"

namespace rstmdb::server {

HealthState::HealthState(Clock::time_point now) : last_beat_(now.time_since_epoch().count()) {}

void HealthState::set_ready() noexcept {
  Phase expected = Phase::Starting;
  phase_.compare_exchange_strong(expected, Phase::Ready, std::memory_order_acq_rel);
}

void HealthState::set_draining() noexcept {
  Phase current = phase_.load(std::memory_order_acquire);
  while (current != Phase::Failed && current != Phase::Draining &&
         !phase_.compare_exchange_weak(current, Phase::Draining, std::memory_order_acq_rel)) {
  }
}

void HealthState::set_failed(std::string storage_error) {
  {
    std::lock_guard lock(mutex_);
    if (!storage_error_) storage_error_ = std::move(storage_error);
  }
  phase_.store(Phase::Failed, std::memory_order_release);
}

void HealthState::event_loop_alive(Clock::time_point now) noexcept {
  last_beat_.store(now.time_since_epoch().count(), std::memory_order_release);
  event_loop_started_.store(true, std::memory_order_release);
}

HealthState::Report HealthState::report(Clock::time_point now) const {
  Report r;
  r.phase = phase_.load(std::memory_order_acquire);
  r.listener_ok = listener_open_.load(std::memory_order_acquire);
  {
    std::lock_guard lock(mutex_);
    if (storage_error_) {
      r.storage_ok = false;
      r.storage_error = *storage_error_;
    }
  }
  if (event_loop_started_.load(std::memory_order_acquire)) {
    const Clock::time_point beat{Clock::duration(last_beat_.load(std::memory_order_acquire))};
    r.event_loop_silence = std::chrono::duration_cast<std::chrono::milliseconds>(now - beat);
    r.event_loop_ok = now - beat < kEventLoopDeadline;
  }
  return r;
}

HealthState::State HealthState::Report::state() const noexcept {
  if (phase == Phase::Failed || !storage_ok) return State::Failed;
  switch (phase) {
    case Phase::Starting:
      return State::Starting;
    case Phase::Draining:
      return State::Draining;
    default:
      return event_loop_ok && listener_ok ? State::Ready : State::Degraded;
  }
}

std::string_view HealthState::state_name(State state) noexcept {
  switch (state) {
    case State::Starting:
      return "starting";
    case State::Ready:
      return "ready";
    case State::Degraded:
      return "degraded";
    case State::Draining:
      return "draining";
    case State::Failed:
      return "failed";
  }
  return "failed";
}

namespace {

std::string stalled_text(const HealthState::Report& r) {
  return "event loop stalled for " + std::to_string(r.event_loop_silence.count() / 1000) + " s";
}

// Why the check fails, for the text body and the JSON "reason".
std::string failure_reason(HealthCheck check, const HealthState::Report& r) {
  if (check == HealthCheck::Liveness) {
    if (!r.storage_ok) return "storage failed: " + r.storage_error;
    return stalled_text(r);
  }
  const auto state = r.state();
  std::string out(HealthState::state_name(state));
  if (state == HealthState::State::Degraded) {
    out += r.event_loop_ok ? " (listener not accepting)" : " (" + stalled_text(r) + ")";
  }
  return out;
}

}  // namespace

HealthResponse render_health(HealthCheck check, bool json, const HealthState::Report& report,
                             std::uint64_t latest_offset, std::uint64_t uptime_seconds) {
  const bool ok = check == HealthCheck::Liveness ? report.live() : report.ready();
  HealthResponse out;
  out.status = ok ? 200 : 503;
  if (!json) {
    out.content_type = "text/plain; charset=utf-8";
    if (check == HealthCheck::Liveness) {
      out.body = ok ? "OK" : "UNHEALTHY: " + failure_reason(check, report);
    } else {
      out.body = ok ? "READY" : "NOT READY: " + failure_reason(check, report);
    }
    return out;  // exactly the words of runtime.md §4.1, no newline (probes may compare them)
  }
  out.content_type = "application/json";
  std::string& b = out.body;
  const char* status =
      check == HealthCheck::Liveness ? (ok ? "ok" : "unhealthy") : (ok ? "ready" : "not_ready");
  b += "{\"status\":\"";
  b += status;
  b += "\",\"state\":\"";
  b += HealthState::state_name(report.state());
  b += "\",\"checks\":{\"storage\":\"";
  b += report.storage_ok ? "ok" : "failed";
  b += "\",\"event_loop\":\"";
  b += report.event_loop_ok ? "ok" : "stalled";
  b += "\",\"listener\":\"";
  b += report.listener_ok ? "ok" : "closed";
  b += "\"},\"latest_offset\":" + std::to_string(latest_offset);
  b += ",\"uptime_s\":" + std::to_string(uptime_seconds);
  if (!ok) {
    b += ",\"reason\":";
    protocol::append_json_string(b, failure_reason(check, report));
  }
  b += "}\n";
  return out;
}

}  // namespace rstmdb::server
