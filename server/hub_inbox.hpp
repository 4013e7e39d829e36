// What reaches the subscription hub's thread: commit notices from the engine's commit hook, and
// commands from connections (subscribe, unsubscribe, closed, room again).
//
// The commit hook runs on the thread that wrote a group (the sequencer, the committer, or an
// I/O thread leading a group), before that group's replies go out, so push_notice() only takes
// a short lock and moves the notice in: no matching, no JSON, no copy, and never a wait for the
// hub. The notices waiting are bounded (count and entry bytes). When the hub falls that far
// behind, the newest waiting notice becomes a gap: "offsets up to N committed, events not
// kept", its events are freed, and the hub has every subscription it would have fed read them
// back from the log (catch-up). So writers never wait for the hub and never grow its memory.
// While no subscription exists and nothing waits, a notice only advances `skipped_through`.
//
// Thread-safety: push_notice from the engine's writer threads (calls never overlap, and come
// in offset order), post from any thread, the rest from the hub thread.
#pragma once

#include "engine/commands.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace rstmdb::server {

struct HubNotice {
  std::uint64_t last_offset = 0;
  std::vector<engine::CommittedEvent> events;
  // The inbox was full: every offset up to last_offset (since the previous notice) committed,
  // but its events were not kept.
  bool events_dropped = false;
};

class HubInbox {
 public:
  using Command = std::function<void()>;

  HubInbox(std::size_t max_notices, std::size_t max_notice_bytes)
      : max_notices_(max_notices), max_notice_bytes_(max_notice_bytes) {}

  // The commit hook.
  void push_notice(engine::CommitNotice notice);
  // A command for the hub thread, run in posting order.
  void post(Command command);

  struct Taken {
    std::deque<HubNotice> notices;
    std::deque<Command> commands;
    // Every offset up to here committed while nobody was subscribed (0: none).
    std::uint64_t skipped_through = 0;
    bool stopping = false;
  };
  // Hub thread: takes everything waiting; when nothing is, waits until something arrives, stop()
  // is called, or `timeout` passes (when `wait` is false it never waits).
  Taken take(bool wait, std::chrono::milliseconds timeout);
  // Hub thread: how many subscriptions exist (0 enables the fast path of push_notice). Returns
  // skipped_through as of this moment: every later notice is queued while n > 0.
  std::uint64_t set_subscriptions(std::size_t n);
  void stop();

  // For tests and the hub's log line when it falls behind.
  std::uint64_t dropped_notices() const;

 private:
  static std::size_t bytes_of(const std::vector<engine::CommittedEvent>& events) noexcept;

  const std::size_t max_notices_;
  const std::size_t max_notice_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<HubNotice> notices_;
  std::size_t notice_bytes_ = 0;
  std::deque<Command> commands_;
  std::uint64_t skipped_through_ = 0;
  std::size_t subscriptions_ = 0;
  std::uint64_t dropped_notices_ = 0;
  bool hub_waiting_ = false;
  bool stopping_ = false;
};

}  // namespace rstmdb::server
