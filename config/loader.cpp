#include "config/loader.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <sstream>

#include "config/keys.hpp"
#include "config/secrets_file.hpp"
#include "config/value_parsers.hpp"

extern char** environ;

namespace rstmdb::config {

namespace {

// Generous caps: they only exist so a path like /dev/zero cannot make loading hang or exhaust memory.
constexpr std::size_t kMaxConfigFileBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxSecretsFileBytes = 1024 * 1024;
constexpr std::size_t kMaxPemFileBytes = 1024 * 1024;
// sockaddr_un::sun_path is 108 bytes including the terminating NUL.
constexpr std::size_t kMaxSocketPathBytes = 107;
// Longer values are cut in messages so one bad value cannot flood the journal.
constexpr std::size_t kMaxShownValueBytes = 80;
constexpr int kCertExpiryWarningDays = 14;
// Column where --print puts the "# source" comments.
constexpr std::size_t kCommentColumn = 46;

constexpr std::string_view kErrorPrefix = "rstmdbd: config error: ";
constexpr std::string_view kWarningPrefix = "rstmdbd: config warning: ";

const std::set<std::string_view> kSections = {"network", "auth",    "storage", "compaction", "tls",
                                              "metrics", "logging", "watch",   "admin"};

// RSTMDB_* variables that belong to someone else (the loader's own RSTMDB_CONFIG and the CLI's),
// so seeing them in rstmdbd's environment is normal.
const std::set<std::string_view> kOtherKnownEnv = {
    "RSTMDB_CONFIG",  "RSTMDB_SERVER",      "RSTMDB_TOKEN",      "RSTMDB_TLS",
    "RSTMDB_CA_CERT", "RSTMDB_CLIENT_CERT", "RSTMDB_CLIENT_KEY", "RSTMDB_INSECURE"};
constexpr std::string_view kReplicationEnvPrefix = "RSTMDB_REPL_";
constexpr std::string_view kReplicationRoleEnv = "RSTMDB_REPL_ROLE";

std::string shown(std::string_view value) {
  if (value.size() <= kMaxShownValueBytes) return double_quoted(value);
  return double_quoted(value.substr(0, kMaxShownValueBytes)) + "...";
}

std::string file_source(std::string_view path, const YAML::Mark& mark) {
  std::string out = "file:" + std::string(path);
  if (mark.line >= 0 && mark.column >= 0) {
    out += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  return out;
}

// "-?[0-9]+": an integer, whether or not it fits the key's range.
bool is_integer_text(std::string_view text) {
  if (!text.empty() && text.front() == '-') text.remove_prefix(1);
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string node_kind_name(const YAML::Node& node) {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a sequence";
  if (node.IsNull()) return "null";
  return "a scalar";
}

// Reads at most `cap` bytes; larger files, directories and unreadable files fail with a reason.
std::optional<std::string> read_small_file(const std::string& path, std::size_t cap, std::string* problem) {
  errno = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    *problem = std::strerror(errno);
    return std::nullopt;
  }
  std::string content;
  char buffer[16384];
  while (true) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get());
    content.append(buffer, n);
    if (content.size() > cap) {
      *problem = "larger than " + std::to_string(cap) + " bytes";
      return std::nullopt;
    }
    if (n < sizeof buffer) break;
  }
  if (std::ferror(file.get())) {
    *problem = errno != 0 ? std::strerror(errno) : "read error";
    return std::nullopt;
  }
  return content;
}

// Accepts every parser event and keeps nothing; used to count documents.
class IgnoreEvents final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}
};

struct ParsedYaml {
  std::size_t documents = 0;  // 0, 1, or 2 meaning "more than one"
  YAML::Node root;            // the document when there is exactly one
};

// yaml-cpp 0.7's LoadAll never returns when a stray ',' follows a block node (the parser keeps
// reporting empty documents; found by fuzzing), so documents are counted with a cap and only a
// single document is built. Throws YAML::Exception on malformed input.
ParsedYaml parse_yaml(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  IgnoreEvents ignore;
  ParsedYaml out;
  while (out.documents < 2 && parser.HandleNextDocument(ignore))
    ++out.documents;
  if (out.documents == 1) out.root = YAML::Load(text);
  return out;
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// Encrypted keys are not supported; without this callback OpenSSL would prompt on the terminal.
int refuse_passphrase(char*, int, int, void*) {
  return 0;
}

// The first queued OpenSSL error is the most specific one ("no start line" rather than "PEM lib").
std::string take_openssl_error(unsigned long* code = nullptr) {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (code != nullptr) *code = first;
  if (first == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(first);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

SslCtxPtr new_server_ctx() {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx) SSL_CTX_set_default_passwd_cb(ctx.get(), refuse_passphrase);
  return ctx;
}

// One value from one source: a YAML node (file, --set) or plain text (environment, --bind, ...).
struct Input {
  std::string source;
  const YAML::Node* node = nullptr;
  std::string_view text;
};

class Loader {
 public:
  Loader(const LoadOptions& options, LoadResult& result)
      : options_(options), result_(result), config_(result.config) {
    for (const KeyInfo& key : registered_keys())
      result_.sources[std::string(key.key)] = "default";
  }

  void load_file(const std::string& path, const std::string& path_source) {
    config_.config_file = path;
    if (path.empty()) {
      error("config file", path_source, "path is empty");
      return;
    }
    std::string problem;
    auto text = read_small_file(path, kMaxConfigFileBytes, &problem);
    if (!text) {
      error("config file", path_source, "cannot read " + double_quoted(path) + ": " + problem);
      return;
    }
    load_text(*text, path);
  }

  void load_text(std::string_view text, std::string_view path) {
    ParsedYaml parsed;
    try {
      parsed = parse_yaml(std::string(text));
    } catch (const YAML::ParserException& e) {
      error("config file", file_source(path, e.mark), "invalid YAML: " + e.msg);
      return;
    } catch (const YAML::Exception& e) {
      error("config file", file_source(path, e.mark), std::string("invalid YAML: ") + e.what());
      return;
    }
    if (parsed.documents == 0) return;  // empty file or only comments: defaults
    if (parsed.documents > 1) {
      error("config file", "file:" + std::string(path),
            "contains more than one YAML document (a \"---\" line, or stray text after the first)");
      return;
    }
    try {
      apply_document(parsed.root, path);
    } catch (const YAML::Exception& e) {
      // yaml-cpp throws on malformed node access; everything above checks types first, so this is
      // a last line of defence rather than an expected path.
      error("config file", file_source(path, e.mark), std::string("cannot read YAML: ") + e.what());
    }
  }

  void apply_environment() {
    const auto& env = options_.env;
    auto value_of = [&](std::string_view name) -> std::optional<std::string_view> {
      auto it = env.find(std::string(name));
      if (it == env.end() || trim(it->second).empty()) return std::nullopt;  // empty = unset
      return std::string_view(it->second);
    };

    std::set<std::string_view> own;
    for (const KeyInfo& key : registered_keys()) {
      if (key.env.empty()) continue;
      own.insert(key.env);
      if (auto value = value_of(key.env)) {
        assign(key, Input{"env " + std::string(key.env), nullptr, *value});
      }
    }

    if (!value_of("RSTMDB_LOG_LEVEL")) {
      if (auto rust_log = value_of("RUST_LOG")) {
        std::string problem;
        auto level = log_level_from_rust_log(*rust_log, &problem);
        if (!problem.empty()) {
          warn("logging.level", "env RUST_LOG", problem + "; RUST_LOG ignored, got " + shown(*rust_log));
        } else if (level) {
          config_.logging.level = *level;
          result_.sources["logging.level"] = "env RUST_LOG";
        }
      }
    }

    if (auto role = value_of(kReplicationRoleEnv)) {
      check_replication_role(*role, "env " + std::string(kReplicationRoleEnv));
    }

    for (const auto& [name, value] : env) {
      if (name.rfind("RSTMDB_", 0) != 0) continue;
      if (own.count(name) != 0 || kOtherKnownEnv.count(name) != 0) continue;
      if (name.rfind(kReplicationEnvPrefix, 0) == 0) continue;
      unknown(name, "env", "unknown variable");
    }
  }

  void apply_flags() {
    for (const FlagSetting& flag : options_.flags) {
      try {
        apply_flag(flag);
      } catch (const YAML::Exception& e) {
        // As in load_text: types are checked before access, so this is only a safety net.
        error(flag.key, "flag " + flag.flag, std::string("cannot read value: ") + e.what());
      }
    }
  }

  void apply_flag(const FlagSetting& flag) {
    const std::string source = "flag " + flag.flag;
    const KeyInfo* key = find_key(flag.key);
    if (key == nullptr) {
      // A typo on the command line is never a leftover from another version: always an error.
      error(flag.key, source, "unknown key");
      return;
    }
    if (trim(flag.value).empty()) {
      error(key->key, source, "needs a value");
      return;
    }
    if (flag.flag != "--set") {
      assign(*key, Input{source, nullptr, flag.value});
      return;
    }
    // --set values are YAML so lists and the {every_n: N} form can be given; text that is not a
    // single YAML value (e.g. "[::1]:7401") is taken literally.
    ParsedYaml parsed;
    try {
      parsed = parse_yaml(flag.value);
    } catch (const YAML::Exception&) {
      parsed = {};  // not YAML: the literal text is used below
    }
    const bool structured = key->kind == ValueKind::TokenHashes || key->kind == ValueKind::FsyncPolicy;
    if (parsed.documents == 1 && parsed.root.IsNull()) {
      error(key->key, source, "needs a value");
    } else if (parsed.documents == 1 && (parsed.root.IsScalar() || structured)) {
      assign(*key, Input{source, &parsed.root, {}});
    } else {
      assign(*key, Input{source, nullptr, flag.value});
    }
  }

  void finish() {
    load_secrets_file();
    collect_token_hashes();
    check_auth();
    check_tls();
    check_admin_socket();
    check_addresses();
    check_features();
  }

 private:
  // Keys come from user input (YAML keys, --set); a control character must not split the line.
  static std::string printable(std::string_view key) {
    const bool plain = std::none_of(key.begin(), key.end(),
                                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
    return plain ? std::string(key) : double_quoted(key);
  }
  void error(std::string_view key, std::string_view source, std::string_view problem) {
    result_.errors.push_back(std::string(kErrorPrefix) + printable(key) + " (" + printable(source) +
                             "): " + std::string(problem));
  }
  void warn(std::string_view key, std::string_view source, std::string_view problem) {
    result_.warnings.push_back(std::string(kWarningPrefix) + printable(key) + " (" + printable(source) +
                               "): " + std::string(problem));
  }
  // Unknown keys and variables are warnings so configs stay forward compatible, unless --strict.
  void unknown(std::string_view key, std::string_view source, std::string_view what) {
    if (options_.strict) {
      error(key, source, what);
    } else {
      warn(key, source, std::string(what) + ", ignored");
    }
  }

  const std::string& source_of(std::string_view key) { return result_.sources[std::string(key)]; }
  // For messages about a value that is missing: "default" would suggest it has one.
  std::string source_or_unset(std::string_view key) {
    const std::string& s = source_of(key);
    return s == "default" ? std::string("not set") : s;
  }

  // Map keys must be scalars and unique; returns the key text, or nullopt after reporting.
  std::optional<std::string> map_key(const YAML::Node& key, std::map<std::string, YAML::Mark>& seen,
                                     std::string_view prefix, std::string_view path) {
    if (!key.IsScalar()) {
      error(std::string(prefix) + "<key>", file_source(path, key.Mark()), "keys must be plain strings");
      return std::nullopt;
    }
    const std::string name = key.Scalar();
    auto [it, inserted] = seen.emplace(name, key.Mark());
    if (!inserted) {
      error(std::string(prefix) + name, file_source(path, key.Mark()),
            "duplicate key (first at line " + std::to_string(it->second.line + 1) + ", column " +
                std::to_string(it->second.column + 1) + ")");
      return std::nullopt;
    }
    return name;
  }

  void apply_document(const YAML::Node& root, std::string_view path) {
    if (root.IsNull()) return;
    if (!root.IsMap()) {
      error("config file", file_source(path, root.Mark()),
            "must be a mapping of sections (network:, storage:, ...), got " + node_kind_name(root));
      return;
    }
    std::map<std::string, YAML::Mark> sections_seen;
    // Canonical key → (spelling, source) of its first non-null occurrence, to catch alias pairs.
    std::map<std::string, std::pair<std::string, std::string>> keys_seen;
    // yaml-cpp iterators yield temporaries: keep copies of the (cheap, handle-like) nodes.
    for (const auto& section : root) {
      const YAML::Node name_node = section.first;
      const YAML::Node body = section.second;
      auto name = map_key(name_node, sections_seen, "", path);
      if (!name) continue;
      const std::string key_source = file_source(path, name_node.Mark());
      const bool known = kSections.count(*name) != 0;
      if (!known && *name != "http" && *name != "replication") {
        unknown(*name, key_source, "unknown section");
        continue;
      }
      if (body.IsNull()) continue;
      if (!body.IsMap()) {
        error(*name, file_source(path, body.Mark()), "must be a mapping, got " + node_kind_name(body));
        continue;
      }
      // http: belongs to a future gateway; its content is not ours to judge.
      if (*name == "http") continue;

      std::map<std::string, YAML::Mark> keys_in_section;
      for (const auto& entry : body) {
        const YAML::Node key_node = entry.first;
        const YAML::Node value = entry.second;
        auto key_name = map_key(key_node, keys_in_section, *name + ".", path);
        if (!key_name) continue;
        const std::string full = *name + "." + *key_name;
        const std::string value_source = file_source(path, value.IsNull() ? key_node.Mark() : value.Mark());
        if (*name == "replication") {
          // Only the role matters: any other replication setting is moot while standalone.
          if (*key_name == "role") {
            if (!value.IsScalar()) {
              error(full, value_source, "must be \"standalone\", got " + node_kind_name(value));
            } else {
              check_replication_role(value.Scalar(), value_source);
            }
          }
          continue;
        }
        const KeyInfo* key = find_key(full);
        if (key == nullptr) {
          unknown(full, file_source(path, key_node.Mark()), "unknown key");
          continue;
        }
        if (value.IsNull()) continue;
        auto [seen, inserted] = keys_seen.emplace(std::string(key->key), std::make_pair(full, value_source));
        if (!inserted && seen->second.first != full) {
          error(full, value_source,
                "conflicts with " + seen->second.first + " (" + seen->second.second +
                    "); set only one of them");
          continue;
        }
        assign(*key, Input{value_source, &value, {}});
      }
    }
  }

  void check_replication_role(std::string_view role, const std::string& source) {
    if (to_lower(trim(role)) != "standalone") {
      error("replication.role", source,
            "must be \"standalone\" (this server does not replicate), got " + shown(role));
    }
  }

  template <class T>
  T& field(const KeyInfo& key) {
    return std::get<T& (*)(Config&)>(key.field)(config_);
  }

  static std::string range_text(const KeyInfo& key) {
    std::string range = std::to_string(key.min) + ".." + std::to_string(key.max);
    return key.minus_one_allowed ? "-1 (unlimited) or " + range : range;
  }

  static std::string choices_text(const KeyInfo& key) {
    std::string out;
    for (const auto& [spelling, value] : key.choices) {
      if (spelling != value) continue;
      if (!out.empty()) out += ", ";
      out += value;
    }
    return out;
  }

  // Applies one value; returns false if it was unset (null) or invalid (after reporting).
  bool assign(const KeyInfo& key, const Input& in) {
    if (key.kind == ValueKind::TokenHashes) return assign_token_hashes(in);
    if (key.kind == ValueKind::FsyncPolicy && in.node != nullptr && assign_fsync_structured(key, in))
      return true;

    std::string_view text = in.text;
    if (in.node != nullptr) {
      const YAML::Node& node = *in.node;
      if (node.IsNull()) return false;
      if (!node.IsScalar()) {
        error(key.key, in.source, "must be a single value, got " + node_kind_name(node));
        return false;
      }
      text = node.Scalar();
    }
    const std::string_view value = trim(text);

    switch (key.kind) {
      case ValueKind::Bool: {
        auto parsed = parse_bool(value);
        if (!parsed) {
          error(key.key, in.source, "must be true or false (also yes/no, on/off, 1/0), got " + shown(text));
          return false;
        }
        field<bool>(key) = *parsed;
        break;
      }
      case ValueKind::Unsigned: {
        if (!is_integer_text(value)) {
          error(key.key, in.source, "must be an integer in " + range_text(key) + ", got " + shown(text));
          return false;
        }
        auto parsed = parse_unsigned(value);  // nullopt for negatives and overflow: out of range
        if (!parsed || *parsed < static_cast<std::uint64_t>(key.min) || *parsed > key.max) {
          error(key.key, in.source, "must be " + range_text(key) + ", got " + shown(text));
          return false;
        }
        if (std::holds_alternative<std::uint32_t& (*)(Config&)>(key.field)) {
          field<std::uint32_t>(key) = static_cast<std::uint32_t>(*parsed);
        } else {
          field<std::uint64_t>(key) = *parsed;
        }
        break;
      }
      case ValueKind::Signed: {
        if (!is_integer_text(value)) {
          error(key.key, in.source, "must be an integer, " + range_text(key) + ", got " + shown(text));
          return false;
        }
        auto parsed = parse_signed(value);
        const bool in_range =
            parsed &&
            ((key.minus_one_allowed && *parsed == -1) ||
             (*parsed >= key.min && *parsed >= 0 && static_cast<std::uint64_t>(*parsed) <= key.max));
        if (!in_range) {
          error(key.key, in.source, "must be " + range_text(key) + ", got " + shown(text));
          return false;
        }
        field<std::int32_t>(key) = static_cast<std::int32_t>(*parsed);
        break;
      }
      case ValueKind::Address: {
        std::string problem;
        if (!parse_host_port(value, &problem)) {
          error(key.key, in.source, problem + ", got " + shown(text));
          return false;
        }
        field<std::string>(key) = std::string(value);
        break;
      }
      case ValueKind::Path:
      case ValueKind::OptionalPath:
      case ValueKind::Text: {
        if (value.empty()) {
          error(key.key, in.source, "must not be empty");
          return false;
        }
        if (value.find('\0') != std::string_view::npos) {
          error(key.key, in.source, "must not contain NUL bytes");
          return false;
        }
        if (key.kind == ValueKind::OptionalPath) {
          field<std::optional<std::string>>(key) = std::string(value);
        } else {
          field<std::string>(key) = std::string(value);
        }
        break;
      }
      case ValueKind::Choice: {
        const std::string lowered = to_lower(value);
        auto it = std::find_if(key.choices.begin(), key.choices.end(),
                               [&](const auto& choice) { return choice.first == lowered; });
        if (it == key.choices.end()) {
          error(key.key, in.source, "must be one of " + choices_text(key) + "; got " + shown(text));
          return false;
        }
        field<std::string>(key) = std::string(it->second);
        break;
      }
      case ValueKind::FsyncPolicy: {
        std::string problem;
        auto policy = parse_fsync_policy(value, &problem);
        if (!policy) {
          error(key.key, in.source, fsync_problem(problem) + ", got " + shown(text));
          return false;
        }
        field<FsyncPolicy>(key) = *policy;
        break;
      }
      case ValueKind::TokenHashes:
        break;  // handled above
    }
    result_.sources[std::string(key.key)] = in.source;
    return true;
  }

  static std::string fsync_problem(const std::string& problem) {
    if (problem == "unknown fsync policy") {
      return "must be every_write, never, every_n:N (N 1.." + std::to_string(kMaxFsyncEveryN) +
             ") or every_ms:N (N 1.." + std::to_string(kMaxFsyncEveryMs) + ")";
    }
    return problem;
  }

  // {every_n: N}, {every_ms: N} and serde_yaml's tagged "!every_n N". Returns false when the node
  // is a plain scalar, which the caller parses as text.
  bool assign_fsync_structured(const KeyInfo& key, const Input& in) {
    const YAML::Node& node = *in.node;
    std::string kind;
    std::string number;
    if (node.IsScalar() && (node.Tag() == "!every_n" || node.Tag() == "!every_ms")) {
      kind = node.Tag().substr(1);
      number = node.Scalar();
    } else if (node.IsMap()) {
      YAML::Node value;
      if (node.size() == 1) {
        const auto entry = *node.begin();
        if (entry.first.IsScalar()) kind = entry.first.Scalar();
        value = entry.second;
      }
      if (kind.empty() || !value.IsScalar()) {
        error(key.key, in.source, "must be every_write, never, {every_n: N} or {every_ms: N}");
        return true;  // reported
      }
      number = value.Scalar();
    } else {
      return false;
    }
    std::string problem;
    auto policy = make_fsync_policy(kind, number, &problem);
    if (!policy) {
      error(key.key, in.source, fsync_problem(problem) + ", got " + shown(kind + ": " + number));
      return true;
    }
    field<FsyncPolicy>(key) = *policy;
    result_.sources[std::string(key.key)] = in.source;
    return true;
  }

  // Every source adds hashes (runtime.md §1.1: RSTMDB_AUTH_TOKEN_HASH "adds"); none replaces them.
  bool assign_token_hashes(const Input& in) {
    std::vector<std::pair<std::string, std::string>> items;  // (text, source)
    auto split_commas = [&](std::string_view text, const std::string& source) {
      std::size_t start = 0;
      while (start <= text.size()) {
        std::size_t end = text.find(',', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view item = trim(text.substr(start, end - start));
        if (!item.empty()) items.emplace_back(std::string(item), source);
        start = end + 1;
      }
    };
    if (in.node == nullptr) {
      split_commas(in.text, in.source);
    } else if (in.node->IsNull()) {
      return false;
    } else if (in.node->IsScalar()) {
      split_commas(in.node->Scalar(), in.source);
    } else if (in.node->IsSequence()) {
      const bool from_file = in.source.rfind("file:", 0) == 0;
      for (const auto& item : *in.node) {
        // Point at the entry itself when it comes from a file.
        std::string source = in.source;
        if (from_file) source = file_source(config_.config_file.value_or(""), item.Mark());
        if (!item.IsScalar()) {
          error("auth.token_hashes", source, "entries must be strings, got " + node_kind_name(item));
          continue;
        }
        split_commas(item.Scalar(), source);
      }
    } else {
      error("auth.token_hashes", in.source,
            "must be a list of SHA-256 hashes, got " + node_kind_name(*in.node));
      return false;
    }
    bool any = false;
    for (const auto& [text, source] : items) {
      auto hash = normalize_token_hash(text);
      if (!hash) {
        // Never echo the value: it may be a raw token pasted instead of its hash.
        error("auth.token_hashes", source,
              "must be a SHA-256 hash (64 hex digits, see rstmdb-cli hash-token), got " +
                  std::to_string(text.size()) + " characters");
        continue;
      }
      add_hash(*hash, "", in.source);
      any = true;
    }
    return any;
  }

  void add_hash(const std::string& hash, const std::string& label, const std::string& source) {
    hashes_.emplace_back(hash, label);
    if (std::find(hash_sources_.begin(), hash_sources_.end(), source) == hash_sources_.end()) {
      hash_sources_.push_back(source);
    }
  }

  void load_secrets_file() {
    if (!config_.auth.secrets_file || !options_.check_files) return;
    const std::string& path = *config_.auth.secrets_file;
    const std::string source = source_of("auth.secrets_file");
    std::string problem;
    auto text = read_small_file(path, kMaxSecretsFileBytes, &problem);
    if (!text) {
      error("auth.secrets_file", source, "cannot read " + double_quoted(path) + ": " + problem);
      return;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      warn("auth.secrets_file", source,
           double_quoted(path) + " is readable by every user (mode " + mode +
               "); use owner root:rstmdb, mode 0640");
    }
    const SecretsFile parsed = parse_secrets_text(*text);
    for (const SecretsProblem& p : parsed.problems) {
      error("auth.secrets_file", "file:" + path + ":" + std::to_string(p.line), p.problem);
    }
    for (const SecretsEntry& entry : parsed.entries)
      add_hash(entry.hash, entry.label, "file:" + path);
  }

  void collect_token_hashes() {
    auto& hashes = config_.auth.token_hashes;
    auto& labels = config_.auth.token_labels;
    hashes.clear();
    labels.clear();
    for (const auto& [hash, label] : hashes_) {
      auto it = std::find(hashes.begin(), hashes.end(), hash);
      if (it == hashes.end()) {
        hashes.push_back(hash);
        labels.push_back(label);
      } else if (labels[it - hashes.begin()].empty()) {
        labels[it - hashes.begin()] = label;  // a later labelled duplicate names the principal
      }
    }
    if (!hash_sources_.empty()) {
      std::string joined;
      for (const auto& s : hash_sources_)
        joined += (joined.empty() ? "" : ", ") + s;
      result_.sources["auth.token_hashes"] = joined;
    }
  }

  void check_auth() {
    if (!config_.auth.required || !config_.auth.token_hashes.empty()) return;
    // Without reading the secrets file we cannot know; the fuzzer is the only such caller.
    if (config_.auth.secrets_file && !options_.check_files) return;
    error("auth.required", source_of("auth.required"),
          "is true but no token hashes are configured (auth.token_hashes, RSTMDB_AUTH_TOKEN_HASH or "
          "auth.secrets_file)");
  }

  void check_tls() {
    const TlsConfig& tls = config_.tls;
    if (tls.require_client_cert && !tls.client_ca_path) {
      error("tls.client_ca_path", "not set",
            "required when tls.require_client_cert is true (" + source_of("tls.require_client_cert") + ")");
    }
    if (tls.enabled) {
      if (!tls.cert_path) {
        error("tls.cert_path", "not set",
              "required when tls.enabled is true (" + source_of("tls.enabled") + ")");
      }
      if (!tls.key_path) {
        error("tls.key_path", "not set",
              "required when tls.enabled is true (" + source_of("tls.enabled") + ")");
      }
    }

    SslCtxPtr ctx = new_server_ctx();
    if (!ctx) {
      error("tls", "openssl", "cannot create an OpenSSL context: " + take_openssl_error());
      return;
    }
    if (SSL_CTX_set_cipher_list(ctx.get(), tls.cipher_list.c_str()) != 1) {
      error("tls.cipher_list", source_of("tls.cipher_list"),
            "OpenSSL accepts none of these ciphers (" + take_openssl_error() + "), got " +
                shown(tls.cipher_list));
    }
    if (SSL_CTX_set_ciphersuites(ctx.get(), tls.ciphersuites.c_str()) != 1) {
      error("tls.ciphersuites", source_of("tls.ciphersuites"),
            "not a valid TLS 1.3 suite list (" + take_openssl_error() + "), got " + shown(tls.ciphersuites));
    }

    if (!tls.enabled || !options_.check_files) return;
    check_certificate_and_key(ctx.get());
    if (tls.require_client_cert && tls.client_ca_path) check_client_ca(ctx.get());
  }

  bool readable_pem(std::string_view key, const std::string& path) {
    std::string problem;
    if (!read_small_file(path, kMaxPemFileBytes, &problem)) {
      error(key, source_of(key), "cannot read " + double_quoted(path) + ": " + problem);
      return false;
    }
    return true;
  }

  // The certificate and the key are each checked when set (a missing one is reported by
  // check_tls), and matched against each other when both load.
  void check_certificate_and_key(SSL_CTX* ctx) {
    bool cert_loaded = false;
    if (config_.tls.cert_path && readable_pem("tls.cert_path", *config_.tls.cert_path)) {
      const std::string& cert = *config_.tls.cert_path;
      ERR_clear_error();
      if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
        error(
            "tls.cert_path", source_of("tls.cert_path"),
            "cannot load a PEM certificate chain from " + double_quoted(cert) + ": " + take_openssl_error());
      } else {
        cert_loaded = true;
        check_expiry(SSL_CTX_get0_certificate(ctx), cert);
        check_names(SSL_CTX_get0_certificate(ctx), cert);
      }
    }
    if (!config_.tls.key_path || !readable_pem("tls.key_path", *config_.tls.key_path)) return;
    const std::string& key = *config_.tls.key_path;
    ERR_clear_error();
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      unsigned long code = 0;
      const std::string reason = take_openssl_error(&code);
      if (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH) {
        error("tls.key_path", source_of("tls.key_path"),
              "private key does not match the certificate in tls.cert_path (" + source_of("tls.cert_path") +
                  ")");
      } else {
        error("tls.key_path", source_of("tls.key_path"),
              "cannot load an unencrypted PEM private key from " + double_quoted(key) + ": " + reason);
      }
      return;
    }
    if (cert_loaded && SSL_CTX_check_private_key(ctx) != 1) {
      take_openssl_error();
      error(
          "tls.key_path", source_of("tls.key_path"),
          "private key does not match the certificate in tls.cert_path (" + source_of("tls.cert_path") + ")");
    }
  }

  void check_expiry(X509* certificate, const std::string& path) {
    if (certificate == nullptr) return;
    int days = 0;
    int seconds = 0;
    if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(certificate)) != 1) return;
    if (days < 0 || seconds < 0 || (days == 0 && seconds == 0)) {
      warn("tls.cert_path", source_of("tls.cert_path"),
           "certificate " + double_quoted(path) + " has expired");
    } else if (days < kCertExpiryWarningDays) {
      warn("tls.cert_path", source_of("tls.cert_path"),
           "certificate " + double_quoted(path) + " expires in " + std::to_string(days) + " day(s)");
    }
  }

  // Clients match the name or address they dial against the subjectAltName only (RFC 6125;
  // rstmdb-cli, Python's ssl, Node's tls): a certificate without one cannot be verified.
  void check_names(X509* certificate, const std::string& path) {
    if (certificate == nullptr || X509_get_ext_by_NID(certificate, NID_subject_alt_name, -1) >= 0) return;
    warn("tls.cert_path", source_of("tls.cert_path"),
         "certificate " + double_quoted(path) +
             " has no subjectAltName, so clients that verify the server (rstmdb-cli --ca-cert, rstmdb-py "
             "ca_cert, rstmdb-js ca) refuse it; issue it with every DNS name and IP address clients use "
             "(docs/tls.md)");
  }

  void check_client_ca(SSL_CTX* ctx) {
    const std::string& ca = *config_.tls.client_ca_path;
    if (!readable_pem("tls.client_ca_path", ca)) return;
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
      error("tls.client_ca_path", source_of("tls.client_ca_path"),
            "cannot load PEM CA certificates from " + double_quoted(ca) + ": " + take_openssl_error());
    }
  }

  void check_admin_socket() {
    if (config_.admin.socket_path) {
      const std::string& path = *config_.admin.socket_path;
      if (path.empty()) error("admin.socket_path", source_of("admin.socket_path"), "must not be empty");
      if (path.size() > kMaxSocketPathBytes) {
        error("admin.socket_path", source_of("admin.socket_path"),
              "must be at most " + std::to_string(kMaxSocketPathBytes) + " bytes, got " +
                  std::to_string(path.size()));
      }
      return;
    }
    const std::string path = admin_socket_path(config_);
    if (path.size() > kMaxSocketPathBytes) {
      error("admin.socket_path", "default",
            "the default " + shown(path) + " is " + std::to_string(path.size()) + " bytes, more than " +
                std::to_string(kMaxSocketPathBytes) + " (storage.data_dir, " + source_of("storage.data_dir") +
                "); set admin.socket_path to a shorter path");
    }
  }

  void check_addresses() {
    if (!config_.metrics.enabled || config_.metrics.bind_addr != config_.network.bind_addr) return;
    std::string problem;
    auto addr = parse_host_port(config_.metrics.bind_addr, &problem);
    if (addr && addr->port != 0) {
      error("metrics.bind_addr", source_of("metrics.bind_addr"),
            "must differ from network.bind_addr (" + source_of("network.bind_addr") + ")");
    }
  }

  // Keys of features this build does not have (config/features.hpp).
  void check_features() {
    static const Config defaults;
    for (const FeatureKey& fk : feature_keys()) {
      if (options_.features.has(fk.feature)) continue;
      const KeyInfo* key = find_key(fk.key);
      if (key == nullptr) continue;  // the registry test keeps the two tables in step
      const std::string value = render_value(config_, *key);
      const std::string default_value = render_value(defaults, *key);
      if (value == default_value) continue;
      const std::string feature(feature_name(fk.feature));
      if (fk.rule == UnbuiltKeyRule::RefuseWhenSet) {
        error(key->key, source_of(key->key),
              "cannot be " + value + " yet: this rstmdbd is built without " + feature + " (leave it at " +
                  default_value + ")");
      } else {
        warn(key->key, source_of(key->key), "has no effect yet: this rstmdbd is built without " + feature);
      }
    }
  }

  const LoadOptions& options_;
  LoadResult& result_;
  Config& config_;
  std::vector<std::pair<std::string, std::string>> hashes_;  // (hash, label) in source order
  std::vector<std::string> hash_sources_;
};

}  // namespace

LoadResult load_config(const LoadOptions& options) {
  LoadResult result;
  Loader loader(options, result);
  if (options.config_path) {
    loader.load_file(*options.config_path, "flag --config");
  } else if (auto it = options.env.find("RSTMDB_CONFIG");
             it != options.env.end() && !trim(it->second).empty()) {
    loader.load_file(std::string(trim(it->second)), "env RSTMDB_CONFIG");
  }
  loader.apply_environment();
  loader.apply_flags();
  loader.finish();
  return result;
}

LoadResult load_config_from_string(std::string_view yaml, const LoadOptions& options,
                                   std::string_view display_path) {
  LoadResult result;
  Loader loader(options, result);
  result.config.config_file = std::string(display_path);
  loader.load_text(yaml, display_path);
  loader.apply_environment();
  loader.apply_flags();
  loader.finish();
  return result;
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

std::string render_effective_yaml(const LoadResult& result) {
  const Config& config = result.config;
  std::string out = "# rstmdbd effective configuration (check-config --print)\n";
  out += "# config file: " + (config.config_file ? double_quoted(*config.config_file) : std::string("none")) +
         "\n";
  auto source_of = [&](std::string_view key) {
    auto it = result.sources.find(std::string(key));
    return it == result.sources.end() ? std::string("default") : it->second;
  };
  auto line = [&](std::string text, const std::string& comment) {
    if (text.size() < kCommentColumn)
      text.resize(kCommentColumn, ' ');
    else
      text += "  ";
    out += text + "# " + comment + "\n";
  };
  std::string section;
  for (const KeyInfo& key : registered_keys()) {
    const std::string_view name = key.key;
    const auto dot = name.find('.');
    const std::string this_section(name.substr(0, dot));
    const std::string leaf(name.substr(dot + 1));
    if (this_section != section) {
      out += this_section + ":\n";
      section = this_section;
    }
    if (key.kind == ValueKind::TokenHashes) {
      // Hashes are not secrets, but printing them invites pasting them around; count only.
      out += "  # " + leaf + ": " + render_value(config, key) + " hash(es), not shown  # " + source_of(name) +
             "\n";
      continue;
    }
    std::string comment = source_of(name);
    if (name == "admin.socket_path" && !config.admin.socket_path) {
      comment += "; means " + double_quoted(admin_socket_path(config));
    }
    line("  " + leaf + ": " + render_value(config, key), comment);
  }
  return out;
}

}  // namespace rstmdb::config
