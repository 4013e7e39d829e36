#include <catch2/catch.hpp>

#include <vector>

#include "config/command_line.hpp"

using namespace rstmdb::config;

namespace {
CommandLine parse(std::vector<std::string_view> args) {
  return parse_command_line(std::span<const std::string_view>(args));
}
}  // namespace

TEST_CASE("no arguments means serve", "[config][cli]") {
  const CommandLine cl = parse({});
  REQUIRE(cl.ok());
  CHECK(cl.subcommand == Subcommand::Serve);
  CHECK(cl.flags.empty());
  CHECK(!cl.config_path);
  CHECK(!cl.help);
  CHECK(!cl.version);
}

TEST_CASE("options map onto keys in order, before or after the subcommand", "[config][cli]") {
  const CommandLine cl = parse({"-c", "/etc/rstmdb/config.yaml", "serve", "--bind=0.0.0.0:7401", "--data-dir",
                                "/var/lib/rstmdb", "--set", "network.max_connections=5", "--metrics-bind",
                                "127.0.0.1:9090", "--log-level=debug", "--log-format", "json",
                                "--set=storage.fsync_policy=every_n:5", "--set", "auth.token_hashes=[a,b]"});
  INFO(cl.error);
  REQUIRE(cl.ok());
  CHECK(cl.subcommand == Subcommand::Serve);
  CHECK(cl.config_path == "/etc/rstmdb/config.yaml");
  REQUIRE(cl.flags.size() == 8);
  auto check = [&](std::size_t i, const char* key, const char* value, const char* flag) {
    INFO(i);
    CHECK(cl.flags[i].key == key);
    CHECK(cl.flags[i].value == value);
    CHECK(cl.flags[i].flag == flag);
  };
  check(0, "network.bind_addr", "0.0.0.0:7401", "--bind");
  check(1, "storage.data_dir", "/var/lib/rstmdb", "--data-dir");
  check(2, "network.max_connections", "5", "--set");
  check(3, "metrics.bind_addr", "127.0.0.1:9090", "--metrics-bind");
  check(4, "logging.level", "debug", "--log-level");
  check(5, "logging.format", "json", "--log-format");
  check(6, "storage.fsync_policy", "every_n:5", "--set");
  check(7, "auth.token_hashes", "[a,b]", "--set");

  LoadOptions options;
  options.config_path = cl.config_path;
  options.flags = cl.flags;  // the types line up
  CHECK(options.flags.size() == 8);
}

TEST_CASE("check-config options", "[config][cli]") {
  CommandLine cl = parse({"check-config", "--strict", "--print", "--config", "c.yaml"});
  REQUIRE(cl.ok());
  CHECK(cl.subcommand == Subcommand::CheckConfig);
  CHECK(cl.strict);
  CHECK(cl.print);
  CHECK(cl.config_path == "c.yaml");

  cl = parse({"--print", "check-config"});  // options may precede the subcommand
  REQUIRE(cl.ok());
  CHECK(cl.print);

  cl = parse({"serve", "--strict"});
  CHECK(cl.error == "--strict is only valid with check-config");
}

TEST_CASE("backup, verify-backup, restore, reload, status", "[config][cli]") {
  CommandLine cl =
      parse({"backup", "--to", "-", "--incremental", "--keep=3", "--label", "nightly", "-c", "x"});
  REQUIRE(cl.ok());
  CHECK(cl.subcommand == Subcommand::Backup);
  CHECK(cl.backup_to == "-");
  CHECK(cl.incremental);
  CHECK(cl.keep == 3u);
  CHECK(cl.label == "nightly");

  cl = parse({"verify-backup", "/b/rstmdb-1", "--quick"});
  REQUIRE(cl.ok());
  CHECK(cl.subcommand == Subcommand::VerifyBackup);
  CHECK(cl.positional == std::vector<std::string>{"/b/rstmdb-1"});
  CHECK(cl.quick);

  cl = parse({"restore", "--from=/b/x", "--force", "--chown", "rstmdb:rstmdb"});
  REQUIRE(cl.ok());
  CHECK(cl.subcommand == Subcommand::Restore);
  CHECK(cl.restore_from == "/b/x");
  CHECK(cl.force);
  CHECK(cl.chown == "rstmdb:rstmdb");

  CHECK(parse({"reload", "-c", "x"}).subcommand == Subcommand::Reload);
  CHECK(parse({"status"}).subcommand == Subcommand::Status);
  CHECK(subcommand_name(Subcommand::VerifyBackup) == "verify-backup");
}

TEST_CASE("a double dash ends option parsing", "[config][cli]") {
  const CommandLine cl = parse({"verify-backup", "--", "--weird-name"});
  REQUIRE(cl.ok());
  CHECK(cl.positional == std::vector<std::string>{"--weird-name"});
}

TEST_CASE("help and version", "[config][cli]") {
  CHECK(parse({"-h"}).help);
  CHECK(parse({"--help"}).help);
  CHECK(parse({"-V"}).version);
  CHECK(parse({"check-config", "--version"}).version);
  // --help wins over a missing required option.
  const CommandLine cl = parse({"backup", "--help"});
  CHECK(cl.ok());
  CHECK(cl.help);
  CHECK(usage_text().find("check-config [--strict] [--print]") != std::string::npos);
  CHECK(usage_text().back() == '\n');
}

TEST_CASE("usage errors", "[config][cli]") {
  struct Case {
    std::vector<std::string_view> args;
    const char* error;
  };
  const std::vector<Case> cases = {
      {{"frobnicate"}, "unknown subcommand 'frobnicate' (see --help)"},
      {{"--frobnicate"}, "unknown option '--frobnicate' (see --help)"},
      {{"-x"}, "unknown option '-x' (see --help)"},
      {{"--bind"}, "--bind needs a value"},
      {{"--bind", "--data-dir", "d"}, "--bind needs a value"},
      {{"-c"}, "-c needs a value"},
      {{"-c", "a", "--config", "b"}, "--config given more than once"},
      {{"--set", "novalue"}, "--set needs KEY=VALUE, got 'novalue'"},
      {{"--set", "=x"}, "--set needs KEY=VALUE, got '=x'"},
      {{"--help=yes"}, "--help takes no value"},
      {{"serve", "extra"}, "unexpected argument 'extra'"},
      {{"check-config", "a.yaml"}, "unexpected argument 'a.yaml'"},
      {{"verify-backup"}, "verify-backup needs a PATH"},
      {{"verify-backup", "a", "b"}, "unexpected argument 'b'"},
      {{"backup"}, "backup needs --to DIR|-"},
      {{"restore", "--force"}, "restore needs --from PATH|-"},
      {{"backup", "--to", "d", "--keep", "0"}, "--keep needs a number 1..1000000, got '0'"},
      {{"restore", "--from", "x", "--quick"}, "--quick is only valid with verify-backup"},
      {{"--to", "d"}, "--to is only valid with backup"},
      {{"check-config", "serve"}, "unexpected argument 'serve'"},
  };
  for (const Case& c : cases) {
    const CommandLine cl = parse(c.args);
    INFO(c.error);
    CHECK(!cl.ok());
    CHECK(cl.error == c.error);
  }
}

TEST_CASE("argc/argv overload skips argv[0]", "[config][cli]") {
  const char* argv[] = {"rstmdbd", "check-config", "--strict", nullptr};
  const CommandLine cl = parse_command_line(3, argv);
  REQUIRE(cl.ok());
  CHECK(cl.subcommand == Subcommand::CheckConfig);
  CHECK(cl.strict);
}
