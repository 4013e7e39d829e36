#include "server/event_channel.hpp"

namespace rstmdb::server {

bool EventChannel::try_reserve(std::size_t bytes) noexcept {
  const std::size_t events = events_.load();
  if (events > 0 && (events + 1 > max_events_ || bytes_.load() + bytes > max_bytes_)) return false;
  // Only the hub thread adds, so nothing can fill the room between the check and here (the
  // connection only ever makes more).
  events_.fetch_add(1);
  bytes_.fetch_add(bytes);
  return true;
}

bool EventChannel::request_room(std::size_t needed) noexcept {
  std::size_t was = room_needed_.load();
  while (was < needed && !room_needed_.compare_exchange_weak(was, needed)) {
  }
  room_requested_.store(true);
  // The connection may have drained everything before it could see the request (it checks the
  // flag after it releases; we check the counters after we set the flag: with sequentially
  // consistent atomics one of the two sees the other).
  return take_room_request();
}

bool EventChannel::release(std::size_t events, std::size_t bytes) noexcept {
  events_.fetch_sub(events);
  bytes_.fetch_sub(bytes);
  return room_requested_.load() && take_room_request();
}

bool EventChannel::has_room() const noexcept {
  // Resume at half of both limits, not at the first free slot: a subscriber that reads slowly
  // then costs one catch-up read per half queue, not one per event.
  const std::size_t events = events_.load();
  const std::size_t bytes = bytes_.load();
  return events == 0 ||
         (events <= max_events_ / 2 && bytes <= max_bytes_ / 2 && bytes + room_needed_.load() <= max_bytes_);
}

bool EventChannel::take_room_request() noexcept {
  if (!has_room() || !room_requested_.exchange(false)) return false;
  room_needed_.store(0);
  return true;
}

}  // namespace rstmdb::server
