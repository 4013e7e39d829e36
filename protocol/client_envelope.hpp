// The client side of the envelopes (protocol.md §6): encoding a request, and reading what a
// server writes (responses, events, `end`). Used by rstmdb-cli; no I/O.
#pragma once

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <variant>

namespace rstmdb::protocol {

// {"type":"request","id":ID,"op":OP,"params":PARAMS}, compact, keys in that order.
std::string encode_request(std::string_view id, std::string_view op, const boost::json::object& params);

// A response envelope (§6.3). `result` is the result object (ok) and `error` the error object
// as sent (error): code and message are checked to be strings, everything else is kept.
struct ResponseMessage {
  std::string id;
  bool ok = false;
  boost::json::object result;
  boost::json::object error;

  std::string_view error_code() const;     // "" when ok
  std::string_view error_message() const;  // "" when ok
};

// Any other message (§6.5): `type` is "event", "end", or a type this client does not know
// (clients ignore those). `body` is the whole message object.
struct StreamMessage {
  std::string type;
  boost::json::object body;
};

using ServerMessage = std::variant<ResponseMessage, StreamMessage>;

// Why a payload is not a server message; the text names the fault.
struct MalformedMessage {
  std::string reason;
};

// Checks, in order: UTF-8, JSON, object, `type` string; for responses `id` string, `status`
// "ok" or "error", `result` an object when present (absent = {}), `error` an object with
// string `code` and `message`.
std::variant<ServerMessage, MalformedMessage> parse_server_message(std::string_view payload);

}  // namespace rstmdb::protocol
