#include "protocol/envelope.hpp"

#include "protocol/json_text.hpp"

#include <boost/json/value.hpp>

#include <charconv>
#include <utility>

namespace rstmdb::protocol {
namespace json = boost::json;

namespace {

constexpr std::string_view kResponsePrefix = R"({"type":"response","id":)";
constexpr std::string_view kOkInfix = R"(,"status":"ok","result":)";
constexpr std::string_view kErrorInfix = R"(,"status":"error","error":)";

EnvelopeError envelope_error(std::string id, std::string message) {
  return EnvelopeError{std::move(id), bad_request(std::move(message))};
}

template <typename Int>
std::string integer_text(Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// A numeric id is echoed as a string (protocol.md §6.2); nullopt for kinds that are no id.
bool id_text(const json::value& v, std::string& id) {
  switch (v.kind()) {
    case json::kind::string:
      id.assign(v.get_string().data(), v.get_string().size());
      return true;
    case json::kind::int64:
      id = integer_text(v.get_int64());
      return true;
    case json::kind::uint64:
      id = integer_text(v.get_uint64());
      return true;
    case json::kind::double_:
      id.clear();
      append_json_double(id, v.get_double());
      return true;
    default:
      return false;
  }
}

void append_response_head(std::string& out, std::string_view id) {
  out += kResponsePrefix;
  append_json_string(out, id);
}

}  // namespace

std::variant<Request, EnvelopeError> parse_request(std::string_view payload) {
  if (!is_valid_utf8(payload)) return envelope_error("", "invalid request: payload is not valid UTF-8");

  json::value doc;
  JsonParseError parse_error;
  if (!parse_json(payload, doc, parse_error)) {
    return envelope_error("", "invalid request: malformed JSON: " + parse_error.reason);
  }
  json::object* obj = doc.if_object();
  if (obj == nullptr) return envelope_error("", "invalid request: request must be a JSON object");

  Request req;
  const json::value* id = obj->if_contains("id");
  if (id == nullptr || !id_text(*id, req.id)) {
    return envelope_error("", "invalid request: missing or invalid field 'id'");
  }
  const json::value* op = obj->if_contains("op");
  if (op == nullptr || !op->is_string()) {
    return envelope_error(std::move(req.id), "invalid request: missing field 'op'");
  }
  req.op.assign(op->get_string().data(), op->get_string().size());

  if (json::value* params = obj->if_contains("params"); params != nullptr && !params->is_null()) {
    json::object* p = params->if_object();
    if (p == nullptr) return envelope_error(std::move(req.id), "invalid request: params must be an object");
    // Same storage as the parsed document, so this moves rather than copies.
    req.params = std::move(*p);
  }
  return req;
}

std::string encode_ok_response(std::string_view id, const json::object& result) {
  std::string out;
  // Most results are small; one allocation covers the envelope and a typical body.
  out.reserve(kResponsePrefix.size() + kOkInfix.size() + id.size() + 128);
  append_response_head(out, id);
  out += kOkInfix;
  append_json(out, result);
  out.push_back('}');
  return out;
}

std::string encode_ok_response_raw(std::string_view id, std::string_view result_json) {
  std::string out;
  out.reserve(kResponsePrefix.size() + kOkInfix.size() + id.size() + 3 + result_json.size());
  append_response_head(out, id);
  out += kOkInfix;
  out += result_json;
  out.push_back('}');
  return out;
}

std::string encode_error_response(std::string_view id, const Error& error) {
  std::string out;
  out.reserve(kResponsePrefix.size() + kErrorInfix.size() + id.size() + error.message.size() + 96);
  append_response_head(out, id);
  out += kErrorInfix;
  append_error_object(out, error);
  out.push_back('}');
  return out;
}

void append_error_object(std::string& out, const Error& error) {
  out += R"({"code":")";
  out += error_code_name(error.code);
  out += R"(","message":)";
  append_json_string(out, error.message);
  out += error_code_retryable(error.code) ? R"(,"retryable":true)" : R"(,"retryable":false)";
  if (!error.details.empty()) {
    out += R"(,"details":)";
    append_json(out, error.details);
  }
  out.push_back('}');
}

json::object error_to_json(const Error& error) {
  json::object o;
  o.reserve(4);
  o.emplace("code", error_code_name(error.code));
  o.emplace("message", error.message);
  o.emplace("retryable", error_code_retryable(error.code));
  if (!error.details.empty()) o.emplace("details", error.details);
  return o;
}

}  // namespace rstmdb::protocol
