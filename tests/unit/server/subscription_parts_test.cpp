// The hub's parts in isolation: filter, index, the per-connection event channel's accounting,
// the inbox's bounded notice queue.
#include "server/event_channel.hpp"
#include "server/hub_inbox.hpp"
#include "server/subscription_filter.hpp"
#include "server/subscription_index.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using namespace rstmdb::server;

namespace {

EventFacts facts(std::string_view instance, std::string_view machine, std::string_view event,
                 std::string_view from, std::string_view to) {
  return EventFacts{instance, machine, event, from, to};
}

rstmdb::engine::CommittedEvent event_of(std::uint64_t offset, std::size_t payload_bytes = 0) {
  rstmdb::engine::CommittedEvent e;
  e.offset = offset;
  e.instance_id = "i";
  e.machine = "m";
  e.entry_json = std::string(payload_bytes, 'x');
  return e;
}

}  // namespace

TEST_CASE("WATCH_INSTANCE filter matches its id only", "[watch][filter]") {
  const auto f = SubscriptionFilter::instance("o-1");
  CHECK(f.matches(facts("o-1", "m", "E", "a", "b")));
  CHECK_FALSE(f.matches(facts("o-10", "m", "E", "a", "b")));
  CHECK_FALSE(f.matches(facts("O-1", "m", "E", "a", "b")));
}

TEST_CASE("WATCH_ALL filter: lists ANDed, values ORed, exact and case-sensitive, empty = any",
          "[watch][filter]") {
  CHECK(SubscriptionFilter::all({}, {}, {}, {}).matches(facts("x", "m", "E", "a", "b")));
  const auto f = SubscriptionFilter::all({"m1", "m2"}, {"a"}, {"b", "c"}, {"GO"});
  CHECK(f.matches(facts("x", "m1", "GO", "a", "b")));
  CHECK(f.matches(facts("x", "m2", "GO", "a", "c")));
  CHECK_FALSE(f.matches(facts("x", "m3", "GO", "a", "b")));
  CHECK_FALSE(f.matches(facts("x", "m1", "go", "a", "b")));
  CHECK_FALSE(f.matches(facts("x", "m1", "GO", "b", "b")));
  CHECK_FALSE(f.matches(facts("x", "m1", "GO", "a", "a")));
  CHECK_FALSE(f.matches(facts("x", "M1", "GO", "a", "b")));
  // Duplicates in a list are ignored (the index lists each machine once).
  const auto d = SubscriptionFilter::all({"m", "m", "n", "m"}, {}, {}, {});
  CHECK(d.machines() == std::vector<std::string>{"m", "n"});
}

TEST_CASE("the index finds every candidate exactly once, and nothing after removal", "[watch][index]") {
  Subscription by_instance, by_machines, every, other_machine;
  by_instance.filter = SubscriptionFilter::instance("o-1");
  by_machines.filter = SubscriptionFilter::all({"m", "n", "m"}, {}, {}, {});
  every.filter = SubscriptionFilter::all({}, {"a"}, {}, {});
  other_machine.filter = SubscriptionFilter::all({"z"}, {}, {}, {});
  SubscriptionIndex index;
  for (Subscription* s : {&by_instance, &by_machines, &every, &other_machine})
    index.add(s);
  CHECK(index.size() == 4);

  auto candidates = [&](std::string_view instance, std::string_view machine) {
    std::multiset<Subscription*> found;
    index.for_each_candidate(facts(instance, machine, "E", "a", "b"),
                             [&](Subscription& s) { found.insert(&s); });
    return found;
  };
  CHECK(candidates("o-1", "m") == std::multiset<Subscription*>{&by_instance, &by_machines, &every});
  CHECK(candidates("o-2", "n") == std::multiset<Subscription*>{&by_machines, &every});
  CHECK(candidates("o-2", "q") == std::multiset<Subscription*>{&every});
  CHECK(candidates("o-2", "z") == std::multiset<Subscription*>{&every, &other_machine});

  index.remove(&by_machines);
  index.remove(&by_instance);
  CHECK(index.size() == 2);
  CHECK(candidates("o-1", "m") == std::multiset<Subscription*>{&every});
  index.remove(&every);
  index.remove(&other_machine);
  CHECK(index.size() == 0);
  CHECK(candidates("o-1", "z").empty());
}

TEST_CASE("event channel: bounded by count and bytes, an empty queue takes any event", "[watch][channel]") {
  EventChannel ch(1, {}, 3, 1000);
  CHECK(ch.try_reserve(5000));  // larger than the byte bound: alone, it still goes out
  CHECK_FALSE(ch.try_reserve(1));
  CHECK_FALSE(ch.release(1, 5000));  // nobody asked for room
  CHECK(ch.try_reserve(400));
  CHECK(ch.try_reserve(400));
  CHECK_FALSE(ch.try_reserve(400));  // bytes
  CHECK(ch.try_reserve(100));
  CHECK_FALSE(ch.try_reserve(1));  // count
  CHECK(ch.queued_events() == 3);
  CHECK(ch.queued_bytes() == 900);
}

TEST_CASE("event channel: room is granted once, at half of both limits or when empty", "[watch][channel]") {
  EventChannel ch(1, {}, 4, 1000);
  for (int i = 0; i < 4; ++i)
    REQUIRE(ch.try_reserve(100));
  REQUIRE_FALSE(ch.try_reserve(100));
  CHECK_FALSE(ch.request_room(100));  // full: the connection will tell
  CHECK_FALSE(ch.release(1, 100));    // 3 left: above half of 4
  CHECK(ch.release(1, 100));          // 2 left: half; granted
  CHECK_FALSE(ch.release(1, 100));    // granted already: exactly one caller is told
  // Asked while there is room already: the asker learns it at once, and the releaser is not told.
  CHECK(ch.request_room(100));
  CHECK_FALSE(ch.release(1, 100));
  CHECK(ch.queued_events() == 0);
  // A large waiting event needs its bytes free too, unless the queue is empty.
  for (int i = 0; i < 2; ++i)
    REQUIRE(ch.try_reserve(200));
  CHECK_FALSE(ch.request_room(700));  // 2 x 200 queued: 400 + 700 > 1000
  CHECK_FALSE(ch.release(0, 0));
  CHECK(ch.release(2, 400));  // empty
}

TEST_CASE("inbox: notices pass through while someone is subscribed, skipped otherwise", "[watch][inbox]") {
  HubInbox inbox(8, 1 << 20);
  inbox.push_notice({1, {event_of(1)}});
  inbox.push_notice({2, {}});
  auto t = inbox.take(false, std::chrono::milliseconds(0));
  CHECK(t.notices.empty());
  CHECK(t.skipped_through == 2);
  CHECK(inbox.set_subscriptions(1) == 2);
  inbox.push_notice({3, {event_of(3)}});
  inbox.push_notice({4, {}});
  t = inbox.take(false, std::chrono::milliseconds(0));
  REQUIRE(t.notices.size() == 2);
  CHECK(t.notices[0].last_offset == 3);
  CHECK(t.notices[0].events.size() == 1);
  CHECK(t.notices[1].last_offset == 4);
  CHECK_FALSE(t.notices[1].events_dropped);
}

TEST_CASE("inbox: beyond its bounds the newest notice becomes a gap, count and bytes bounded",
          "[watch][inbox]") {
  HubInbox inbox(3, 1000);
  inbox.set_subscriptions(1);
  for (std::uint64_t o = 1; o <= 50; ++o)
    inbox.push_notice({o, {event_of(o, 100)}});
  auto t = inbox.take(false, std::chrono::milliseconds(0));
  REQUIRE(t.notices.size() <= 3);
  // Kept notices come first, in order; the gap ends at the last offset pushed.
  CHECK(t.notices.back().events_dropped);
  CHECK(t.notices.back().last_offset == 50);
  std::uint64_t last = 0;
  for (const auto& n : t.notices) {
    CHECK(n.last_offset > last);
    last = n.last_offset;
    if (!n.events_dropped) CHECK(n.events.size() == 1);
  }
  CHECK(inbox.dropped_notices() > 0);

  // Bytes alone: one large notice becomes a gap, the following small one is kept.
  HubInbox bytes(100, 1000);
  bytes.set_subscriptions(1);
  bytes.push_notice({1, {event_of(1, 600)}});
  bytes.push_notice({2, {event_of(2, 600)}});
  bytes.push_notice({3, {event_of(3, 10)}});
  t = bytes.take(false, std::chrono::milliseconds(0));
  REQUIRE(t.notices.size() == 3);
  CHECK_FALSE(t.notices[0].events_dropped);
  CHECK(t.notices[1].events_dropped);
  CHECK(t.notices[1].last_offset == 2);
  CHECK(t.notices[2].last_offset == 3);
}
