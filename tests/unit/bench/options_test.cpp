#include "tools/bench/options.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

using namespace rstmdb::bench;

namespace {

std::map<std::string, std::string> g_env;

ParseResult parse(std::vector<std::string_view> args, std::map<std::string, std::string> env = {}) {
  g_env = std::move(env);
  return parse_options(args, [](const char* name) -> const char* {
    auto it = g_env.find(name);
    return it == g_env.end() ? nullptr : it->second.c_str();
  });
}

BenchOptions ok(std::vector<std::string_view> args, std::map<std::string, std::string> env = {}) {
  ParseResult r = parse(std::move(args), std::move(env));
  if (auto* e = std::get_if<UsageError>(&r)) FAIL("usage error: " << e->message);
  REQUIRE(std::holds_alternative<BenchOptions>(r));
  return std::get<BenchOptions>(std::move(r));
}

std::string usage_error(std::vector<std::string_view> args) {
  ParseResult r = parse(std::move(args));
  REQUIRE(std::holds_alternative<UsageError>(r));
  return std::get<UsageError>(r).message;
}

}  // namespace

TEST_CASE("options defaults", "[options]") {
  const BenchOptions o = ok({});
  CHECK(o.server.host == "127.0.0.1");
  CHECK(o.server.port == 7401);
  CHECK(o.server_text == "127.0.0.1:7401");
  CHECK_FALSE(o.token.has_value());
  CHECK(o.workload.to_string() == "apply_event=1");
  CHECK(o.connections == 16);
  CHECK(o.pipeline == 1);
  CHECK(o.duration_s == 30);
  CHECK_FALSE(o.requests.has_value());
  CHECK(o.warmup_s == 5);
  CHECK_FALSE(o.rate.has_value());
  CHECK(o.instances == 10000);
  CHECK(o.payload_bytes == 64);
  CHECK(o.create_ids == CreateIds::Sequential);
  CHECK_FALSE(o.durability.has_value());
  CHECK_FALSE(o.local_server.has_value());
  CHECK_FALSE(o.json_path.has_value());
  CHECK(o.max_error_rate == 0);
}

TEST_CASE("options long, short, attached and = forms", "[options]") {
  const BenchOptions o = ok({"-s",
                             "db.example:9000",
                             "--token=secret",
                             "-w",
                             "apply_event=70,get_instance=30",
                             "-c4",
                             "--pipeline",
                             "16",
                             "-d",
                             "2.5",
                             "--warmup",
                             "0",
                             "--rate=1000",
                             "--instances",
                             "50",
                             "--payload-bytes",
                             "0",
                             "--create-ids",
                             "uuid",
                             "--durability",
                             "EVERY_N:10",
                             "--json",
                             "-",
                             "--max-error-rate",
                             "0.01",
                             "--local",
                             "/bin/rstmdbd",
                             "--threads",
                             "2",
                             "--timeout",
                             "5"});
  CHECK(o.server.host == "db.example");
  CHECK(o.server.port == 9000);
  CHECK(o.token == "secret");
  CHECK(o.workload.to_string() == "apply_event=70,get_instance=30");
  CHECK(o.connections == 4);
  CHECK(o.pipeline == 16);
  CHECK(o.duration_s == 2.5);
  CHECK(o.warmup_s == 0);
  CHECK(o.rate == 1000.0);
  CHECK(o.instances == 50);
  CHECK(o.payload_bytes == 0);
  CHECK(o.create_ids == CreateIds::Uuid);
  CHECK(o.durability == "every_n:10");
  CHECK(o.json_path == "-");
  CHECK(o.max_error_rate == 0.01);
  CHECK(o.local_server == "/bin/rstmdbd");
  CHECK(o.threads == 2);
  CHECK(o.timeout_s == 5);
}

TEST_CASE("options environment", "[options]") {
  BenchOptions o = ok({}, {{"RSTMDB_SERVER", "10.0.0.1:7500"}, {"RSTMDB_TOKEN", "tok"}});
  CHECK(o.server.host == "10.0.0.1");
  CHECK(o.server.port == 7500);
  CHECK(o.token == "tok");
  // Flags win over the environment; empty variables count as unset.
  o = ok({"-s", "localhost", "-t", "flag"}, {{"RSTMDB_SERVER", "10.0.0.1:7500"}, {"RSTMDB_TOKEN", "tok"}});
  CHECK(o.server.host == "localhost");
  CHECK(o.server.port == 7401);
  CHECK(o.token == "flag");
  o = ok({}, {{"RSTMDB_SERVER", ""}, {"RSTMDB_TOKEN", ""}});
  CHECK(o.server.host == "127.0.0.1");
  CHECK_FALSE(o.token.has_value());
  CHECK(std::holds_alternative<UsageError>(parse({}, {{"RSTMDB_SERVER", "host:0"}})));
}

TEST_CASE("options help and usage errors", "[options]") {
  CHECK(std::holds_alternative<HelpRequested>(parse({"-h"})));
  CHECK(std::holds_alternative<HelpRequested>(parse({"-c", "4", "--help"})));
  CHECK(usage_error({"--bogus"}).find("unknown option") != std::string::npos);
  CHECK(usage_error({"stray"}).find("unexpected argument") != std::string::npos);
  CHECK(usage_error({"-c"}).find("needs a value") != std::string::npos);
  CHECK(usage_error({"--create-ids", "random"}).find("expected sequential or uuid") != std::string::npos);
  CHECK(usage_error({"-c", "0"}).find("-c") != std::string::npos);
  CHECK(usage_error({"-p", "1025"}).find("1..1024") != std::string::npos);
  CHECK(usage_error({"-d", "0"}).find("seconds > 0") != std::string::npos);
  CHECK(usage_error({"-d", "-1"}).find("-d") != std::string::npos);
  CHECK(usage_error({"-n", "0"}).find("positive") != std::string::npos);
  CHECK(usage_error({"-n", "10", "-d", "5"}).find("exclude") != std::string::npos);
  CHECK(usage_error({"--rate", "0"}).find("positive") != std::string::npos);
  CHECK(usage_error({"--durability", "sometimes"}).find("every_write") != std::string::npos);
  CHECK(usage_error({"--durability", "every_ms:0"}).find("every_write") != std::string::npos);
  CHECK(usage_error({"--max-error-rate", "2"}).find("0..1") != std::string::npos);
  CHECK(usage_error({"-w", "nope"}).find("unknown op") != std::string::npos);
  CHECK(usage_error({"-s", "host:99999"}).find("host[:port]") != std::string::npos);
  CHECK(usage_error({"--instances", "0"}).find("--instances") != std::string::npos);
  // ...but no working set is needed for ops that do not address one.
  CHECK(ok({"--instances", "0", "-w", "ping,lifecycle"}).instances == 0);
  CHECK(usage_text().find("--workload") != std::string::npos);
}

TEST_CASE("fsync policy forms", "[options]") {
  CHECK(normalise_fsync_policy("every_write") == "every_write");
  CHECK(normalise_fsync_policy("Never") == "never");
  CHECK(normalise_fsync_policy("every_n:100") == "every_n:100");
  CHECK(normalise_fsync_policy("EVERY_MS:5") == "every_ms:5");
  CHECK_FALSE(normalise_fsync_policy("every_n:"));
  CHECK_FALSE(normalise_fsync_policy("every_n:x"));
  CHECK_FALSE(normalise_fsync_policy("every_ms:0"));
  CHECK_FALSE(normalise_fsync_policy("always"));
}
