// A connection's side of its subscriptions (operations.md §26; protocol.md §7 rules 3-6, 8):
// the subscriptions it owns, and the events and `end` messages the hub has handed it, waiting
// for the session's single writer.
//
// Order against responses: a message the hub hands over is placed after every response slot
// that exists when it arrives (`after_slot`), and the writer takes messages and slots in that
// merged order. The request that caused an event already has its slot when the event arrives
// (an event exists only after its commit), so the event follows that request's response
// (rule 6); a WATCH's slot exists before its subscription does, so its response precedes the
// subscription's events (rule 4); UNWATCH discards what is still queued for the subscription
// and drops what arrives later, so nothing follows its response.
//
// Bounds: events are reserved on the connection's EventChannel by the hub before they are
// handed over (watch.queue_events / watch.queue_bytes) and released here when written or
// discarded; `end` messages are not counted (at most one per subscription).
//
// Thread-safety: the session's strand only.
#pragma once

#include "protocol/frame.hpp"
#include "protocol/seeded_hash.hpp"
#include "server/event_channel.hpp"
#include "server/watch_metrics.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rstmdb::server {

class SubscriptionHub;

class EventQueue {
 public:
  struct Limits {
    std::size_t max_subscriptions = 1024;  // watch.max_subscriptions_per_connection
    std::size_t queue_events = 4096;       // watch.queue_events
    std::size_t queue_bytes = 16 << 20;    // watch.queue_bytes
  };

  EventQueue() = default;
  ~EventQueue();  // close()
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Connects the queue to the hub; `sink` is the connection. Without it the connection cannot
  // subscribe (attached() is false).
  void attach(SubscriptionHub& hub, std::uint64_t connection_id, std::weak_ptr<EventSink> sink,
              Limits limits);
  bool attached() const noexcept { return hub_ != nullptr; }
  SubscriptionHub& hub() const noexcept { return *hub_; }
  const std::shared_ptr<EventChannel>& channel() const noexcept { return channel_; }
  const Limits& limits() const noexcept { return limits_; }

  std::size_t subscription_count() const noexcept { return owned_.size(); }
  // WATCH: the connection now owns subscription `id` (counted in the gauge). The caller hands it
  // to the hub with the returned handle.
  std::uint64_t add(std::string id, SubscriptionType type);
  // UNWATCH: if this connection owns `id`, removes it, discards its queued events and tells
  // the hub. False if it owns no such subscription.
  bool remove(std::string_view id);

  // Messages from the hub; each becomes writable once every slot below `after_slot` is out.
  void accept(EventBatch batch, std::uint64_t after_slot);
  bool empty() const noexcept { return waiting_.empty(); }
  // True when the oldest message may be written: every slot before it has been written
  // (`next_slot` is the id of the oldest slot not yet written).
  bool ready(std::uint64_t next_slot) const noexcept {
    return !waiting_.empty() && waiting_.front().after_slot <= next_slot;
  }
  // Frames the oldest message into `out`; returns the bytes appended. Precondition: ready().
  std::size_t pop_into(std::string& out, protocol::Framing framing);
  // Server shutdown: an `end` with `reason` for every subscription, after the messages already
  // waiting; the subscriptions are gone from then on.
  void end_all(std::string_view reason, std::uint64_t after_slot);
  // The connection closed: its subscriptions are removed (the hub is told) and everything
  // waiting is released. Idempotent.
  void close();

 private:
  struct Owned {
    std::shared_ptr<const std::string> id;
    SubscriptionType type;
  };
  struct Waiting {
    std::uint64_t after_slot = 0;
    std::uint64_t handle = 0;
    std::shared_ptr<const std::string> id;
    SubscriptionType type = SubscriptionType::All;
    std::shared_ptr<const EventBody> body;  // null: `end`
    bool include_ctx = true;
    std::size_t reserved = 0;
    std::string_view end_reason;
  };

  void release(std::size_t events, std::size_t bytes);
  void forget(std::uint64_t handle);

  SubscriptionHub* hub_ = nullptr;
  WatchMetrics* metrics_ = nullptr;
  std::shared_ptr<EventChannel> channel_;
  Limits limits_;
  bool closed_ = false;
  std::unordered_map<std::uint64_t, Owned> owned_;
  std::unordered_map<std::string, std::uint64_t, protocol::SeededStringHash, std::equal_to<>> by_id_;
  std::deque<Waiting> waiting_;
};

}  // namespace rstmdb::server
