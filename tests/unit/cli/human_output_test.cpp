#include "tools/cli/human_output.hpp"

#include "protocol/json_text.hpp"

#include <catch2/catch.hpp>

using namespace rstmdb::cli;
namespace json = boost::json;

namespace {

json::object obj(std::string_view text) {
  json::value v;
  rstmdb::protocol::JsonParseError err;
  REQUIRE(rstmdb::protocol::parse_json(text, v, err));
  REQUIRE(v.is_object());
  return v.get_object();
}

const Style plain(false);

}  // namespace

TEST_CASE("upstream strings of the session and machine commands", "[human]") {
  CHECK(human::ping(plain) == "PONG");
  CHECK(human::put_machine(
            plain, "order", 1,
            obj(R"({"machine":"order","version":1,"stored_checksum":"26adbd14","created":true})")) ==
        "Created machine order v1 (checksum: 26adbd14)");
  CHECK(human::put_machine(plain, "order", 1, obj(R"({"stored_checksum":"26adbd14","created":false})")) ==
        "Already exists machine order v1 (checksum: 26adbd14)");
  CHECK(human::get_machine(plain, "order", 2, obj(R"({"definition":{"initial":"a"},"checksum":"x"})")) ==
        "Machine order v2\n{\n  \"initial\": \"a\"\n}");
  CHECK(human::info(obj(R"({"pong":true})")) == "{\n  \"pong\": true\n}");
}

TEST_CASE("list-machines lines", "[human]") {
  std::vector<human::MachineSummary> ms;
  CHECK(human::list_machines(plain, ms) == "No machines registered");
  ms.push_back({"order", {1, 2}, 2, 5, 4});
  ms.push_back({"odd", {3}, 3, std::nullopt, std::nullopt});
  ms.push_back({"none", {}, std::nullopt, std::nullopt, std::nullopt});
  CHECK(human::list_machines(plain, ms) ==
        "  order v2 (5 states, 4 transitions)\n  odd [versions: [3]]\n  none [no versions]\n");
  CHECK(human::repl::list_machines(plain, {}) == "No machines");
}

TEST_CASE("instance command output", "[human]") {
  CHECK(human::create_instance(plain, "order", 1,
                               obj(R"({"instance_id":"o-1","state":"created","wal_offset":2})")) ==
        "Created instance o-1\n  Machine: order v1\n  State: created\n  WAL offset: 2");
  CHECK(
      human::get_instance(
          plain, "o-1",
          obj(R"({"instance_id":"o-1","machine":"order","version":1,"state":"paid","ctx":{"a":1},"last_wal_offset":3})")) ==
      "Instance o-1\n  Machine: order v1\n  State: paid\n  Context: {\n  \"a\": 1\n}\n  Last WAL offset: 3");
  CHECK(human::apply_event(
            plain, "o-1", "PAY",
            obj(R"({"from_state":"created","to_state":"paid","wal_offset":3,"applied":true})")) ==
        "Applied event PAY on o-1\n  created \u2192 paid\n  WAL offset: 3");
  CHECK(human::delete_instance(plain, "o-1") == "Deleted instance o-1");
  CHECK(
      human::snapshot_instance(
          plain, "o-1",
          obj(R"({"instance_id":"o-1","snapshot_id":"snap-1","wal_offset":3,"size_bytes":238,"checksum":"6e04913c"})")) ==
      "Created snapshot snap-1 of instance o-1\n  WAL offset: 3\n  Size: 238 B\n  Checksum: 6e04913c");
}

TEST_CASE("list-instances table and count", "[human]") {
  const auto r = obj(
      R"({"instances":[{"id":"order-001","machine":"order","version":1,"state":"paid","created_at":0,"updated_at":1767225601000,"last_wal_offset":3},)"
      R"({"id":"b","machine":"payment","version":12,"state":"created","created_at":0,"updated_at":1767225600123,"last_wal_offset":4}],"total":5,"has_more":true})");
  CHECK(human::list_instances(plain, r) ==
        "ID         MACHINE  VERSION  STATE    UPDATED_AT\n"
        "order-001  order    1        paid     2026-01-01T00:00:01.000Z\n"
        "b          payment  12       created  2026-01-01T00:00:00.123Z\n"
        "2 of 5");
  CHECK(human::list_instances(plain, obj(R"({"instances":[],"total":0,"has_more":false})")) ==
        "ID  MACHINE  VERSION  STATE  UPDATED_AT\n0 of 0");
}

TEST_CASE("wal-read records, upstream layout", "[human]") {
  const auto r = obj(
      R"({"records":[{"offset":1,"sequence":1,"entry":{"type":"put_machine","machine":"order"}},)"
      R"({"offset":2,"sequence":2,"entry":{"type":"create_instance","instance_id":"o-1","machine":"order","version":1}},)"
      R"({"offset":3,"sequence":3,"entry":{"type":"apply_event","instance_id":"o-1","event":"PAY","from_state":"created","to_state":"paid"}}],"next_offset":4})");
  CHECK(human::wal_read(plain, r) ==
        "[     1]            1 | put_machine\n"
        "[     2]            2 | create_instance\n"
        "         Instance: o-1, Machine: order v1\n"
        "[     3]            3 | apply_event\n"
        "         Instance: o-1, Event: PAY, created \u2192 paid\n"
        "\nNext offset: 4");
  CHECK(human::wal_read(plain, obj(R"({"records":[],"next_offset":9})")) == "No WAL entries");
  CHECK(human::repl::wal_read(plain, r) == "[1] put_machine\n[2] create_instance\n[3] apply_event\n");
  CHECK(human::repl::wal_read(plain, obj(R"({"records":[]})")) == "No entries");
}

TEST_CASE("wal-stats and compact", "[human]") {
  const auto stats = obj(
      R"({"entry_count":1523,"segment_count":4,"total_size_bytes":2883584,"latest_offset":1523,"oldest_offset":1,)"
      R"("io_stats":{"bytes_written":612040,"bytes_read":40960,"writes":1523,"reads":12,"fsyncs":980}})");
  CHECK(human::wal_stats(plain, stats) ==
        "WAL Statistics\n  Entries: 1523\n  Segments: 4\n  Size: 2.75 MB\n  Latest offset: 1523\n  Oldest "
        "offset: 1\n"
        "\nI/O Statistics\n  Bytes written: 612040\n  Bytes read: 40960\n  Writes: 1523\n  Reads: 12\n  "
        "Fsyncs: 980");
  // An empty log has no offsets (operations.md §13).
  CHECK(human::wal_stats(plain,
                         obj(R"({"entry_count":0,"segment_count":1,"total_size_bytes":10,"io_stats":{}})"))
            .find("offset") == std::string::npos);
  CHECK(
      human::compact(
          plain,
          obj(R"({"snapshots_created":12,"segments_deleted":900,"bytes_reclaimed":1048576,"total_snapshots":40,"wal_segments":3,"entries_trimmed":900})")) ==
      "Compaction complete\n  Snapshots created: 12\n  WAL segments deleted: 900\n  Bytes reclaimed: 1.00 "
      "MB\n"
      "  ---\n  Total snapshots: 40\n  WAL segments remaining: 3");
}

TEST_CASE("format_bytes steps", "[human]") {
  CHECK(human::format_bytes(0) == "0 B");
  CHECK(human::format_bytes(1023) == "1023 B");
  CHECK(human::format_bytes(1536) == "1.50 KB");
  CHECK(human::format_bytes(3u * 1024 * 1024 * 1024) == "3.00 GB");
}

TEST_CASE("batch, flush-all, unwatch, watch banners", "[human]") {
  json::array ops;
  ops.emplace_back(json::object{{"op", "CREATE_INSTANCE"}});
  ops.emplace_back(json::object{{"op", "APPLY_EVENT"}});
  std::size_t failed = 99;
  const auto r = obj(
      R"({"results":[{"status":"ok","result":{"instance_id":"o-9","state":"created","wal_offset":5}},)"
      R"({"status":"error","error":{"code":"INVALID_TRANSITION","message":"invalid transition: cannot apply 'SHIP' in state 'created'","retryable":false}}]})");
  CHECK(human::batch(plain, false, ops, r, failed) ==
        "Batch (best_effort): 2 operations, 1 ok, 1 failed\n"
        "  [0] ok CREATE_INSTANCE {\"instance_id\":\"o-9\",\"state\":\"created\",\"wal_offset\":5}\n"
        "  [1] error APPLY_EVENT INVALID_TRANSITION - invalid transition: cannot apply 'SHIP' in state "
        "'created'");
  CHECK(failed == 1);
  CHECK(human::batch(plain, true, {}, obj(R"({"results":[]})"), failed) ==
        "Batch (atomic): 0 operations, 0 ok, 0 failed");
  CHECK(failed == 0);
  CHECK(human::flush_all(plain, obj(R"({"flushed":true,"instances_removed":3,"machines_removed":2})")) ==
        "Flushed all data: 3 instances, 2 machine versions removed");
  CHECK(human::unwatch(plain, "sub-1", obj(R"({"subscription_id":"sub-1","removed":true})")) ==
        "Removed subscription sub-1");
  CHECK(human::unwatch(plain, "sub-1", obj(R"({"subscription_id":"sub-1","removed":false})")) ==
        "Warning: subscription sub-1 not found");
  CHECK(
      human::watch_instance_banner(
          plain, "o-1",
          obj(R"({"subscription_id":"sub-9","instance_id":"o-1","current_state":"paid","current_wal_offset":3})")) ==
      "Watching instance o-1 (sub_id: sub-9, state: paid, wal_offset: 3)\nPress Ctrl+C to stop...");
  CHECK(human::watch_all_banner(plain, obj(R"({"subscription_id":"sub-9","wal_offset":2})")) ==
        "Watching all events (sub_id: sub-9, wal_offset: 2)\nPress Ctrl+C to stop...");
}

TEST_CASE("the REPL's short forms", "[human]") {
  CHECK(human::repl::put_machine(plain, "m", 1, obj(R"({"stored_checksum":"ab","created":true})")) ==
        "Created m v1 (checksum: ab)");
  CHECK(human::repl::put_machine(plain, "m", 1, obj(R"({"stored_checksum":"ab","created":false})")) ==
        "Exists m v1 (checksum: ab)");
  CHECK(human::repl::create_instance(plain, obj(R"({"instance_id":"o","state":"s","wal_offset":4})")) ==
        "Created o (state: s, offset: 4)");
  CHECK(human::repl::get_instance(plain, obj(R"({"machine":"order","version":1,"state":"paid","ctx":{}})")) ==
        "order v1\n  State: paid\n  Context: {}");
  CHECK(human::repl::apply_event(plain, "PAY", obj(R"({"from_state":"a","to_state":"b","wal_offset":7})")) ==
        "PAY a \u2192 b (offset: 7)");
  CHECK(human::repl::delete_instance(plain, "o") == "Deleted o");
  CHECK(human::repl::list_instances(plain, obj(R"({"instances":[],"total":0})"), 50) == "No instances");
  CHECK(
      human::repl::list_instances(
          plain,
          obj(R"({"instances":[{"id":"o","machine":"m","version":1,"state":"s"}],"total":60,"has_more":true})"),
          50) == "Instances (60 total, showing first 50)\n  o (m v1) state=s\n");
  CHECK(human::repl::get_machine(obj(R"({"definition":{}})")) == "{}");
}

TEST_CASE("colour codes only when asked", "[human]") {
  const Style color(true);
  CHECK(human::ping(color) == "\x1b[32mPONG\x1b[0m");
  CHECK(human::delete_instance(color, "o") == "\x1b[32mDeleted\x1b[0m instance \x1b[36mo\x1b[0m");
}

TEST_CASE("timestamps in UTC with milliseconds", "[human]") {
  CHECK(human::format_timestamp_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(human::format_timestamp_ms(1767225601007) == "2026-01-01T00:00:01.007Z");
}
