// libFuzzer target for the YAML configuration loader: any input must yield errors/warnings, never a
// crash, hang or sanitizer report. It also checks that --print output loads back to the same
// configuration, since operators feed it to check-config.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/keys.hpp"
#include "config/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  rstmdb::config::LoadOptions options;
  options.check_files = false;  // the input may name any path, e.g. /dev/zero
  const auto result = rstmdb::config::load_config_from_string(yaml, options, "fuzz.yaml");
  const std::string printed = rstmdb::config::render_effective_yaml(result);
  if (!result.ok() || result.config.auth.required) return 0;  // hashes are not printed

  const auto again = rstmdb::config::load_config_from_string(printed, options, "printed.yaml");
  if (!again.ok()) __builtin_trap();
  for (const auto& key : rstmdb::config::changed_keys(result.config, again.config)) {
    if (key != "auth.token_hashes") __builtin_trap();
  }
  return 0;
}
