#include "server/event_queue.hpp"

#include "protocol/frame_encoder.hpp"
#include "protocol/json_text.hpp"
#include "server/subscription_hub.hpp"

#include <algorithm>

namespace rstmdb::server {

EventQueue::~EventQueue() {
  close();
}

void EventQueue::attach(SubscriptionHub& hub, std::uint64_t connection_id, std::weak_ptr<EventSink> sink,
                        Limits limits) {
  hub_ = &hub;
  metrics_ = &hub.metrics();
  limits_ = limits;
  channel_ =
      std::make_shared<EventChannel>(connection_id, std::move(sink), limits.queue_events, limits.queue_bytes);
}

std::uint64_t EventQueue::add(std::string id, SubscriptionType type) {
  const std::uint64_t handle = hub_->new_handle();
  auto shared = std::make_shared<const std::string>(std::move(id));
  by_id_.emplace(*shared, handle);
  owned_.emplace(handle, Owned{std::move(shared), type});
  metrics_->subscription_added(type);
  return handle;
}

void EventQueue::forget(std::uint64_t handle) {
  auto it = owned_.find(handle);
  if (it == owned_.end()) return;
  by_id_.erase(*it->second.id);
  metrics_->subscription_removed(it->second.type);
  owned_.erase(it);
}

bool EventQueue::remove(std::string_view id) {
  auto found = by_id_.find(id);
  if (found == by_id_.end()) return false;
  const std::uint64_t handle = found->second;
  forget(handle);
  std::size_t events = 0;
  std::size_t bytes = 0;
  std::erase_if(waiting_, [&](const Waiting& w) {
    if (w.handle != handle) return false;
    if (w.body) {
      ++events;
      bytes += w.reserved;
    }
    return true;
  });
  release(events, bytes);
  hub_->unsubscribe(handle);
  return true;
}

void EventQueue::accept(EventBatch batch, std::uint64_t after_slot) {
  std::size_t dropped_events = 0;
  std::size_t dropped_bytes = 0;
  for (auto& m : batch) {
    auto it = closed_ ? owned_.end() : owned_.find(m.handle);
    if (it == owned_.end()) {
      // Unwatched, ended or closed meanwhile: never written.
      if (m.body) {
        ++dropped_events;
        dropped_bytes += m.reserved;
      }
      continue;
    }
    Waiting w{after_slot,        m.handle,      it->second.id, it->second.type,
              std::move(m.body), m.include_ctx, m.reserved,    m.end_reason};
    if (!w.body) forget(m.handle);  // `end`: the hub has removed it already
    waiting_.push_back(std::move(w));
  }
  release(dropped_events, dropped_bytes);
}

std::size_t EventQueue::pop_into(std::string& out, protocol::Framing framing) {
  Waiting w = std::move(waiting_.front());
  waiting_.pop_front();
  const std::size_t before = out.size();
  std::string head;
  if (w.body) {
    head.reserve(w.id->size() + 40);
    head += R"({"type":"event","subscription_id":)";
    protocol::append_json_string(head, *w.id);
    head += ',';
    if (w.include_ctx) {
      protocol::append_frame_parts(out, framing, {head, w.body->with_ctx()});
    } else {
      protocol::append_frame_parts(out, framing, {head, w.body->without_ctx_head(), "}"});
    }
    metrics_->event_forwarded(w.type);
    release(1, w.reserved);
  } else {
    head += R"({"type":"end","subscription_id":)";
    protocol::append_json_string(head, *w.id);
    head += R"(,"reason":)";
    protocol::append_json_string(head, w.end_reason);
    head += '}';
    protocol::append_frame(out, framing, head);
  }
  return out.size() - before;
}

void EventQueue::end_all(std::string_view reason, std::uint64_t after_slot) {
  std::vector<std::uint64_t> handles;
  handles.reserve(owned_.size());
  for (const auto& [handle, owned] : owned_)
    handles.push_back(handle);
  std::sort(handles.begin(), handles.end());  // in subscription order
  for (std::uint64_t handle : handles) {
    const Owned& owned = owned_.at(handle);
    waiting_.push_back(Waiting{after_slot, handle, owned.id, owned.type, nullptr, false, 0, reason});
    forget(handle);
    hub_->unsubscribe(handle);
  }
}

void EventQueue::close() {
  if (closed_ || !hub_) return;
  closed_ = true;
  while (!owned_.empty())
    forget(owned_.begin()->first);
  std::size_t events = 0;
  std::size_t bytes = 0;
  for (const auto& w : waiting_) {
    if (w.body) {
      ++events;
      bytes += w.reserved;
    }
  }
  std::deque<Waiting>().swap(waiting_);
  channel_->release(events, bytes);
  hub_->connection_closed(channel_);
}

void EventQueue::release(std::size_t events, std::size_t bytes) {
  if (events == 0 && bytes == 0) return;
  if (channel_->release(events, bytes) && !closed_) hub_->room_available(channel_);
}

}  // namespace rstmdb::server
