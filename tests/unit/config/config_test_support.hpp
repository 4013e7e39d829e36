// Helpers shared by the config unit tests: a self-cleaning temp directory that writes files and message
// matchers.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"
#include "support/temp_dir.hpp"

namespace rstmdb::config::test {

// The config tests' directories (rstmdb::test::TempDir named rstmdb-config-test-*), with a
// helper that writes a file into one.
class TempDir : public rstmdb::test::TempDir {
 public:
  TempDir() : rstmdb::test::TempDir("rstmdb-config-test") {}

  // Writes `content` to `name` with `mode` and returns the full path.
  std::string write(const std::string& name, std::string_view content, mode_t mode = 0600) const {
    const auto file = path() / name;
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    ::chmod(file.c_str(), mode);
    return file.string();
  }
};

// True if one line of `lines` contains every fragment.
inline bool any_line_has(const std::vector<std::string>& lines,
                         std::initializer_list<std::string_view> fragments) {
  for (const auto& line : lines) {
    bool all = true;
    for (auto fragment : fragments) {
      if (line.find(fragment) == std::string::npos) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines)
    out += line + "\n";
  return out;
}

// Options for tests of the configuration forms: every optional feature counts as built, so a
// form that turns one on (tls.enabled: true) is judged on its own. features_test.cpp covers
// what this build refuses.
inline LoadOptions forms_options() {
  LoadOptions options;
  options.features = FeatureSet::all();
  return options;
}

// Loads `yaml` as if it were the file "/etc/rstmdb/config.yaml".
inline LoadResult load_yaml(std::string_view yaml, LoadOptions options = forms_options()) {
  return load_config_from_string(yaml, options, "/etc/rstmdb/config.yaml");
}

inline LoadResult load_env(std::map<std::string, std::string> env, bool strict = false) {
  LoadOptions options = forms_options();
  options.env = std::move(env);
  options.strict = strict;
  return load_config(options);
}

// Two well-formed digests (the second is SHA-256 of "test").
inline const std::string kHashA = "0f6ff0e1bdfd5f2ad1d04a1ba4fa8c2f6e7e8b3a1a7efb0e50e4ba6ff1b0b0d0";
inline const std::string kHashB = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

}  // namespace rstmdb::config::test
