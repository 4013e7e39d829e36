// The server's health as the HTTP endpoint reports it (runtime.md §4.1): the lifecycle state
// and the three checks behind /health (liveness) and /ready, /healthz (readiness).
//
//   phase     starting -> ready -> draining, or -> failed from any of them (a storage failure:
//             fail-stop; the server drains and exits 1). Set by the server.
//   storage   ok, or failed (with the storage error): the engine's fail-stop latch
//   event_loop ok while the main io_context has run its heartbeat timer within
//             kEventLoopDeadline (the timer ticks every second; before the loop first runs the
//             check passes, since nothing can be stuck yet)
//   listener  ok while the RCP listener accepts; closed before it is bound, while accepting is
//             paused (out of file descriptors) and after shutdown began
//
// The state reported (Report::state) is the phase, except that a server in phase ready whose
// event loop is stalled or whose listener is not accepting is `degraded`, and a failed storage
// is `failed` from the moment the latch trips: starting | ready | degraded | draining | failed
// (docs/decisions.md "Health states").
//
// /health is 200 when the event loop and storage are ok (a draining server is alive: a
// supervisor must not kill it mid-drain). /ready and /healthz are 200 only in state ready.
// Thread-safety: every member function may be called from any thread; the HTTP endpoint
// reads while the server writes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::server {

class HealthState {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Phase : unsigned char { Starting, Ready, Draining, Failed };
  enum class State : unsigned char { Starting, Ready, Degraded, Draining, Failed };
  static constexpr auto kEventLoopDeadline = std::chrono::seconds(5);

  explicit HealthState(Clock::time_point now = Clock::now());

  // Transitions. Failed is final; draining never goes back to ready.
  void set_ready() noexcept;
  void set_draining() noexcept;
  void set_failed(std::string storage_error);
  void set_listener_open(bool open) noexcept { listener_open_.store(open, std::memory_order_release); }
  // The main event loop ran its heartbeat timer now.
  void event_loop_alive(Clock::time_point now = Clock::now()) noexcept;

  struct Report {
    Phase phase = Phase::Starting;
    bool storage_ok = true;
    bool event_loop_ok = true;
    bool listener_ok = false;
    std::string storage_error;  // when !storage_ok
    std::chrono::milliseconds event_loop_silence{0};
    bool live() const noexcept { return storage_ok && event_loop_ok; }
    State state() const noexcept;
    bool ready() const noexcept { return state() == State::Ready; }
  };
  Report report(Clock::time_point now = Clock::now()) const;

  static std::string_view state_name(State state) noexcept;  // starting | ready | degraded | ...

 private:
  std::atomic<Phase> phase_{Phase::Starting};
  std::atomic<bool> listener_open_{false};
  std::atomic<bool> event_loop_started_{false};
  std::atomic<Clock::rep> last_beat_;
  mutable std::mutex mutex_;
  std::optional<std::string> storage_error_;
};

// What an HTTP health path answers (runtime.md §4.1).
struct HealthResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

enum class HealthCheck { Liveness, Readiness };  // /health | /ready, /healthz

// `json`: ?format=json → {status, state, checks{storage,event_loop,listener}, latest_offset,
// uptime_s}; otherwise the text bodies OK / UNHEALTHY: <reason> / READY / NOT READY: <state>.
HealthResponse render_health(HealthCheck check, bool json, const HealthState::Report& report,
                             std::uint64_t latest_offset, std::uint64_t uptime_seconds);

}  // namespace rstmdb::server
