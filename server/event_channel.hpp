// The link between the subscription hub and one connection (operations.md §26.3): what the
// hub hands a connection, and the accounting of that connection's bounded event queue
// (watch.queue_events / watch.queue_bytes), shared by the hub thread, which reserves room
// before it hands an event over, and the connection's strand, which releases it once the event
// has been written (or discarded). When an event does not fit, the hub stops taking live events
// for that subscription, asks to be told when there is room again (request_room), and resumes
// from the change log: catch-up, never a silent drop.
//
// Thread-safety: EventChannel may be used from any thread; the reserving side must be one
// thread (the hub), so that "fits" and "reserve" cannot be split by another reservation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rstmdb::server {

// One event's JSON after its subscription id, built once and shared by every subscriber:
//   "instance_id":…,"machine":…,"version":…,"wal_offset":…,"from_state":…,"to_state":…,
//   "event":…,"payload":{…},"ctx":{…}}
// A subscription without include_ctx sends text[0, ctx_pos) followed by "}".
struct EventBody {
  std::uint64_t offset = 0;
  std::string text;
  std::size_t ctx_pos = 0;  // where `,"ctx":` starts

  std::string_view with_ctx() const noexcept { return text; }
  std::string_view without_ctx_head() const noexcept { return std::string_view(text).substr(0, ctx_pos); }
  // Bytes of the body as one subscription sends it.
  std::size_t size(bool include_ctx) const noexcept { return include_ctx ? text.size() : ctx_pos + 1; }
};

// One message the hub hands a connection: an event, or the `end` of a subscription.
struct OutgoingEvent {
  std::uint64_t handle = 0;               // the subscription (SubscriptionHub::new_handle)
  std::shared_ptr<const EventBody> body;  // null for `end`
  bool include_ctx = true;
  std::size_t reserved = 0;     // bytes reserved on the channel; 0 for `end`
  std::string_view end_reason;  // `end` only: a static string ("lagged")
};
using EventBatch = std::vector<OutgoingEvent>;

// What a subscriber's connection offers the hub. Thread-safe.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Takes the batch on the connection's own strand; events of subscriptions the connection no
  // longer has are discarded (and released) there.
  virtual void deliver_events(EventBatch batch) = 0;
  // The hub cannot serve this connection's subscriptions (a failed log read): close it rather
  // than let a subscription stall silently.
  virtual void close_for_subscriptions(std::string_view reason) = 0;
};

// Bytes an event is accounted at besides its body: the envelope around it
// (`{"type":"event","subscription_id":"…",`) and the largest frame header.
inline constexpr std::size_t kEventEnvelopeBytes = 64;

class EventChannel {
 public:
  EventChannel(std::uint64_t connection_id, std::weak_ptr<EventSink> sink, std::size_t max_events,
               std::size_t max_bytes)
      : connection_id_(connection_id),
        sink_(std::move(sink)),
        max_events_(max_events),
        max_bytes_(max_bytes) {}

  std::uint64_t connection_id() const noexcept { return connection_id_; }
  std::shared_ptr<EventSink> sink() const noexcept { return sink_.lock(); }

  // Hub thread. Reserves room for one event of `bytes`. An event always fits an empty queue,
  // so one larger than queue_bytes still goes out, alone. False: it does not fit.
  bool try_reserve(std::size_t bytes) noexcept;
  // Hub thread, after try_reserve(`needed`) failed: asks to be told (release() returning true)
  // once the queue is empty, or has drained to half of both limits with room for `needed`.
  // Returns true if that is already so: then nobody will tell, and the hub goes on at once.
  bool request_room(std::size_t needed) noexcept;
  // Connection's strand: `events` events of `bytes` left the queue (written or discarded).
  // True when the hub asked for room and there now is: the caller tells the hub. Exactly one
  // caller (this or request_room) gets true per request.
  bool release(std::size_t events, std::size_t bytes) noexcept;

  std::size_t queued_events() const noexcept { return events_.load(); }
  std::size_t queued_bytes() const noexcept { return bytes_.load(); }
  std::size_t max_events() const noexcept { return max_events_; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }

  // The connection is gone: the hub stops handing it events.
  void mark_closed() noexcept { closed_.store(true); }
  bool closed() const noexcept { return closed_.load(); }

 private:
  bool has_room() const noexcept;
  // Takes the pending room request if there is room: true for exactly one caller.
  bool take_room_request() noexcept;

  const std::uint64_t connection_id_;
  const std::weak_ptr<EventSink> sink_;
  const std::size_t max_events_;
  const std::size_t max_bytes_;
  std::atomic<std::size_t> events_{0};
  std::atomic<std::size_t> bytes_{0};
  std::atomic<bool> room_requested_{false};
  std::atomic<std::size_t> room_needed_{0};  // the largest event waiting since the last grant
  std::atomic<bool> closed_{false};
};

}  // namespace rstmdb::server
