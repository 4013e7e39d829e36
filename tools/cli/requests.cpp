#include "tools/cli/requests.hpp"

#include "protocol/json_text.hpp"

#include <boost/json/array.hpp>

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace rstmdb::cli {
namespace json = boost::json;

namespace {

template <typename T>
void put_optional(json::object& o, std::string_view key, const std::optional<T>& v) {
  if (v) o[key] = *v;
}

json::array string_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v)
    a.emplace_back(s);
  return a;
}

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

Request make(std::string op, json::object params = {}) {
  return Request{std::move(op), std::move(params)};
}

}  // namespace

std::string read_argument_file(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> owned;
  std::FILE* f = stdin;
  if (path != "-") {
    owned.reset(std::fopen(path.c_str(), "rb"));
    if (!owned) throw ArgumentError("cannot read '" + path + "': " + std::strerror(errno));
    f = owned.get();
  }
  std::string data;
  char buf[64 * 1024];
  while (true) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f);
    data.append(buf, n);
    if (data.size() > kMaxArgumentFileBytes) {
      throw ArgumentError("'" + path + "' is larger than " + std::to_string(kMaxArgumentFileBytes) +
                          " bytes");
    }
    if (n < sizeof buf) {
      if (std::ferror(f)) throw ArgumentError("cannot read '" + path + "': " + std::strerror(errno));
      break;
    }
  }
  return data;
}

json::value load_json_argument(const std::string& text, std::string_view what) {
  std::string content;
  std::string source = std::string(what);
  if (!text.empty() && text.front() == '@') {
    content = read_argument_file(text.substr(1));
    source += " (" + text.substr(1) + ")";
  } else {
    content = text;
  }
  if (!protocol::is_valid_utf8(content)) throw ArgumentError("JSON error: " + source + ": not valid UTF-8");
  json::value v;
  protocol::JsonParseError err;
  if (!protocol::parse_json(content, v, err))
    throw ArgumentError("JSON error: " + source + ": " + err.reason);
  return v;
}

Request get_machine_request(const std::string& name, std::uint32_t version) {
  json::object p;
  p["machine"] = name;
  p["version"] = version;
  return make("GET_MACHINE", std::move(p));
}

Request build_request(const Command& command) {
  return std::visit(
      [](const auto& c) -> Request {
        using T = std::decay_t<decltype(c)>;
        json::object p;
        if constexpr (std::is_same_v<T, PingCommand>) {
          return make("PING");
        } else if constexpr (std::is_same_v<T, InfoCommand>) {
          return make("INFO");
        } else if constexpr (std::is_same_v<T, PutMachineCommand>) {
          p["machine"] = c.name;
          p["version"] = c.version;
          p["definition"] = load_json_argument(c.definition, "definition");
          return make("PUT_MACHINE", std::move(p));
        } else if constexpr (std::is_same_v<T, GetMachineCommand>) {
          if (!c.version)
            throw ArgumentError("internal: get-machine without a version needs list-machines first");
          return get_machine_request(c.name, *c.version);
        } else if constexpr (std::is_same_v<T, ListMachinesCommand>) {
          return make("LIST_MACHINES");
        } else if constexpr (std::is_same_v<T, CreateInstanceCommand>) {
          put_optional(p, "instance_id", c.id);
          p["machine"] = c.machine;
          p["version"] = c.version;
          if (c.ctx) p["initial_ctx"] = load_json_argument(*c.ctx, "ctx");
          put_optional(p, "idempotency_key", c.idempotency_key);
          return make("CREATE_INSTANCE", std::move(p));
        } else if constexpr (std::is_same_v<T, GetInstanceCommand>) {
          p["instance_id"] = c.id;
          return make("GET_INSTANCE", std::move(p));
        } else if constexpr (std::is_same_v<T, ListInstancesCommand>) {
          put_optional(p, "machine", c.machine);
          put_optional(p, "state", c.state);
          p["limit"] = c.limit;
          p["offset"] = c.offset;
          return make("LIST_INSTANCES", std::move(p));
        } else if constexpr (std::is_same_v<T, ApplyEventCommand>) {
          p["instance_id"] = c.instance;
          p["event"] = c.event;
          if (c.payload) p["payload"] = load_json_argument(*c.payload, "payload");
          put_optional(p, "expected_state", c.expected_state);
          put_optional(p, "expected_wal_offset", c.expected_wal_offset);
          put_optional(p, "event_id", c.event_id);
          put_optional(p, "idempotency_key", c.idempotency_key);
          return make("APPLY_EVENT", std::move(p));
        } else if constexpr (std::is_same_v<T, DeleteInstanceCommand>) {
          p["instance_id"] = c.id;
          put_optional(p, "idempotency_key", c.idempotency_key);
          return make("DELETE_INSTANCE", std::move(p));
        } else if constexpr (std::is_same_v<T, SnapshotInstanceCommand>) {
          p["instance_id"] = c.id;
          return make("SNAPSHOT_INSTANCE", std::move(p));
        } else if constexpr (std::is_same_v<T, WalReadCommand>) {
          p["from_offset"] = c.from;
          put_optional(p, "limit", c.limit);
          return make("WAL_READ", std::move(p));
        } else if constexpr (std::is_same_v<T, WalStatsCommand>) {
          return make("WAL_STATS");
        } else if constexpr (std::is_same_v<T, CompactCommand>) {
          p["force_snapshot"] = c.force;
          return make("COMPACT", std::move(p));
        } else if constexpr (std::is_same_v<T, BatchCommand>) {
          return batch_request(c);
        } else if constexpr (std::is_same_v<T, FlushAllCommand>) {
          return make("FLUSH_ALL");
        } else if constexpr (std::is_same_v<T, WatchInstanceCommand> || std::is_same_v<T, WatchAllCommand>) {
          return watch_request(c);
        } else if constexpr (std::is_same_v<T, UnwatchCommand>) {
          p["subscription_id"] = c.subscription_id;
          return make("UNWATCH", std::move(p));
        } else {
          throw ArgumentError("internal: this command sends no single request");
        }
      },
      command);
}

Request batch_request(const BatchCommand& command) {
  const std::string path =
      !command.file.empty() && command.file.front() == '@' ? command.file.substr(1) : command.file;
  json::value doc = load_json_argument("@" + path, "batch file");
  json::object p;
  std::string mode = "best_effort";
  json::array ops;
  if (json::array* a = doc.if_array()) {
    ops = std::move(*a);
  } else if (json::object* o = doc.if_object();
             o != nullptr && o->contains("ops") && o->at("ops").is_array()) {
    ops = std::move(o->at("ops").get_array());
    if (const json::value* m = o->if_contains("mode"); m != nullptr && m->is_string()) {
      mode = std::string(m->get_string().data(), m->get_string().size());
    }
  } else {
    throw ArgumentError("batch file (" + path +
                        "): expected a JSON array of {\"op\",\"params\"} objects, or an object with \"ops\"");
  }
  if (command.atomic) mode = "atomic";
  p["mode"] = mode;
  p["ops"] = std::move(ops);
  return make("BATCH", std::move(p));
}

Request watch_request(const WatchInstanceCommand& c) {
  json::object p;
  p["instance_id"] = c.id;
  p["include_ctx"] = c.include_ctx;
  put_optional(p, "from_offset", c.from_offset);
  return make("WATCH_INSTANCE", std::move(p));
}

Request watch_request(const WatchAllCommand& c) {
  json::object p;
  p["include_ctx"] = c.include_ctx;
  put_optional(p, "from_offset", c.from_offset);
  if (!c.machines.empty()) p["machines"] = string_array(c.machines);
  if (!c.from_states.empty()) p["from_states"] = string_array(c.from_states);
  if (!c.to_states.empty()) p["to_states"] = string_array(c.to_states);
  if (!c.events.empty()) p["events"] = string_array(c.events);
  return make("WATCH_ALL", std::move(p));
}

std::string sha256_hex(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(token.data(), token.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw ArgumentError("SHA-256 is not available from OpenSSL");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

std::string hash_token_input(const HashTokenCommand& command) {
  if (command.token != "-") return command.token;
  std::string data = read_argument_file("-");
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (!data.empty() && data.back() == '\r') data.pop_back();
  return data;
}

}  // namespace rstmdb::cli
