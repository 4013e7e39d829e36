// Builds subscription events (protocol.md §6.5) from what the hub gets: a committed event
// from the commit hook (live), or a change-log entry read back (catch-up). Both give the same
// bytes for the same entry: the live payload and ctx are ranges of the entry's text, and a
// replayed entry is re-serialized by the writer that wrote it (protocol/json_text).
//
// Thread-safety: pure functions; LogEntryEvent is a value used by one thread.
#pragma once

#include "engine/commands.hpp"
#include "server/event_channel.hpp"
#include "server/subscription_filter.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <string_view>

namespace rstmdb::server {

// The body of the event for one committed APPLY_EVENT.
std::shared_ptr<const EventBody> event_body(const engine::CommittedEvent& e);

inline EventFacts facts_of(const engine::CommittedEvent& e) {
  return EventFacts{e.instance_id, e.machine, e.event, e.from_state, e.to_state};
}

// A change-log entry read back for catch-up.
class LogEntryEvent {
 public:
  enum class Kind { NotAnEvent, Event, Unreadable };
  // Reads `entry` (its text must stay alive while facts() and body() are used). Entries other
  // than apply_event are NotAnEvent; an apply_event entry that does not decode is Unreadable.
  Kind parse(std::uint64_t offset, std::string_view entry);
  const EventFacts& facts() const noexcept { return facts_; }
  // Built on first use.
  std::shared_ptr<const EventBody> body();

 private:
  std::uint64_t offset_ = 0;
  boost::json::object entry_;
  EventFacts facts_;
  std::uint64_t version_ = 0;
  std::shared_ptr<const EventBody> body_;
};

}  // namespace rstmdb::server
