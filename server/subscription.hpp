// The hub's record of one subscription: what it selects, where it is delivered, and its cursor
// (operations.md §26.2; design.md invariant 6).
//
// The cursor is the one mechanism behind live delivery, replay and recovery from a full queue:
//   - Live: the subscription takes matching events from the hub's commit notices as they are
//     processed; `cursor` is the first offset it takes (events below it precede its start).
//     Every offset the hub processes from then on is seen, so no separate position is kept.
//   - CatchingUp: it reads the change log from `cursor` up to the hub's head (the last offset
//     the hub has processed from notices) in bounded batches. When the cursor passes the head it
//     is Live again — on the hub thread, between two notices, so no commit can fall between
//     the two (the head only moves when the hub processes the next notice).
// A subscription starts CatchingUp when its first offset is at or below the head (replay, or a
// start the hub has already passed), Live otherwise; it falls back to CatchingUp when its next
// event does not fit its connection's queue, or when the hub had to drop notices (its own
// queue was full).
//
// Thread-safety: hub thread only.
#pragma once

#include "server/event_channel.hpp"
#include "server/subscription_filter.hpp"
#include "server/watch_metrics.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace rstmdb::server {

struct Subscription {
  enum class Mode { Live, CatchingUp };

  std::uint64_t handle = 0;
  std::string id;  // "sub-<uuid>"
  SubscriptionType type = SubscriptionType::All;
  SubscriptionFilter filter;
  bool include_ctx = true;
  std::shared_ptr<EventChannel> channel;

  Mode mode = Mode::Live;
  std::uint64_t cursor = 1;
  // CatchingUp and its connection's queue is full: waits for the connection to drain.
  bool waiting_for_room = false;
  // A replay (from_offset) starts at the oldest retained entry when its first offset has been
  // trimmed; only a gap after its first entry means it lagged (operations.md §26.2, §26.3).
  bool start_may_be_trimmed = false;
  // Queued for a catch-up step (at most once).
  bool scheduled = false;

  // Bytes one event is accounted at on the connection's queue.
  std::size_t cost(const EventBody& body) const noexcept {
    return body.size(include_ctx) + id.size() + kEventEnvelopeBytes;
  }
};

}  // namespace rstmdb::server
