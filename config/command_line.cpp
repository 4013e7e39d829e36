#include "config/command_line.hpp"

#include <algorithm>
#include <array>
#include <set>

#include "config/value_parsers.hpp"

namespace rstmdb::config {

namespace {

constexpr std::uint64_t kMaxKeep = 1'000'000;

struct SubcommandName {
  Subcommand subcommand;
  std::string_view name;
};
constexpr std::array<SubcommandName, 7> kSubcommands = {{{Subcommand::Serve, "serve"},
                                                         {Subcommand::CheckConfig, "check-config"},
                                                         {Subcommand::Backup, "backup"},
                                                         {Subcommand::VerifyBackup, "verify-backup"},
                                                         {Subcommand::Restore, "restore"},
                                                         {Subcommand::Reload, "reload"},
                                                         {Subcommand::Status, "status"}}};

// Options that map straight onto a configuration key.
struct KeyFlag {
  std::string_view flag;
  std::string_view key;
};
constexpr std::array<KeyFlag, 5> kKeyFlags = {{{"--bind", "network.bind_addr"},
                                               {"--data-dir", "storage.data_dir"},
                                               {"--metrics-bind", "metrics.bind_addr"},
                                               {"--log-level", "logging.level"},
                                               {"--log-format", "logging.format"}}};

// Options valid only with one subcommand, checked after parsing because options may precede it.
struct ScopedOption {
  std::string_view flag;
  Subcommand subcommand;
};
constexpr std::array<ScopedOption, 11> kScopedOptions = {{{"--strict", Subcommand::CheckConfig},
                                                          {"--print", Subcommand::CheckConfig},
                                                          {"--to", Subcommand::Backup},
                                                          {"--incremental", Subcommand::Backup},
                                                          {"--keep", Subcommand::Backup},
                                                          {"--label", Subcommand::Backup},
                                                          {"--quick", Subcommand::VerifyBackup},
                                                          {"--from", Subcommand::Restore},
                                                          {"--force", Subcommand::Restore},
                                                          {"--chown", Subcommand::Restore},
                                                          {"", Subcommand::Serve}}};

class Parser {
 public:
  explicit Parser(std::span<const std::string_view> args) : args_(args) {}

  CommandLine run() {
    bool have_subcommand = false;
    bool options_done = false;
    for (index_ = 0; index_ < args_.size() && cl_.ok(); ++index_) {
      const std::string_view arg = args_[index_];
      if (!options_done && arg == "--") {
        options_done = true;
        continue;
      }
      if (!options_done && arg.size() > 1 && arg.front() == '-') {
        option(arg);
        continue;
      }
      if (!have_subcommand && cl_.positional.empty()) {
        auto it = std::find_if(kSubcommands.begin(), kSubcommands.end(),
                               [&](const SubcommandName& s) { return s.name == arg; });
        if (it == kSubcommands.end()) {
          fail("unknown subcommand '" + std::string(arg) + "' (see --help)");
          break;
        }
        cl_.subcommand = it->subcommand;
        have_subcommand = true;
        continue;
      }
      cl_.positional.emplace_back(arg);
    }
    if (cl_.ok() && !cl_.help && !cl_.version) validate();
    return std::move(cl_);
  }

 private:
  void fail(std::string message) {
    if (cl_.ok()) cl_.error = std::move(message);
  }

  // The value of an option: "--opt=value" or the next argument. A following option ("--x") is
  // not taken as a value, so "--bind --data-dir d" reports the missing value; "-" alone is a
  // value (stdin/stdout for --to/--from).
  std::optional<std::string> value(std::string_view name, std::optional<std::string_view> inline_value) {
    if (inline_value) return std::string(*inline_value);
    if (index_ + 1 >= args_.size()) {
      fail(std::string(name) + " needs a value");
      return std::nullopt;
    }
    const std::string_view next = args_[index_ + 1];
    if (next.size() > 1 && next.front() == '-') {
      fail(std::string(name) + " needs a value");
      return std::nullopt;
    }
    ++index_;
    return std::string(next);
  }

  void set_once(std::optional<std::string>& target, std::string_view name, std::optional<std::string> v) {
    if (!v) return;
    if (target) {
      fail(std::string(name) + " given more than once");
      return;
    }
    target = std::move(v);
  }

  void option(std::string_view arg) {
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (arg.rfind("--", 0) == 0) {
      if (auto eq = arg.find('='); eq != std::string_view::npos) {
        name = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
      }
    }
    seen_.insert(std::string(name));
    auto no_value = [&]() {
      if (inline_value) fail(std::string(name) + " takes no value");
      return true;
    };

    if (name == "-h" || name == "--help") {
      cl_.help = no_value();
    } else if (name == "-V" || name == "--version") {
      cl_.version = no_value();
    } else if (name == "-c" || name == "--config") {
      set_once(cl_.config_path, "--config", value(name, inline_value));
    } else if (name == "--set") {
      auto v = value(name, inline_value);
      if (!v) return;
      const auto eq = v->find('=');
      if (eq == std::string::npos || trim(std::string_view(*v).substr(0, eq)).empty()) {
        fail("--set needs KEY=VALUE, got '" + *v + "'");
        return;
      }
      cl_.flags.emplace_back(std::string(trim(std::string_view(*v).substr(0, eq))), v->substr(eq + 1),
                             "--set");
    } else if (auto it = std::find_if(kKeyFlags.begin(), kKeyFlags.end(),
                                      [&](const KeyFlag& f) { return f.flag == name; });
               it != kKeyFlags.end()) {
      if (auto v = value(name, inline_value))
        cl_.flags.emplace_back(std::string(it->key), *v, std::string(name));
    } else if (name == "--strict") {
      cl_.strict = no_value();
    } else if (name == "--print") {
      cl_.print = no_value();
    } else if (name == "--to") {
      set_once(cl_.backup_to, name, value(name, inline_value));
    } else if (name == "--incremental") {
      cl_.incremental = no_value();
    } else if (name == "--keep") {
      auto v = value(name, inline_value);
      if (!v) return;
      auto n = parse_unsigned(*v);
      if (!n || *n < 1 || *n > kMaxKeep) {
        fail("--keep needs a number 1.." + std::to_string(kMaxKeep) + ", got '" + *v + "'");
        return;
      }
      cl_.keep = static_cast<std::uint32_t>(*n);
    } else if (name == "--label") {
      set_once(cl_.label, name, value(name, inline_value));
    } else if (name == "--quick") {
      cl_.quick = no_value();
    } else if (name == "--from") {
      set_once(cl_.restore_from, name, value(name, inline_value));
    } else if (name == "--force") {
      cl_.force = no_value();
    } else if (name == "--chown") {
      set_once(cl_.chown, name, value(name, inline_value));
    } else {
      fail("unknown option '" + std::string(name) + "' (see --help)");
    }
  }

  void validate() {
    for (const ScopedOption& scoped : kScopedOptions) {
      if (scoped.flag.empty() || seen_.count(std::string(scoped.flag)) == 0) continue;
      if (scoped.subcommand != cl_.subcommand) {
        fail(std::string(scoped.flag) + " is only valid with " +
             std::string(subcommand_name(scoped.subcommand)));
        return;
      }
    }
    const std::size_t wanted = cl_.subcommand == Subcommand::VerifyBackup ? 1 : 0;
    if (cl_.positional.size() > wanted) {
      fail("unexpected argument '" + cl_.positional[wanted] + "'");
      return;
    }
    if (cl_.positional.size() < wanted) {
      fail("verify-backup needs a PATH");
      return;
    }
    if (cl_.subcommand == Subcommand::Backup && !cl_.backup_to) fail("backup needs --to DIR|-");
    if (cl_.subcommand == Subcommand::Restore && !cl_.restore_from) fail("restore needs --from PATH|-");
  }

  std::span<const std::string_view> args_;
  std::size_t index_ = 0;
  CommandLine cl_;
  std::set<std::string> seen_;
};

}  // namespace

std::string_view subcommand_name(Subcommand subcommand) {
  for (const SubcommandName& s : kSubcommands) {
    if (s.subcommand == subcommand) return s.name;
  }
  return "serve";
}

CommandLine parse_command_line(std::span<const std::string_view> args) {
  return Parser(args).run();
}

CommandLine parse_command_line(int argc, const char* const* argv) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i)
    args.emplace_back(argv[i]);
  return parse_command_line(std::span<const std::string_view>(args));
}

std::string usage_text() {
  return R"(Usage:
  rstmdbd [serve] [OPTIONS]                       run the server (default)
  rstmdbd check-config [--strict] [--print] [OPTIONS]
                                                  validate the configuration and exit 0 or 78
  rstmdbd backup --to DIR|- [--incremental] [--keep N] [--label T] [OPTIONS]
  rstmdbd verify-backup PATH [--quick]
  rstmdbd restore --from PATH|- [--force] [--chown U[:G]] [OPTIONS]
  rstmdbd reload [OPTIONS]                        reload a running server (admin socket)
  rstmdbd status [OPTIONS]                        status of a running server as JSON

Options:
  -c, --config PATH       YAML configuration file (default: $RSTMDB_CONFIG, else none)
      --bind ADDR         network.bind_addr, host:port or [v6]:port
      --data-dir DIR      storage.data_dir
      --metrics-bind ADDR metrics.bind_addr
      --log-level L       logging.level: trace, debug, info, warn, error, critical, off
      --log-format F      logging.format: text or json
      --set KEY=VALUE     any configuration key, VALUE read as YAML (repeatable)
  -V, --version           print the version and exit
  -h, --help              print this help and exit

check-config:
      --strict            unknown keys and RSTMDB_* variables are errors
      --print             print the effective configuration with the source of each value

Precedence: defaults < configuration file < environment < options.
Exit codes: 0 ok, 1 runtime error, 64 usage, 65 bad data, 69 cannot bind, 73/77 cannot create /
permission denied, 74 storage I/O, 75 data directory locked, 78 bad configuration.
)";
}

}  // namespace rstmdb::config
