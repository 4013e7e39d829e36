#include "backup/manifest.hpp"

#include "backup/backup_error.hpp"
#include "backup/sha256.hpp"
#include "protocol/json_text.hpp"

#include <boost/json/value.hpp>

#include <ctime>
#include <set>

namespace rstmdb::backup {

namespace json = boost::json;

namespace {

[[noreturn]] void invalid(const std::string& message) {
  throw BackupError(BackupError::Kind::Invalid, "manifest: " + message);
}

// Appends the members of one JSON object to `out`: `first` before the first member,
// `separator` before each later one (the manifest puts top-level members on their own lines).
class Members {
 public:
  Members(std::string& out, std::string_view first, std::string_view separator)
      : out_(out), first_(first), separator_(separator) {}

  // Starts a member: the caller appends its value.
  void key(std::string_view key) {
    out_ += count_++ == 0 ? first_ : separator_;
    protocol::append_json_string(out_, key);
    out_ += ':';
  }
  void string(std::string_view key, std::string_view value) {
    this->key(key);
    protocol::append_json_string(out_, value);
  }
  void number(std::string_view key, std::uint64_t value) {
    this->key(key);
    out_ += std::to_string(value);
  }

 private:
  std::string& out_;
  std::string_view first_;
  std::string_view separator_;
  std::size_t count_ = 0;
};

const json::value& field(const json::object& o, std::string_view key, std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) invalid("missing " + std::string(where) + std::string(key));
  return *v;
}

std::string string_field(const json::object& o, std::string_view key, std::string_view where = "") {
  const json::value& v = field(o, key, where);
  if (!v.is_string()) invalid(std::string(where) + std::string(key) + " must be a string");
  return std::string(v.get_string());
}

std::uint64_t u64_field(const json::object& o, std::string_view key, std::string_view where = "") {
  const json::value& v = field(o, key, where);
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
  invalid(std::string(where) + std::string(key) + " must be a non-negative integer");
}

bool valid_file_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxFileNameBytes || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "2026-12-02T05:40:00.123Z" with date_sep "-" and time_sep ":", in UTC.
std::string utc_text(std::int64_t unix_ms, const char* date_sep, const char* time_sep) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d%s%02d%s%02dT%02d%s%02d%s%02d.%03dZ", tm.tm_year + 1900, date_sep,
                tm.tm_mon + 1, date_sep, tm.tm_mday, tm.tm_hour, time_sep, tm.tm_min, time_sep, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

}  // namespace

bool valid_backup_path(std::string_view path) noexcept {
  if (path == kFormatFileName) return true;
  const std::string prefix = std::string(kDbDirName) + "/";
  return path.starts_with(prefix) && valid_file_name(path.substr(prefix.size()));
}

std::string label_problem(std::string_view label) {
  if (label.size() > kMaxLabelBytes) return "must be at most " + std::to_string(kMaxLabelBytes) + " bytes";
  if (!protocol::is_valid_utf8(label)) return "must be valid UTF-8";
  for (unsigned char c : label) {
    if (c < 0x20 || c == 0x7F) return "must not contain control characters";
  }
  return "";
}

std::string iso8601_utc(std::int64_t unix_ms) {
  return utc_text(unix_ms, "-", ":");
}

std::string compact_utc(std::int64_t unix_ms) {
  return utc_text(unix_ms, "", "");
}

std::string encode_manifest(const Manifest& m) {
  std::string out = "{";
  Members top(out, "\n  ", ",\n  ");
  top.string("format", kManifestFormat);
  top.number("format_version", static_cast<std::uint64_t>(kManifestVersion));
  top.string("created_at", m.created_at);
  top.key("source");
  out += '{';
  Members source(out, "", ",");
  source.string("mode", m.source.mode);
  source.string("data_dir", m.source.data_dir);
  source.string("host", m.source.host);
  source.string("checkpoint", m.source.checkpoint);
  out += '}';
  top.key("label");
  if (m.label) {
    protocol::append_json_string(out, *m.label);
  } else {
    out += "null";
  }
  top.string("server_version", m.server_version);
  top.string("rocksdb_version", m.rocksdb_version);
  top.number("latest_offset", m.summary.latest_offset);
  top.number("oldest_offset", m.summary.oldest_offset);
  top.number("machines", m.summary.machines);
  top.number("instances", m.summary.instances);
  top.key("files");
  out += '[';
  for (std::size_t i = 0; i < m.files.size(); ++i) {
    out += i == 0 ? "\n    {" : ",\n    {";
    Members file(out, "", ",");
    file.string("path", m.files[i].path);
    file.number("size", m.files[i].size);
    file.string("sha256", m.files[i].sha256);
    out += '}';
  }
  out += m.files.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

Manifest decode_manifest(std::string_view text, bool require_files) {
  if (text.size() > kMaxManifestBytes) invalid("larger than " + std::to_string(kMaxManifestBytes) + " bytes");
  if (!protocol::is_valid_utf8(text)) invalid("not valid UTF-8");
  json::value doc;
  protocol::JsonParseError error;
  if (!protocol::parse_json(text, doc, error)) invalid("not valid JSON: " + error.reason);
  const json::object* o = doc.if_object();
  if (o == nullptr) invalid("not a JSON object");
  const std::string format = string_field(*o, "format");
  if (format != kManifestFormat) {
    invalid("format is \"" + format.substr(0, 64) + "\", expected \"" + std::string(kManifestFormat) + "\"");
  }
  const std::uint64_t version = u64_field(*o, "format_version");
  if (version != static_cast<std::uint64_t>(kManifestVersion)) {
    invalid("format_version " + std::to_string(version) + " is not supported (this rstmdbd reads version " +
            std::to_string(kManifestVersion) + ")");
  }
  Manifest m;
  m.created_at = string_field(*o, "created_at");
  const json::value& source = field(*o, "source", "");
  if (!source.is_object()) invalid("source must be an object");
  m.source.mode = string_field(source.get_object(), "mode", "source.");
  m.source.data_dir = string_field(source.get_object(), "data_dir", "source.");
  m.source.host = string_field(source.get_object(), "host", "source.");
  m.source.checkpoint = string_field(source.get_object(), "checkpoint", "source.");
  const json::value& label = field(*o, "label", "");
  if (label.is_string()) {
    m.label = std::string(label.get_string());
  } else if (!label.is_null()) {
    invalid("label must be a string or null");
  }
  m.server_version = string_field(*o, "server_version");
  m.rocksdb_version = string_field(*o, "rocksdb_version");
  m.summary.latest_offset = u64_field(*o, "latest_offset");
  m.summary.oldest_offset = u64_field(*o, "oldest_offset");
  m.summary.machines = u64_field(*o, "machines");
  m.summary.instances = u64_field(*o, "instances");
  if (m.summary.oldest_offset == 0) invalid("oldest_offset must be at least 1");

  const json::value* files = o->if_contains("files");
  if (files == nullptr) {
    if (require_files) invalid("missing files");
    return m;
  }
  if (!files->is_array()) invalid("files must be an array");
  const json::array& list = files->get_array();
  if (list.size() > kMaxBackupFiles) invalid("more than " + std::to_string(kMaxBackupFiles) + " files");
  std::set<std::string> seen;
  m.files.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = "files[" + std::to_string(i) + "].";
    if (!list[i].is_object()) invalid("files[" + std::to_string(i) + "] must be an object");
    const json::object& f = list[i].get_object();
    ManifestFile file;
    file.path = string_field(f, "path", where);
    if (!valid_backup_path(file.path)) invalid(where + "path is not FORMAT or db/<file name>");
    if (!seen.insert(file.path).second) invalid(where + "path " + file.path + " is listed twice");
    file.size = u64_field(f, "size", where);
    file.sha256 = string_field(f, "sha256", where);
    if (!is_sha256_hex(file.sha256)) invalid(where + "sha256 is not 64 lowercase hex digits");
    m.files.push_back(std::move(file));
  }
  if (require_files && seen.count(std::string(kFormatFileName)) == 0) invalid("files does not list FORMAT");
  return m;
}

}  // namespace rstmdb::backup
