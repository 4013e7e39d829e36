#include <catch2/catch.hpp>

#include "config/config_test_support.hpp"
#include "config/loader.hpp"
#include "config/secrets_file.hpp"

using namespace rstmdb::config;
using namespace rstmdb::config::test;

TEST_CASE("secrets text: hashes, labels, comments, blanks", "[config][secrets]") {
  std::string upper = kHashB;
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string text = "\xEF\xBB\xBF# tokens\r\n\r\n  " + kHashA + "  \r\n" + upper +
                           "\tci-deployer  \n" + kHashA + " # old token\n   # indented comment\n";
  const SecretsFile parsed = parse_secrets_text(text);
  CHECK(parsed.problems.empty());
  REQUIRE(parsed.entries.size() == 3);
  CHECK(parsed.entries[0].hash == kHashA);
  CHECK(parsed.entries[0].label.empty());
  CHECK(parsed.entries[0].line == 3);
  CHECK(parsed.entries[1].hash == kHashB);
  CHECK(parsed.entries[1].label == "ci-deployer");
  CHECK(parsed.entries[2].label.empty());
}

TEST_CASE("secrets text: malformed lines name their line", "[config][secrets]") {
  const SecretsFile parsed = parse_secrets_text(kHashA + "\nnot-a-hash label\n" + kHashA.substr(1) + "\n" +
                                                kHashB + " " + std::string(200, 'l') + "\n");
  REQUIRE(parsed.problems.size() == 3);
  CHECK(parsed.problems[0].line == 2);
  CHECK(parsed.problems[1].line == 3);
  CHECK(parsed.problems[2].line == 4);
  CHECK(parsed.entries.size() == 1);
  for (const auto& p : parsed.problems)
    CHECK(p.problem.find("not-a-hash") == std::string::npos);
}

TEST_CASE("secrets file loads through auth.secrets_file and its alias", "[config][secrets]") {
  TempDir dir;
  const std::string path = dir.write("tokens.secret", kHashB + " deployer\n" + kHashA + "\n", 0640);
  for (const char* key : {"secrets_file", "token_hashes_file"}) {
    const LoadResult r =
        load_yaml("auth:\n  required: true\n  token_hashes: [" + kHashA + "]\n  " + key + ": " + path + "\n");
    INFO(joined(r.errors) << joined(r.warnings));
    REQUIRE(r.ok());
    CHECK(r.warnings.empty());
    CHECK(r.config.auth.secrets_file == path);
    // Config hashes first, then the file's; the duplicate picks up the file's label (none here).
    CHECK(r.config.auth.token_hashes == std::vector<std::string>{kHashA, kHashB});
    CHECK(r.config.auth.token_labels == std::vector<std::string>{"", "deployer"});
    CHECK(r.sources.at("auth.token_hashes").find("file:" + path) != std::string::npos);
  }
}

TEST_CASE("secrets file problems", "[config][secrets]") {
  TempDir dir;
  LoadOptions options;

  options.env = {{"RSTMDB_AUTH_SECRETS_FILE", (dir.path() / "missing").string()}};
  LoadResult r = load_config(options);
  CHECK(any_line_has(r.errors,
                     {"auth.secrets_file (env RSTMDB_AUTH_SECRETS_FILE): cannot read", "No such file"}));

  const std::string bad = dir.write("bad.secret", "# header\n" + kHashA + "\nsupersecret-token\n", 0600);
  options.env = {{"RSTMDB_AUTH_SECRETS_FILE", bad}};
  r = load_config(options);
  CHECK(any_line_has(r.errors, {"auth.secrets_file (file:" + bad + ":3): expected a SHA-256 hash"}));
  for (const auto& e : r.errors)
    CHECK(e.find("supersecret") == std::string::npos);

  const std::string open = dir.write("open.secret", kHashA + "\n", 0644);
  options.env = {{"RSTMDB_AUTH_SECRETS_FILE", open}, {"RSTMDB_AUTH_REQUIRED", "1"}};
  r = load_config(options);
  CHECK(r.ok());
  CHECK(any_line_has(r.warnings, {"auth.secrets_file (env RSTMDB_AUTH_SECRETS_FILE): ",
                                  "readable by every user", "mode 0644", "0640"}));

  // A secrets file with only comments leaves auth.required without hashes.
  const std::string empty = dir.write("empty.secret", "# nothing yet\n", 0600);
  options.env = {{"RSTMDB_AUTH_SECRETS_FILE", empty}, {"RSTMDB_AUTH_REQUIRED", "1"}};
  r = load_config(options);
  CHECK(any_line_has(r.errors, {"auth.required (env RSTMDB_AUTH_REQUIRED): is true but no token hashes"}));
}
