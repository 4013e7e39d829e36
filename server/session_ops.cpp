#include "server/session_ops.hpp"

#include "config/config.hpp"
#include "config/features.hpp"
#include "protocol/json_text.hpp"
#include "server/auth.hpp"
#include "server/params.hpp"

#include <boost/json/array.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

namespace rstmdb::server {

namespace json = boost::json;

namespace {

constexpr std::string_view kServerName = "rstmdb";
constexpr std::string_view kImplementation = "rstmdb-cpp";
constexpr std::int64_t kProtocolVersion = 1;
constexpr std::int64_t kMaxBatchOps = 100;
constexpr std::string_view kWireBinary = "binary_json";
constexpr std::string_view kWireJsonl = "jsonl";
// The protocol features (protocol.md §10), in the order results list them. A feature that needs
// an optional part of the server is advertised only when this build has it (config/features.hpp),
// so INFO and HELLO never promise what answers "not implemented".
struct ProtocolFeature {
  std::string_view name;
  std::optional<config::Feature> needs;
};
constexpr std::array<ProtocolFeature, 5> kProtocolFeatures = {{
    {"idempotency", std::nullopt},
    {"batch", std::nullopt},
    {"watch", config::Feature::Subscriptions},
    {"wal_read", std::nullopt},
    {"jsonl", std::nullopt},
}};

// The advertised features, in server order; computed once.
const std::vector<std::string_view>& server_features() {
  static const std::vector<std::string_view> features = [] {
    const auto built = config::FeatureSet::this_build();
    std::vector<std::string_view> out;
    for (const auto& f : kProtocolFeatures) {
      if (!f.needs || built.has(*f.needs)) out.push_back(f.name);
    }
    return out;
  }();
  return features;
}

json::array all_features() {
  json::array out;
  for (auto f : server_features())
    out.emplace_back(f);
  return out;
}

bool connection_supports(protocol::ConnectionKind kind, std::string_view mode) {
  if (mode == kWireBinary) return true;
  return mode == kWireJsonl && kind != protocol::ConnectionKind::Legacy;
}

Reply hello(const protocol::Request& request, SessionContext& session) {
  const Params params(request.params);
  const json::value* version = params.find("protocol_version");
  if (version == nullptr) throw RequestError(missing_field("protocol_version"));
  if (!version->is_int64() && !version->is_uint64())
    throw RequestError(invalid_type("protocol_version", "integer"));
  const auto wire_modes = params.optional_string_array("wire_modes");
  const auto wire_mode = params.optional_string("wire_mode");
  const auto features = params.optional_string_array("features");

  if (!(version->is_int64() && version->get_int64() == kProtocolVersion)) {
    const std::string requested =
        version->is_int64() ? std::to_string(version->get_int64()) : std::to_string(version->get_uint64());
    json::object details;
    details["requested"] = *version;
    details["supported"] = kProtocolVersion;
    throw RequestError(protocol::Error{protocol::ErrorCode::UnsupportedProtocol,
                                       "unsupported protocol version: " + requested + " (supported: 1)",
                                       std::move(details)});
  }

  std::vector<std::string> candidates;
  if (wire_modes) {
    candidates = *wire_modes;
  } else if (wire_mode) {
    candidates.push_back(*wire_mode);
  }
  std::string_view chosen = session.kind == protocol::ConnectionKind::Jsonl ? kWireJsonl : kWireBinary;
  for (const auto& candidate : candidates) {
    if (connection_supports(session.kind, candidate)) {
      chosen = candidate == kWireJsonl ? kWireJsonl : kWireBinary;
      break;
    }
  }
  if (chosen == kWireJsonl) {
    session.event_framing = protocol::Framing::Jsonl;
  } else {
    session.event_framing =
        session.kind == protocol::ConnectionKind::Legacy ? protocol::Framing::Rcp1 : protocol::Framing::Rcpx;
  }

  json::array negotiated;
  if (features) {
    for (auto f : server_features()) {
      if (std::find(features->begin(), features->end(), f) != features->end()) negotiated.emplace_back(f);
    }
  }

  json::object result;
  result["protocol_version"] = kProtocolVersion;
  result["wire_mode"] = chosen;
  result["server_name"] = kServerName;
  result["server_version"] = RSTMDB_VERSION;
  result["features"] = std::move(negotiated);
  return Reply::ok(std::move(result));
}

protocol::Error auth_failed(std::string why) {
  return protocol::Error{protocol::ErrorCode::AuthFailed, "authentication failed: " + why, {}};
}

Reply auth(const protocol::Request& request, SessionContext& session, const Services& services) {
  const Params params(request.params);
  const json::value* token = params.find("token");
  if (token == nullptr || !token->is_string()) throw RequestError(missing_field("token"));
  const auto method = params.optional_string("method");
  if (method && !protocol::ascii_iequals(*method, "bearer"))
    throw RequestError(auth_failed("unsupported auth method: " + *method));
  const std::string_view token_text = token->get_string();
  if (token_text.empty()) throw RequestError(auth_failed("empty token"));

  const auto generation = services.live->current();  // auth.required and the tokens agree
  if (generation->config.auth.required) {
    auto matched = generation->tokens.match(token_text);
    if (!matched) throw RequestError(auth_failed("invalid token"));
    session.principal = std::move(matched->principal);
    session.token_digest = std::move(matched->digest);
  }
  session.authenticated = true;
  json::object result;
  result["authenticated"] = true;
  return Reply::ok(std::move(result));
}

Reply info(const Services& services) {
  const auto in_force = services.config.get();
  json::object result;
  result["server_name"] = kServerName;
  result["server_version"] = RSTMDB_VERSION;
  result["implementation"] = kImplementation;
  result["protocol_version"] = kProtocolVersion;
  result["features"] = all_features();
  result["max_frame_bytes"] = in_force->network.max_frame_bytes;
  result["max_payload_bytes"] = in_force->network.max_frame_bytes;
  result["max_batch_ops"] = kMaxBatchOps;
  result["auth_required"] = in_force->auth.required;
  return Reply::ok(std::move(result));
}

}  // namespace

void register_session_ops(Dispatcher& dispatcher, const Services& services) {
  const OpFlags open{.needs_auth = false, .writes = false, .streaming = false};
  const OpFlags guarded{.needs_auth = true, .writes = false, .streaming = false};

  dispatcher.set_handler("HELLO", open, sync_handler(hello));
  dispatcher.set_handler("AUTH", open,
                         sync_handler([&services](const protocol::Request& r, SessionContext& s) {
                           return auth(r, s, services);
                         }));
  dispatcher.set_handler("PING", open, sync_handler([](const protocol::Request&, SessionContext&) {
                           json::object result;
                           result["pong"] = true;
                           return Reply::ok(std::move(result));
                         }));
  dispatcher.set_handler("BYE", open, sync_handler([](const protocol::Request&, SessionContext&) {
                           json::object result;
                           result["goodbye"] = true;
                           Reply reply = Reply::ok(std::move(result));
                           reply.close_connection = true;
                           return reply;
                         }));
  dispatcher.set_handler(
      "INFO", guarded,
      sync_handler([&services](const protocol::Request&, SessionContext&) { return info(services); }));
}

}  // namespace rstmdb::server
