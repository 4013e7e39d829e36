#include "server/subscription_hub.hpp"

#include "server/event_builder.hpp"
#include "server/logging.hpp"
#include "server/rate_limited_warning.hpp"

#include <pthread.h>

#include <algorithm>

namespace rstmdb::server {

namespace {

// How long the hub thread sleeps when nothing arrives (every arrival wakes it; this is only a
// safety net).
constexpr auto kIdleWait = std::chrono::milliseconds(1000);

RateLimitedWarning& behind_warning() {
  static RateLimitedWarning warning(get_logger("watch"), "subscription hub behind");
  return warning;
}

}  // namespace

SubscriptionHub::SubscriptionHub(const ChangeLog& log, HubLimits limits)
    : log_(log),
      limits_(limits),
      inbox_(std::make_shared<HubInbox>(limits.max_queued_notices, limits.max_queued_notice_bytes)) {}

SubscriptionHub::~SubscriptionHub() {
  stop();
}

std::function<void(engine::CommitNotice)> SubscriptionHub::commit_hook() {
  return [inbox = inbox_](engine::CommitNotice notice) { inbox->push_notice(std::move(notice)); };
}

void SubscriptionHub::start() {
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rstmdb-watch");
    run();
  });
}

void SubscriptionHub::stop() {
  inbox_->stop();
  if (thread_.joinable()) thread_.join();
}

void SubscriptionHub::subscribe(SubscribeRequest request) {
  inbox_->post(
      [this, r = std::make_shared<SubscribeRequest>(std::move(request))] { register_subscription(*r); });
}

void SubscriptionHub::unsubscribe(std::uint64_t handle) {
  inbox_->post([this, handle] { remove_subscription(handle); });
}

void SubscriptionHub::connection_closed(std::shared_ptr<EventChannel> channel) {
  channel->mark_closed();
  inbox_->post([this, id = channel->connection_id()] { remove_connection(id); });
}

void SubscriptionHub::room_available(std::shared_ptr<EventChannel> channel) {
  inbox_->post([this, id = channel->connection_id()] { resume_waiting(id); });
}

// --------------------------------------------------------------------------- the hub thread

void SubscriptionHub::run() {
  for (;;) {
    auto taken = inbox_->take(runnable_.empty(), kIdleWait);
    if (taken.stopping) return;
    // Offsets committed while nobody was subscribed: nothing to deliver, but the head moves, so
    // a subscription that starts below it reads them from the log.
    head_ = std::max(head_, taken.skipped_through);
    // Commands first: a new subscription whose start is ahead of the head then takes the
    // notices below from the inbox live instead of reading them back.
    for (auto& command : taken.commands)
      command();
    taken.commands.clear();
    for (auto& notice : taken.notices)
      process_notice(notice);
    taken.notices.clear();
    catch_up_round();
    flush();
  }
}

SubscriptionHub::ChannelState& SubscriptionHub::channel_of(const Subscription& s) {
  return channels_.at(s.channel->connection_id());
}

void SubscriptionHub::publish_count() {
  inbox_->set_subscriptions(subscriptions_.size());
}

void SubscriptionHub::register_subscription(SubscribeRequest& r) {
  auto s = std::make_unique<Subscription>();
  s->handle = r.handle;
  s->id = std::move(r.id);
  s->type = r.type;
  s->filter = std::move(r.filter);
  s->include_ctx = r.include_ctx;
  s->channel = r.channel;
  s->cursor = std::max<std::uint64_t>(r.first_offset, 1);
  s->start_may_be_trimmed = r.replay;
  ChannelState& ch = channels_[s->channel->connection_id()];
  if (!ch.channel) ch.channel = s->channel;
  ch.subscriptions.push_back(s->handle);
  Subscription& sub = *s;
  index_.add(&sub);
  subscriptions_.emplace(sub.handle, std::move(s));
  // From here on every commit is queued for the hub; the commits skipped before count as
  // processed, so a start above the head is served live and one at or below it from the log.
  head_ = std::max(head_, inbox_->set_subscriptions(subscriptions_.size()));
  if (sub.cursor > head_) {
    sub.mode = Subscription::Mode::Live;
  } else {
    sub.mode = Subscription::Mode::CatchingUp;
    schedule(sub);
  }
  if (r.on_registered) r.on_registered();
}

void SubscriptionHub::remove_subscription(std::uint64_t handle) {
  auto it = subscriptions_.find(handle);
  if (it == subscriptions_.end()) return;
  Subscription& s = *it->second;
  index_.remove(&s);
  if (auto ch = channels_.find(s.channel->connection_id()); ch != channels_.end()) {
    std::erase(ch->second.subscriptions, handle);
    std::erase(ch->second.waiting, handle);
  }
  subscriptions_.erase(it);
  publish_count();
}

void SubscriptionHub::remove_connection(std::uint64_t connection_id) {
  auto ch = channels_.find(connection_id);
  if (ch == channels_.end()) return;
  for (std::uint64_t handle : ch->second.subscriptions) {
    auto it = subscriptions_.find(handle);
    if (it == subscriptions_.end()) continue;
    index_.remove(it->second.get());
    subscriptions_.erase(it);
  }
  channels_.erase(ch);
  publish_count();
}

void SubscriptionHub::resume_waiting(std::uint64_t connection_id) {
  auto ch = channels_.find(connection_id);
  if (ch == channels_.end()) return;
  auto waiting = std::move(ch->second.waiting);
  ch->second.waiting.clear();
  for (std::uint64_t handle : waiting) {
    auto it = subscriptions_.find(handle);
    if (it == subscriptions_.end()) continue;
    it->second->waiting_for_room = false;
    schedule(*it->second);
  }
}

void SubscriptionHub::process_notice(HubNotice& notice) {
  if (notice.events_dropped) {
    // The inbox overflowed: what committed up to notice.last_offset is only in the log now.
    behind_warning().warn(
        "subscription hub fell behind the writers; live subscribers read offsets up to {} back from "
        "the log",
        notice.last_offset);
    for (auto& [handle, s] : subscriptions_) {
      if (s->mode == Subscription::Mode::Live) to_catch_up(*s, std::max(s->cursor, head_ + 1));
    }
    head_ = std::max(head_, notice.last_offset);
    return;
  }
  for (const engine::CommittedEvent& e : notice.events) {
    const EventFacts facts = facts_of(e);
    std::shared_ptr<const EventBody> body;  // built once, for the first subscriber
    index_.for_each_candidate(facts, [&](Subscription& s) {
      if (s.mode != Subscription::Mode::Live || e.offset < s.cursor || !s.filter.matches(facts)) return;
      if (!body) body = event_body(e);
      offer(s, channel_of(s), body);
    });
  }
  head_ = std::max(head_, notice.last_offset);
}

bool SubscriptionHub::offer(Subscription& s, ChannelState& ch, const std::shared_ptr<const EventBody>& body) {
  if (s.channel->closed()) return true;  // the connection is gone; its removal is on the way
  const std::size_t cost = s.cost(*body);
  if (!s.channel->try_reserve(cost)) {
    to_catch_up(s, body->offset);
    if (s.channel->request_room(cost)) {
      schedule(s);
    } else {
      s.waiting_for_room = true;
      ch.waiting.push_back(s.handle);
    }
    return false;
  }
  if (ch.pending.empty()) dirty_.push_back(s.channel->connection_id());
  ch.pending.push_back(OutgoingEvent{s.handle, body, s.include_ctx, cost, {}});
  return true;
}

void SubscriptionHub::to_catch_up(Subscription& s, std::uint64_t from) {
  s.mode = Subscription::Mode::CatchingUp;
  s.cursor = from;
  if (!s.waiting_for_room) schedule(s);
}

void SubscriptionHub::schedule(Subscription& s) {
  if (s.scheduled) return;
  s.scheduled = true;
  runnable_.push_back(s.handle);
}

void SubscriptionHub::catch_up_round() {
  // One step each for the subscriptions runnable now; those still behind queue up again.
  std::vector<std::uint64_t> round;
  round.swap(runnable_);
  for (std::uint64_t handle : round) {
    auto it = subscriptions_.find(handle);
    if (it == subscriptions_.end()) continue;
    Subscription& s = *it->second;
    s.scheduled = false;
    if (s.mode != Subscription::Mode::CatchingUp || s.waiting_for_room) continue;
    catch_up_step(s);
  }
}

void SubscriptionHub::catch_up_step(Subscription& s) {
  const std::uint64_t through = head_;
  if (s.cursor > through) {
    s.mode = Subscription::Mode::Live;
    return;
  }
  ChannelState& ch = channel_of(s);
  std::uint64_t expected = s.cursor;
  std::size_t visited = 0;
  bool stopped = false;
  bool lagged = false;
  bool unreadable = false;
  LogEntryEvent entry;
  auto error = log_.read(s.cursor, through, [&](std::uint64_t offset, std::string_view text) {
    // Offsets are gap-free, so a hole means trimmed entries (operations.md §25.5).
    if (offset != expected && !(s.start_may_be_trimmed && visited == 0)) {
      lagged = true;
      return false;
    }
    s.start_may_be_trimmed = false;
    ++visited;
    expected = offset + 1;
    switch (entry.parse(offset, text)) {
      case LogEntryEvent::Kind::NotAnEvent:
        break;
      case LogEntryEvent::Kind::Unreadable:
        unreadable = true;
        return false;
      case LogEntryEvent::Kind::Event:
        if (s.filter.matches(entry.facts()) && !offer(s, ch, entry.body())) {
          stopped = true;
          return false;
        }
        break;
    }
    s.cursor = offset + 1;
    return visited < limits_.catchup_batch;
  });
  if (error) {
    fail_connection(s, error->message);
    return;
  }
  if (unreadable) {
    fail_connection(s, "change-log entry at offset " + std::to_string(expected) + " does not decode");
    return;
  }
  if (lagged) {
    end_lagged(s);
    return;
  }
  if (stopped) return;  // offer() switched it to waiting, or rescheduled it
  if (visited == 0) {
    // Nothing is retained between the cursor and the head: trimmed.
    if (!s.start_may_be_trimmed) {
      end_lagged(s);
      return;
    }
    s.start_may_be_trimmed = false;
    s.cursor = through + 1;
  }
  if (s.cursor > through) {
    // Caught up with everything the hub has processed; the next notice is above the head.
    s.mode = Subscription::Mode::Live;
  } else {
    schedule(s);
  }
}

void SubscriptionHub::end_lagged(Subscription& s) {
  ChannelState& ch = channel_of(s);
  if (ch.pending.empty()) dirty_.push_back(s.channel->connection_id());
  ch.pending.push_back(OutgoingEvent{s.handle, nullptr, false, 0, "lagged"});
  metrics_.subscription_lagged(s.type);
  get_logger("watch")->debug("subscription {} on connection {} ended: lagged (needed offset {}, trimmed)",
                             s.id, s.channel->connection_id(), s.cursor);
  remove_subscription(s.handle);
}

void SubscriptionHub::fail_connection(Subscription& s, std::string_view why) {
  // Not rescheduled: the connection closes, and its removal follows.
  get_logger("watch")->error("subscription {}: cannot read the change log ({}); closing connection {}", s.id,
                             why, s.channel->connection_id());
  if (auto sink = s.channel->sink()) sink->close_for_subscriptions("watch_read_failed");
}

void SubscriptionHub::flush() {
  for (std::uint64_t id : dirty_) {
    auto ch = channels_.find(id);
    if (ch == channels_.end() || ch->second.pending.empty()) continue;
    EventBatch batch;
    batch.swap(ch->second.pending);
    if (auto sink = ch->second.channel->sink()) sink->deliver_events(std::move(batch));
  }
  dirty_.clear();
}

}  // namespace rstmdb::server
