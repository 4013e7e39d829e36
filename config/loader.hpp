// Loading and validating the server configuration (runtime.md §1).
//
// Precedence, lowest first: defaults < YAML file < environment < flags. Every problem is collected
// (loading never stops at the first one) as one full line
//   rstmdbd: config error: KEY (SOURCE): PROBLEM
// where SOURCE is "default", "file:PATH:LINE:COL", "env VAR" or "flag --bind"/"flag --set". A
// caller refuses to start (exit 78) when LoadResult::ok() is false. Nothing here throws, logs or
// exits; the functions are safe to call again for a reload.
//
// Token values never appear in messages: hashes are not echoed and --print only counts them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/features.hpp"

namespace rstmdb::config {

// One setting from the command line, in command-line order.
struct FlagSetting {
  FlagSetting() = default;
  FlagSetting(std::string key_, std::string value_, std::string flag_ = "--set")
      : key(std::move(key_)), value(std::move(value_)), flag(std::move(flag_)) {}
  // Also accepts a plain (key, value) pair, which counts as --set.
  FlagSetting(const std::pair<std::string, std::string>& kv) : FlagSetting(kv.first, kv.second) {}

  std::string key;             // canonical key or alias, e.g. "network.bind_addr"
  std::string value;           // --set values are read as YAML (scalars, [lists], {maps})
  std::string flag = "--set";  // spelling shown in messages: "--bind", "--data-dir", "--set", ...
};

struct LoadOptions {
  // -c/--config; when unset, env RSTMDB_CONFIG; when both are unset, no file is read.
  std::optional<std::string> config_path;
  // --bind → network.bind_addr, --data-dir → storage.data_dir, --metrics-bind → metrics.bind_addr,
  // --log-level → logging.level, --log-format → logging.format, --set KEY=VALUE → KEY.
  std::vector<FlagSetting> flags;
  // The process environment (see current_environment()); tests pass their own.
  std::map<std::string, std::string> env;
  // check-config --strict: unknown keys and RSTMDB_* variables are errors, not warnings.
  bool strict = false;
  // Read the files the configuration names (secrets file, TLS certificate/key/CA) and check them.
  // Only fuzzing turns this off.
  bool check_files = true;
  // The optional features the configuration may use (config/features.hpp): a key that turns on
  // a feature outside this set is an error, one that only tunes it a warning. Tests of the
  // configuration forms pass FeatureSet::all().
  FeatureSet features = FeatureSet::this_build();
};

struct LoadResult {
  Config config;
  std::vector<std::string> errors;    // "rstmdbd: config error: KEY (SOURCE): PROBLEM"
  std::vector<std::string> warnings;  // "rstmdbd: config warning: KEY (SOURCE): PROBLEM"
  // Every registered key → where its effective value came from: "default", "file:/p/c.yaml:3:5",
  // "env RSTMDB_X", "flag --bind", "flag --set". auth.token_hashes lists every contributing
  // source, comma-separated (including "secrets file:PATH").
  std::map<std::string, std::string> sources;
  bool ok() const { return errors.empty(); }
};

// Loads defaults, the file named by options.config_path or env RSTMDB_CONFIG, the environment and
// the flags, then validates the result. A missing, unreadable or malformed named file is an error;
// an empty file means defaults.
LoadResult load_config(const LoadOptions& options);

// As load_config, but the file's content is `yaml` (displayed as `display_path` in sources);
// options.config_path and RSTMDB_CONFIG are ignored. Used by the fuzzer and tests.
LoadResult load_config_from_string(std::string_view yaml, const LoadOptions& options,
                                   std::string_view display_path = "<string>");

// The process environment (from `environ`).
std::map<std::string, std::string> current_environment();

// Effective configuration as YAML for `check-config --print`: every key with its value and a
// "# source" comment. Token hashes are only counted (in a comment), so the output can be shared.
std::string render_effective_yaml(const LoadResult& result);

}  // namespace rstmdb::config
