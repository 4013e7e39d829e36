// Request and response envelopes (protocol.md §5, §6).
#pragma once

#include "protocol/error.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <variant>

namespace rstmdb::protocol {

struct Request {
  std::string id;              // always a string; numeric ids converted (§6.2)
  std::string op;              // as sent; not checked against the op list here
  boost::json::object params;  // {} when absent or null
};

// An envelope that could not be turned into a Request. The connection stays open and the
// error is answered in the message's slot, with `id` ("" when unknown).
struct EnvelopeError {
  std::string id;
  Error error;
};

// Applies, in order: UTF-8 validity, JSON syntax (depth <= 128), object-ness, `id`, `op`,
// `params` — each failure with the exact message of protocol.md §5.
std::variant<Request, EnvelopeError> parse_request(std::string_view payload);

// Full response envelopes as JSON text:
//  {"type":"response","id":ID,"status":"ok","result":RESULT}
//  {"type":"response","id":ID,"status":"error","error":{"code","message","retryable"[,"details"]}}
std::string encode_ok_response(std::string_view id, const boost::json::object& result);
// As above, with `result_json` already serialized (must be a compact JSON object text).
std::string encode_ok_response_raw(std::string_view id, std::string_view result_json);
std::string encode_error_response(std::string_view id, const Error& error);

// The error object alone: {"code":..,"message":..,"retryable":..[,"details":{..}]}.
void append_error_object(std::string& out, const Error& error);
boost::json::object error_to_json(const Error& error);

}  // namespace rstmdb::protocol
