// The subscription hub (design.md "Subscriptions", invariant 6; operations.md §26): turns
// committed APPLY_EVENT entries into events for the subscriptions that match them, in offset
// order, with no gap and no duplicate per subscription, through live delivery and catch-up from
// the change log alike (one cursor per subscription: server/subscription.hpp).
//
// Data flow:
//   engine commit hook ──push_notice──▶ HubInbox (bounded; overflow = a gap read back from the log)
//   connections ──subscribe / unsubscribe / closed / room──▶ HubInbox (commands)
//                                  │ the hub thread (`rstmdb-watch`), one round at a time:
//                                  │  1. commands, 2. notices: match through the index, build each
//                                  │  event's JSON once (shared by every subscriber), reserve room on
//                                  │  the subscriber's EventChannel, 3. one catch-up step (≤ kCatchupBatch
//                                  │  entries, a RocksDB scan) per subscription behind the head,
//                                  ▼  4. one EventBatch posted per connection (its strand takes it)
//                       Session's EventQueue ──▶ the session's single writer, merged with responses
//
// The hub never touches a session: it posts batches through EventSink (a weak pointer), and a
// session reaches the hub only by posting commands. Catch-up reads run on the hub thread, never
// on an I/O thread; while one runs, notices wait in the inbox (bounded, and falling back to the
// log when full), so writers are never slowed by subscribers.
//
// Thread-safety: commit_hook()'s function from the engine's writer threads; subscribe,
// unsubscribe, connection_closed, room_available, new_handle and metrics from any thread; start
// and stop from one owner.
#pragma once

#include "engine/commands.hpp"
#include "protocol/error.hpp"
#include "server/event_channel.hpp"
#include "server/hub_inbox.hpp"
#include "server/subscription.hpp"
#include "server/subscription_index.hpp"
#include "server/watch_metrics.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace rstmdb::server {

// Where catch-up reads come from: engine::Engine::read_log's contract.
class ChangeLog {
 public:
  virtual ~ChangeLog() = default;
  virtual std::optional<protocol::Error> read(
      std::uint64_t from, std::uint64_t through,
      const std::function<bool(std::uint64_t offset, std::string_view entry)>& visit) const = 0;
};

struct HubLimits {
  // Notices waiting for the hub, at most (count, and bytes of the entries they carry). Beyond
  // them the hub reads the events back from the log: a burst of large events costs a read, not
  // memory; 64 MiB holds several maximal groups of ordinary events.
  std::size_t max_queued_notices = 65536;
  std::size_t max_queued_notice_bytes = 64ull << 20;
  // Log entries one catch-up step visits (operations.md §26.2 watch.catchup_batch): one step is
  // a short scan, so live notices wait at most that long behind a replay.
  std::size_t catchup_batch = 256;
};

// One WATCH_*, as the connection hands it over (watch_ops.cpp).
struct SubscribeRequest {
  std::uint64_t handle = 0;  // from new_handle()
  std::string id;
  SubscriptionType type = SubscriptionType::All;
  SubscriptionFilter filter;
  bool include_ctx = true;
  std::shared_ptr<EventChannel> channel;
  std::uint64_t first_offset = 1;  // L + 1 (live only: L = latest at subscribe time) or from_offset
  bool replay = false;             // from_offset ≥ 1 was given
  // Called on the hub thread once the subscription exists (answers the WATCH request).
  std::function<void()> on_registered;
};

class SubscriptionHub {
 public:
  explicit SubscriptionHub(const ChangeLog& log, HubLimits limits = {});
  ~SubscriptionHub();  // stop()
  SubscriptionHub(const SubscriptionHub&) = delete;
  SubscriptionHub& operator=(const SubscriptionHub&) = delete;

  // For Engine::set_commit_hook: only moves the notice into the inbox (which it keeps alive, so
  // the function may outlive the hub).
  std::function<void(engine::CommitNotice)> commit_hook();

  void start();
  // Stops and joins the hub thread; waiting commands are dropped (a WATCH still waiting is then
  // answered INTERNAL_ERROR by its Completion). Idempotent.
  void stop();

  // A hub-wide unique subscription handle.
  std::uint64_t new_handle() noexcept { return next_handle_.fetch_add(1); }
  void subscribe(SubscribeRequest request);
  void unsubscribe(std::uint64_t handle);
  // Removes every subscription of the channel's connection.
  void connection_closed(std::shared_ptr<EventChannel> channel);
  // The channel has room again after request_room (its waiting subscriptions resume).
  void room_available(std::shared_ptr<EventChannel> channel);

  WatchMetrics& metrics() noexcept { return metrics_; }
  std::uint64_t dropped_notices() const { return inbox_->dropped_notices(); }

 private:
  struct ChannelState {
    std::shared_ptr<EventChannel> channel;
    std::vector<std::uint64_t> subscriptions;
    std::vector<std::uint64_t> waiting;  // catch-up subscriptions waiting for room
    EventBatch pending;                  // this round's messages
  };

  void run();
  void register_subscription(SubscribeRequest& r);
  void remove_subscription(std::uint64_t handle);
  void remove_connection(std::uint64_t connection_id);
  void resume_waiting(std::uint64_t connection_id);
  void process_notice(HubNotice& notice);
  void catch_up_round();
  // One bounded catch-up step; reschedules the subscription if it is still behind.
  void catch_up_step(Subscription& s);
  // Hands `body` to the subscription's connection; on a full queue the subscription falls back
  // to catch-up from the body's offset. False if it did not fit.
  bool offer(Subscription& s, ChannelState& ch, const std::shared_ptr<const EventBody>& body);
  void to_catch_up(Subscription& s, std::uint64_t from);
  void schedule(Subscription& s);
  void end_lagged(Subscription& s);
  void fail_connection(Subscription& s, std::string_view why);
  void flush();
  ChannelState& channel_of(const Subscription& s);
  void publish_count();

  const ChangeLog& log_;
  const HubLimits limits_;
  std::shared_ptr<HubInbox> inbox_;
  WatchMetrics metrics_;
  std::atomic<std::uint64_t> next_handle_{1};
  std::thread thread_;
  bool started_ = false;

  // Hub thread only.
  std::uint64_t head_ = 0;  // the last offset processed from notices
  std::unordered_map<std::uint64_t, std::unique_ptr<Subscription>> subscriptions_;
  SubscriptionIndex index_;
  std::unordered_map<std::uint64_t, ChannelState> channels_;  // by connection id
  std::vector<std::uint64_t> dirty_;                          // connections with pending messages
  std::vector<std::uint64_t> runnable_;                       // catch-up subscriptions, FIFO per round
};

}  // namespace rstmdb::server
