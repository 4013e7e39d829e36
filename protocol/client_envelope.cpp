#include "protocol/client_envelope.hpp"

#include "protocol/json_text.hpp"

#include <boost/json/value.hpp>

#include <utility>

namespace rstmdb::protocol {
namespace json = boost::json;

namespace {

std::string_view string_member(const json::object& o, std::string_view key) {
  if (const json::value* v = o.if_contains(key); v != nullptr && v->is_string()) {
    return {v->get_string().data(), v->get_string().size()};
  }
  return {};
}

MalformedMessage malformed(std::string reason) {
  return MalformedMessage{std::move(reason)};
}

}  // namespace

std::string encode_request(std::string_view id, std::string_view op, const json::object& params) {
  std::string out;
  out.reserve(48 + id.size() + op.size());
  out += R"({"type":"request","id":)";
  append_json_string(out, id);
  out += R"(,"op":)";
  append_json_string(out, op);
  out += R"(,"params":)";
  append_json(out, params);
  out.push_back('}');
  return out;
}

std::string_view ResponseMessage::error_code() const {
  return string_member(error, "code");
}

std::string_view ResponseMessage::error_message() const {
  return string_member(error, "message");
}

std::variant<ServerMessage, MalformedMessage> parse_server_message(std::string_view payload) {
  if (!is_valid_utf8(payload)) return malformed("payload is not valid UTF-8");
  json::value doc;
  JsonParseError parse_error;
  if (!parse_json(payload, doc, parse_error)) return malformed("malformed JSON: " + parse_error.reason);
  json::object* obj = doc.if_object();
  if (obj == nullptr) return malformed("message is not a JSON object");
  const json::value* type = obj->if_contains("type");
  if (type == nullptr || !type->is_string()) return malformed("missing field 'type'");
  if (type->get_string() != "response") {
    StreamMessage m;
    m.type.assign(type->get_string().data(), type->get_string().size());
    m.body = std::move(*obj);
    return ServerMessage{std::move(m)};
  }

  ResponseMessage r;
  const json::value* id = obj->if_contains("id");
  if (id == nullptr || !id->is_string()) return malformed("response without a string 'id'");
  r.id.assign(id->get_string().data(), id->get_string().size());
  const std::string_view status = string_member(*obj, "status");
  if (status == "ok") {
    r.ok = true;
    if (json::value* result = obj->if_contains("result"); result != nullptr) {
      if (!result->is_object()) return malformed("response 'result' is not an object");
      r.result = std::move(result->get_object());
    }
  } else if (status == "error") {
    json::value* error = obj->if_contains("error");
    if (error == nullptr || !error->is_object()) return malformed("error response without an 'error' object");
    const json::object& e = error->get_object();
    const json::value* code = e.if_contains("code");
    const json::value* message = e.if_contains("message");
    if (code == nullptr || !code->is_string() || message == nullptr || !message->is_string()) {
      return malformed("error object without string 'code' and 'message'");
    }
    r.error = std::move(error->get_object());
  } else {
    return malformed("response 'status' is neither \"ok\" nor \"error\"");
  }
  return ServerMessage{std::move(r)};
}

}  // namespace rstmdb::protocol
