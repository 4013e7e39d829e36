#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config_test_support.hpp"
#include "config/keys.hpp"
#include "config/loader.hpp"

using namespace rstmdb::config;
using namespace rstmdb::config::test;

namespace {
// RSTMDB_SOURCE_DIR is the repository root (tests/CMakeLists.txt); __FILE__ may be relative.
const std::filesystem::path kSample =
    std::filesystem::path(RSTMDB_SOURCE_DIR) / "deploy" / "config" / "config.yaml";

}  // namespace

TEST_CASE("deploy/config/config.yaml loads strictly without warnings and holds the defaults",
          "[config][sample]") {
  REQUIRE(std::filesystem::exists(kSample));
  LoadOptions options;
  options.config_path = kSample.string();
  options.strict = true;
  const LoadResult r = load_config(options);
  INFO(joined(r.errors) << joined(r.warnings));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  CHECK(changed_keys(Config{}, r.config).empty());
}

namespace {

// The sample's convention: "#" directly followed by a setting (or by two spaces inside a
// commented block) marks a line to uncomment; "# " followed by text is prose.
std::string uncommented(const std::string& line) {
  const auto i = line.find_first_not_of(' ');
  if (i == std::string::npos || line[i] != '#' || i + 1 >= line.size()) return line;
  const bool setting = line[i + 1] != ' ' || line.compare(i + 1, 2, "  ") == 0;
  return setting ? line.substr(0, i) + line.substr(i + 1) : line;
}

std::string sample_text() {
  std::ifstream in(kSample);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

TEST_CASE("deploy/config/config.yaml sets or mentions every registered key", "[config][sample]") {
  // section.key for every setting line, commented out or not.
  std::set<std::string> mentioned;
  std::istringstream lines(sample_text());
  std::string line;
  std::string section;
  while (std::getline(lines, line)) {
    line = uncommented(line);
    if (line.empty() || line[0] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (line[0] != ' ') {
      section = line.substr(0, colon);
    } else if (line.find_first_not_of(' ') != line.find('#')) {
      mentioned.insert(section + "." +
                       line.substr(line.find_first_not_of(' '), colon - line.find_first_not_of(' ')));
    }
  }
  for (const KeyInfo& key : registered_keys()) {
    INFO(key.key);
    CHECK(mentioned.count(std::string(key.key)) == 1);
  }
  CHECK(mentioned.size() == registered_keys().size());
}

TEST_CASE("the sample's commented auth and TLS blocks load once uncommented", "[config][sample]") {
  std::istringstream lines(sample_text());
  std::string line;
  std::string text;
  while (std::getline(lines, line))
    text += uncommented(line) + "\n";
  REQUIRE(text.find("\nauth:\n") != std::string::npos);
  REQUIRE(text.find("\ntls:\n") != std::string::npos);
  LoadOptions options = forms_options();
  options.check_files = false;  // the sample's paths point into /etc/rstmdb
  options.strict = true;
  const LoadResult r = load_config_from_string(text, options, "uncommented");
  INFO(text << joined(r.errors) << joined(r.warnings));
  CHECK(r.ok());
  CHECK(r.warnings.empty());
  CHECK(r.config.auth.required);
  CHECK(r.config.tls.enabled);
  CHECK(r.config.admin.socket_path == "/var/lib/rstmdb/admin.sock");
}
