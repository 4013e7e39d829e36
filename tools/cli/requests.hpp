// The request (op and params) each command sends, and the reading of JSON arguments
// (inline text, @FILE or @- for stdin). Param names and order follow upstream's client.
#pragma once

#include "tools/cli/commands.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace rstmdb::cli {

// A JSON argument or file the command cannot use; the message is printed after "Error: ".
class ArgumentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Largest file or stdin the CLI reads for one argument: the protocol's payload limit, since
// nothing bigger can be sent anyway.
inline constexpr std::size_t kMaxArgumentFileBytes = 16 * 1024 * 1024;

// Whole file (or stdin for "-"), at most kMaxArgumentFileBytes. Throws ArgumentError.
std::string read_argument_file(const std::string& path);

// `text` as JSON, or the JSON in the file after '@' (@- = stdin). `what` names the argument
// in errors ("JSON error: <what>: <reason>"). Throws ArgumentError.
boost::json::value load_json_argument(const std::string& text, std::string_view what);

struct Request {
  std::string op;
  boost::json::object params;
};

// For every command that is one request (not repl, hash-token, list-machines, get-machine
// without a version, batch, watch-*). Loads JSON arguments. Throws ArgumentError.
Request build_request(const Command& command);

// GET_MACHINE with a known version.
Request get_machine_request(const std::string& name, std::uint32_t version);

// The BATCH request from a batch file: a JSON array of {"op","params"} elements, or an object
// with "ops" (and optionally "mode"); --atomic sets mode "atomic". Throws ArgumentError.
Request batch_request(const BatchCommand& command);

// The requests of watch-instance / watch-all.
Request watch_request(const WatchInstanceCommand& command);
Request watch_request(const WatchAllCommand& command);

// hex(SHA-256(token)), lowercase: what auth.token_hashes holds (runtime.md §3.1).
std::string sha256_hex(std::string_view token);
// The token for hash-token: the argument, or stdin for "-" without one trailing newline.
std::string hash_token_input(const HashTokenCommand& command);

}  // namespace rstmdb::cli
