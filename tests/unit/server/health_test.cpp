#include "server/health.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using rstmdb::server::HealthCheck;
using rstmdb::server::HealthState;
using rstmdb::server::render_health;

namespace {

using namespace std::chrono_literals;
const HealthState::Clock::time_point t0{std::chrono::hours(1)};

std::string body(HealthCheck check, const HealthState& h, HealthState::Clock::time_point now,
                 bool json = false) {
  return render_health(check, json, h.report(now), 42, 7).body;
}

int status(HealthCheck check, const HealthState& h, HealthState::Clock::time_point now) {
  return render_health(check, false, h.report(now), 42, 7).status;
}

}  // namespace

TEST_CASE("health: starting, ready, draining (and /health alive while draining)", "[server][health]") {
  HealthState h(t0);
  CHECK(h.report(t0).state() == HealthState::State::Starting);
  CHECK(status(HealthCheck::Readiness, h, t0) == 503);
  CHECK(body(HealthCheck::Readiness, h, t0) == "NOT READY: starting");
  CHECK(status(HealthCheck::Liveness, h, t0) == 200);
  CHECK(body(HealthCheck::Liveness, h, t0) == "OK");

  h.set_listener_open(true);
  h.set_ready();
  h.event_loop_alive(t0);
  CHECK(status(HealthCheck::Readiness, h, t0 + 1s) == 200);
  CHECK(body(HealthCheck::Readiness, h, t0 + 1s) == "READY");

  h.set_draining();
  h.set_ready();  // never back to ready
  CHECK(body(HealthCheck::Readiness, h, t0 + 1s) == "NOT READY: draining");
  CHECK(status(HealthCheck::Liveness, h, t0 + 1s) == 200);
}

TEST_CASE("health: a stalled event loop or a paused listener is degraded", "[server][health]") {
  HealthState h(t0);
  h.set_listener_open(true);
  h.set_ready();
  h.event_loop_alive(t0);
  // Just inside the deadline: still ready.
  CHECK(status(HealthCheck::Readiness, h, t0 + HealthState::kEventLoopDeadline - 1ms) == 200);
  const auto late = t0 + HealthState::kEventLoopDeadline + 1s;
  CHECK(h.report(late).state() == HealthState::State::Degraded);
  CHECK(body(HealthCheck::Readiness, h, late) == "NOT READY: degraded (event loop stalled for 6 s)");
  CHECK(status(HealthCheck::Liveness, h, late) == 503);
  CHECK(body(HealthCheck::Liveness, h, late) == "UNHEALTHY: event loop stalled for 6 s");
  h.event_loop_alive(late);
  CHECK(status(HealthCheck::Readiness, h, late) == 200);

  h.set_listener_open(false);
  CHECK(body(HealthCheck::Readiness, h, late) == "NOT READY: degraded (listener not accepting)");
  CHECK(status(HealthCheck::Liveness, h, late) == 200);
}

TEST_CASE("health: a storage failure is failed for both checks, and final", "[server][health]") {
  HealthState h(t0);
  h.set_listener_open(true);
  h.set_ready();
  h.set_failed("IO error: No space left on device");
  h.set_failed("a second error is not kept");
  h.set_draining();
  CHECK(h.report(t0).state() == HealthState::State::Failed);
  CHECK(body(HealthCheck::Readiness, h, t0) == "NOT READY: failed");
  CHECK(body(HealthCheck::Liveness, h, t0) == "UNHEALTHY: storage failed: IO error: No space left on device");
  CHECK(body(HealthCheck::Readiness, h, t0, true) ==
        "{\"status\":\"not_ready\",\"state\":\"failed\",\"checks\":{\"storage\":\"failed\",\"event_loop\":"
        "\"ok\","
        "\"listener\":\"ok\"},\"latest_offset\":42,\"uptime_s\":7,\"reason\":\"failed\"}\n");
}

TEST_CASE("health: the JSON form of a ready server", "[server][health]") {
  HealthState h(t0);
  h.set_listener_open(true);
  h.set_ready();
  const auto r = render_health(HealthCheck::Liveness, true, h.report(t0), 42, 7);
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(r.body ==
        "{\"status\":\"ok\",\"state\":\"ready\",\"checks\":{\"storage\":\"ok\",\"event_loop\":\"ok\","
        "\"listener\":"
        "\"ok\"},\"latest_offset\":42,\"uptime_s\":7}\n");
}
