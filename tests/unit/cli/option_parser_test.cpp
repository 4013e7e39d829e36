#include "tools/cli/option_parser.hpp"

#include <catch2/catch.hpp>

using namespace rstmdb::cli;

namespace {

const CommandSpec kSpec = {"demo",
                           "A demo command",
                           {{"force", 'f', "", "a flag"},
                            {"limit", 'l', "N", "a value"},
                            {"name", 'n', "NAME", "required", true},
                            {"tags", 0, "TAGS", "repeatable", false, true}},
                           {{"FIRST", "one"}, {"SECOND", "two", false}}};

ParsedArgs ok(std::vector<std::string> args, ParseMode mode = {}) {
  auto r = parse_options(kSpec, args, mode);
  if (auto* e = std::get_if<UsageError>(&r)) FAIL("unexpected usage error: " << e->message);
  return std::get<ParsedArgs>(std::move(r));
}

std::string error(std::vector<std::string> args) {
  auto r = parse_options(kSpec, args);
  REQUIRE(std::holds_alternative<UsageError>(r));
  CHECK(std::get<UsageError>(r).exit_code == kExitUsage);
  return std::get<UsageError>(r).message;
}

}  // namespace

TEST_CASE("long, short, attached and clustered forms", "[option_parser]") {
  auto p = ok({"-n", "x", "p1"});
  CHECK(p.get("name") == "x");
  CHECK(p.positionals == std::vector<std::string>{"p1"});
  CHECK_FALSE(p.has("force"));
  p = ok({"--name=y", "--limit", "5", "p1", "p2"});
  CHECK(p.get("name") == "y");
  CHECK(p.get("limit") == "5");
  CHECK(p.positionals.size() == 2);
  p = ok({"-fl7", "-nz", "p1"});  // -f, then -l takes "7"
  CHECK(p.has("force"));
  CHECK(p.get("limit") == "7");
  CHECK(p.get("name") == "z");
}

TEST_CASE("a double dash ends options and a lone dash is a positional", "[option_parser]") {
  auto p = ok({"-n", "x", "--", "-odd", "--weird"});
  CHECK(p.positionals == std::vector<std::string>{"-odd", "--weird"});
  CHECK(ok({"-n", "x", "-"}).positionals == std::vector<std::string>{"-"});
}

TEST_CASE("repeatable options accumulate and split at commas", "[option_parser]") {
  auto p = ok({"-n", "x", "--tags", "a,b", "--tags=c", "p"});
  CHECK(p.list("tags") == std::vector<std::string>{"a", "b", "c"});
  CHECK(p.list("force").empty());
}

TEST_CASE("clap-style usage errors", "[option_parser]") {
  CHECK(error({"p"}).rfind("error: the following required arguments were not provided: --name <NAME>\n\n"
                           "Usage: rstmdb-cli demo [OPTIONS] --name <NAME> <FIRST> [SECOND]\n\n"
                           "For more information, try 'rstmdb-cli demo --help'.\n",
                           0) == 0);
  CHECK(error({"-n", "x"}).find("not provided: <FIRST>") != std::string::npos);
  CHECK(error({"-n", "x", "a", "b", "c"}).find("unexpected argument 'c' found") != std::string::npos);
  CHECK(error({"-n", "x", "--frob", "a"}).find("unexpected argument '--frob' found") != std::string::npos);
  CHECK(error({"-n", "x", "-q", "a"}).find("unexpected argument '-q' found") != std::string::npos);
  CHECK(error({"-n", "x", "a", "--limit"}).find("a value is required for '--limit <N>'") !=
        std::string::npos);
  CHECK(error({"-n", "x", "-n", "y", "a"}).find("'--name <NAME>' cannot be used multiple times") !=
        std::string::npos);
  CHECK(error({"-n", "x", "--force=1", "a"}).find("'--force' takes no value") != std::string::npos);
}

TEST_CASE("help and --json", "[option_parser]") {
  CHECK(ok({"--help"}).help);
  CHECK(ok({"-fh"}).help);
  CHECK_FALSE(ok({"-n", "x", "a"}).json);
  CHECK(ok({"-n", "x", "a", "--json"}, ParseMode{.take_json = true}).json);
  CHECK(error({"-n", "x", "a", "--json"}).find("'--json'") != std::string::npos);  // not taken by default
  const std::string help = command_help(kSpec);
  CHECK(help.find("A demo command\n\nUsage: rstmdb-cli demo") == 0);
  CHECK(help.find("  -l, --limit <N>") != std::string::npos);
  CHECK(help.find("      --tags <TAGS>") != std::string::npos);
  CHECK(help.find("  <FIRST>") != std::string::npos);
}

TEST_CASE("stop_at_positional leaves the subcommand and its arguments", "[option_parser]") {
  const CommandSpec globals = {"", "", {{"verbose", 'v', "", ""}, {"server", 's', "ADDR", ""}}, {}};
  std::vector<std::string> args = {"-v", "-s", "h:1", "get", "-v", "3"};
  auto r = parse_options(globals, args, ParseMode{.stop_at_positional = true});
  REQUIRE(std::holds_alternative<ParsedArgs>(r));
  const auto& p = std::get<ParsedArgs>(r);
  CHECK(p.has("verbose"));
  CHECK(p.get("server") == "h:1");
  CHECK(p.consumed == 3);
  std::vector<std::string> dashdash = {"--", "ping"};
  auto d = parse_options(globals, dashdash, ParseMode{.stop_at_positional = true});
  CHECK(std::get<ParsedArgs>(d).consumed == 1);
  auto e = parse_options(globals, std::vector<std::string>{"--nope"}, ParseMode{.stop_at_positional = true});
  REQUIRE(std::holds_alternative<UsageError>(e));
  CHECK(std::get<UsageError>(e).message.find("Usage: rstmdb-cli [OPTIONS] [COMMAND]") != std::string::npos);
}

TEST_CASE("parse_integer is exact", "[option_parser]") {
  std::uint32_t v = 0;
  CHECK(parse_integer("42", v));
  CHECK(v == 42);
  CHECK_FALSE(parse_integer("", v));
  CHECK_FALSE(parse_integer("4x", v));
  CHECK_FALSE(parse_integer("-1", v));
  CHECK_FALSE(parse_integer("4294967296", v));
}
