#include "tools/cli/requests.hpp"

#include "protocol/json_text.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>
#include <cstdio>
#include <fstream>

using namespace rstmdb::cli;

namespace {

std::string params_of(const Command& c) {
  return rstmdb::protocol::to_json(build_request(c).params);
}

std::string op_of(const Command& c) {
  return build_request(c).op;
}

// A file in the test's temporary directory, removed at the end of the scope.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/rstmdb-cli-test-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    ::close(fd);
    path_ = name;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("requests carry upstream's param names in upstream's order", "[requests]") {
  CHECK(op_of(PingCommand{}) == "PING");
  CHECK(params_of(PingCommand{}) == "{}");
  CHECK(op_of(InfoCommand{}) == "INFO");
  CHECK(params_of(PutMachineCommand{"order", 1, R"({"states":["a"], "initial":"a"})"}) ==
        R"({"machine":"order","version":1,"definition":{"states":["a"],"initial":"a"}})");
  CHECK(params_of(GetMachineCommand{"order", 2u}) == R"({"machine":"order","version":2})");
  CHECK(op_of(ListMachinesCommand{}) == "LIST_MACHINES");
  CreateInstanceCommand c{"order", 1, "o-1", R"({"a":1})", "k"};
  CHECK(op_of(c) == "CREATE_INSTANCE");
  CHECK(params_of(c) ==
        R"({"instance_id":"o-1","machine":"order","version":1,"initial_ctx":{"a":1},"idempotency_key":"k"})");
  CHECK(params_of(CreateInstanceCommand{"order", 1, {}, {}, {}}) == R"({"machine":"order","version":1})");
  CHECK(params_of(GetInstanceCommand{"o-1"}) == R"({"instance_id":"o-1"})");
  CHECK(params_of(ListInstancesCommand{}) == R"({"limit":100,"offset":0})");
  CHECK(params_of(ListInstancesCommand{"order", "paid", 5, 10}) ==
        R"({"machine":"order","state":"paid","limit":5,"offset":10})");
  ApplyEventCommand a{"o-1", "PAY", R"({"n":1})", "created", 7u, "evt-1", "ik"};
  CHECK(
      params_of(a) ==
      R"({"instance_id":"o-1","event":"PAY","payload":{"n":1},"expected_state":"created","expected_wal_offset":7,"event_id":"evt-1","idempotency_key":"ik"})");
  CHECK(params_of(ApplyEventCommand{"o-1", "PAY", {}, {}, {}, {}, {}}) ==
        R"({"instance_id":"o-1","event":"PAY"})");
  CHECK(params_of(DeleteInstanceCommand{"o-1", "dk"}) == R"({"instance_id":"o-1","idempotency_key":"dk"})");
  CHECK(op_of(SnapshotInstanceCommand{"o-1"}) == "SNAPSHOT_INSTANCE");
  CHECK(params_of(WalReadCommand{0, 5u}) == R"({"from_offset":0,"limit":5})");
  CHECK(params_of(WalReadCommand{9, {}}) == R"({"from_offset":9})");
  CHECK(op_of(WalStatsCommand{}) == "WAL_STATS");
  CHECK(params_of(CompactCommand{true}) == R"({"force_snapshot":true})");
  CHECK(op_of(FlushAllCommand{}) == "FLUSH_ALL");
  CHECK(params_of(UnwatchCommand{"sub-1"}) == R"({"subscription_id":"sub-1"})");
}

TEST_CASE("watch requests", "[requests]") {
  WatchInstanceCommand wi{"o-1", false, 5u};
  CHECK(build_request(wi).op == "WATCH_INSTANCE");
  CHECK(params_of(wi) == R"({"instance_id":"o-1","include_ctx":false,"from_offset":5})");
  WatchAllCommand wa;
  CHECK(params_of(wa) == R"({"include_ctx":true})");
  wa.machines = {"order"};
  wa.events = {"PAY", "SHIP"};
  CHECK(params_of(wa) == R"({"include_ctx":true,"machines":["order"],"events":["PAY","SHIP"]})");
}

TEST_CASE("JSON arguments: inline, @file, and errors", "[requests]") {
  TempFile f(R"({"from": "file"})");
  CHECK(params_of(CreateInstanceCommand{"m", 1, {}, "@" + f.path(), {}}) ==
        R"({"machine":"m","version":1,"initial_ctx":{"from":"file"}})");
  CHECK_THROWS_WITH(load_json_argument("{oops", "ctx"), Catch::Contains("JSON error: ctx: "));
  CHECK_THROWS_WITH(load_json_argument("@/nonexistent/def.json", "definition"),
                    Catch::Contains("cannot read '/nonexistent/def.json'"));
  CHECK_THROWS_WITH(load_json_argument("\xff", "payload"), "JSON error: payload: not valid UTF-8");
  // Any JSON value is sent; the server judges what it accepts.
  CHECK(load_json_argument("[1]", "payload").is_array());
}

TEST_CASE("argument files are bounded", "[requests]") {
  TempFile big(std::string(kMaxArgumentFileBytes + 1, ' '));
  CHECK_THROWS_WITH(read_argument_file(big.path()), Catch::Contains("is larger than 16777216 bytes"));
}

TEST_CASE("batch files: an array, or an object with ops and mode", "[requests]") {
  TempFile array(R"([{"op":"PING"},{"op":"GET_INSTANCE","params":{"instance_id":"o"}}])");
  Request r = batch_request(BatchCommand{false, array.path()});
  CHECK(r.op == "BATCH");
  CHECK(rstmdb::protocol::to_json(r.params) ==
        R"({"mode":"best_effort","ops":[{"op":"PING"},{"op":"GET_INSTANCE","params":{"instance_id":"o"}}]})");
  CHECK(rstmdb::protocol::to_json(batch_request(BatchCommand{true, "@" + array.path()}).params)
            .rfind(R"({"mode":"atomic",)", 0) == 0);
  TempFile object(R"({"mode":"atomic","ops":[]})");
  CHECK(rstmdb::protocol::to_json(batch_request(BatchCommand{false, object.path()}).params) ==
        R"({"mode":"atomic","ops":[]})");
  TempFile bad(R"({"op":"PING"})");
  CHECK_THROWS_WITH(batch_request(BatchCommand{false, bad.path()}), Catch::Contains("expected a JSON array"));
}

TEST_CASE("sha256_hex is what auth.token_hashes holds (protocol.md §11)", "[requests]") {
  CHECK(sha256_hex("my-secret-token") == "ea5add57437cbf20af59034d7ed17968dcc56767b41965fcc5b376d45db8b4a3");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hash_token_input(HashTokenCommand{"abc"}) == "abc");
}
