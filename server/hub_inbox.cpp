#include "server/hub_inbox.hpp"

namespace rstmdb::server {

std::size_t HubInbox::bytes_of(const std::vector<engine::CommittedEvent>& events) noexcept {
  std::size_t bytes = 0;
  for (const auto& e : events)
    bytes += e.entry_json.size() + e.instance_id.size() + e.machine.size() + e.event.size() +
             e.from_state.size() + e.to_state.size();
  return bytes;
}

void HubInbox::push_notice(engine::CommitNotice notice) {
  // Freed after the lock is released (a dropped notice's events may be large).
  std::vector<engine::CommittedEvent> freed;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (subscriptions_ == 0 && notices_.empty()) {
      skipped_through_ = notice.last_offset;
      freed = std::move(notice.events);
    } else {
      const std::size_t bytes = bytes_of(notice.events);
      const bool full = notices_.size() >= max_notices_ || notice_bytes_ + bytes > max_notice_bytes_;
      if (!full) {
        notice_bytes_ += bytes;
        notices_.push_back(HubNotice{notice.last_offset, std::move(notice.events), false});
      } else {
        ++dropped_notices_;
        freed = std::move(notice.events);
        if (notices_.empty() || (notices_.back().events_dropped == false && notices_.size() < max_notices_)) {
          // Only the bytes are over: this notice alone becomes the gap.
          notices_.push_back(HubNotice{notice.last_offset, {}, true});
        } else {
          // The newest waiting notice absorbs this one: its events are dropped too (the hub
          // reads them back), so the count stays bounded and the bytes only shrink.
          HubNotice& back = notices_.back();
          notice_bytes_ -= bytes_of(back.events);
          auto older = std::move(back.events);
          back.events.clear();
          back.events_dropped = true;
          back.last_offset = notice.last_offset;
          freed.insert(freed.end(), std::make_move_iterator(older.begin()),
                       std::make_move_iterator(older.end()));
        }
      }
      wake = hub_waiting_;
    }
  }
  if (wake) wake_.notify_one();
}

void HubInbox::post(Command command) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    commands_.push_back(std::move(command));
    wake = hub_waiting_;
  }
  if (wake) wake_.notify_one();
}

HubInbox::Taken HubInbox::take(bool wait, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (wait && notices_.empty() && commands_.empty() && !stopping_) {
    hub_waiting_ = true;
    wake_.wait_for(lock, timeout, [&] { return !notices_.empty() || !commands_.empty() || stopping_; });
    hub_waiting_ = false;
  }
  Taken t;
  t.notices.swap(notices_);
  notice_bytes_ = 0;
  t.commands.swap(commands_);
  t.skipped_through = skipped_through_;
  t.stopping = stopping_;
  return t;
}

std::uint64_t HubInbox::set_subscriptions(std::size_t n) {
  std::lock_guard lock(mutex_);
  subscriptions_ = n;
  return skipped_through_;
}

void HubInbox::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
}

std::uint64_t HubInbox::dropped_notices() const {
  std::lock_guard lock(mutex_);
  return dropped_notices_;
}

}  // namespace rstmdb::server
