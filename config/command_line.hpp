// rstmdbd's command line (runtime.md §2.1). Parsing only: no I/O, no exit. A usage error fills
// CommandLine::error and the caller exits 64; --help/--version set flags for the caller to act on.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"

namespace rstmdb::config {

enum class Subcommand { Serve, CheckConfig, Backup, VerifyBackup, Restore, Reload, Status };

std::string_view subcommand_name(Subcommand subcommand);

struct CommandLine {
  Subcommand subcommand = Subcommand::Serve;

  // Ready for LoadOptions: options.config_path = config_path; options.flags = flags.
  std::optional<std::string> config_path;  // -c/--config
  std::vector<FlagSetting> flags;          // --bind, --data-dir, --metrics-bind, --log-level,
                                           // --log-format, --set (in command-line order)
  bool help = false;                       // -h/--help
  bool version = false;                    // -V/--version

  // check-config
  bool strict = false;  // --strict
  bool print = false;   // --print

  // backup
  std::optional<std::string> backup_to;  // --to DIR|-
  bool incremental = false;              // --incremental
  std::optional<std::uint32_t> keep;     // --keep N (N >= 1)
  std::optional<std::string> label;      // --label T

  // verify-backup PATH [--quick]
  bool quick = false;

  // restore
  std::optional<std::string> restore_from;  // --from PATH|-
  bool force = false;                       // --force
  std::optional<std::string> chown;         // --chown U[:G]

  // Positional arguments after the subcommand (verify-backup's PATH).
  std::vector<std::string> positional;

  // Non-empty on a usage error: one line without the "rstmdbd: " prefix.
  std::string error;
  bool ok() const { return error.empty(); }
};

// Parses argv without argv[0]. Options may come before or after the subcommand; "--opt=value" and
// "--opt value" are both accepted; "--" ends option parsing. Parsing stops at the first error.
CommandLine parse_command_line(std::span<const std::string_view> args);
CommandLine parse_command_line(int argc, const char* const* argv);

// The --help text (ends with a newline).
std::string usage_text();

}  // namespace rstmdb::config
