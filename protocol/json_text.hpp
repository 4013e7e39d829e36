// JSON text in and out, with the conventions of protocol.md §6.6:
//  * compact output, object keys in insertion order;
//  * strings escaped as \" \\ \b \f \n \r \t, other control characters as \u00XX (lowercase
//    hex); non-ASCII written as raw UTF-8; '/' not escaped;
//  * integers (int64/uint64) in decimal; doubles in shortest round-trip form with the
//    canonical layout of operations.md §19.4 (100.0, 0.1, 1e-6, 1e+16, -0.0, ...);
//    locale-independent.
//  * input: RFC 8259, nesting depth <= kMaxJsonDepth, duplicate keys resolved last-wins,
//    integers in [-2^63, 2^64-1] kept exact, other numbers as doubles.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace rstmdb::protocol {

void append_json(std::string& out, const boost::json::value& v);
void append_json(std::string& out, const boost::json::object& o);
std::string to_json(const boost::json::value& v);
std::string to_json(const boost::json::object& o);

// A quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view s);

// A double per the canonical number layout (operations.md §19.4). Non-finite values cannot
// come from parsed JSON; they are written as null.
void append_json_double(std::string& out, double d);

// Strict UTF-8 validation (no overlongs, no surrogates, max U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

// ASCII case-insensitive equality, for protocol values the spec compares that way (a
// machine checksum, the AUTH method). Bytes outside ASCII compare exactly.
bool ascii_iequals(std::string_view a, std::string_view b) noexcept;

struct JsonParseError {
  std::string reason;  // e.g. "syntax error", "extra data", "nesting too deep"
};

// Parses one JSON text. The input must already be valid UTF-8 (check is_valid_utf8 first
// to give the dedicated error). Returns false and fills `error` on failure.
bool parse_json(std::string_view text, boost::json::value& out, JsonParseError& error);

// Parses JSON the server itself stored (frame.hpp kMaxStoredJsonDepth explains the depth), with
// the same number handling as requests. Every stored JSON text is re-read through this one
// function. Returns false and fills `error` on failure (stored data that no longer parses is
// corruption).
bool parse_stored_json(std::string_view text, boost::json::value& out, JsonParseError& error);

}  // namespace rstmdb::protocol
