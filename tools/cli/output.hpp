// Where command results and errors go: human text on stdout / "Error: ..." on stderr, or with
// --json one compact JSON line per result on stdout and {"error":{...}} lines on stderr.
#pragma once

#include "protocol/client_envelope.hpp"
#include "tools/cli/style.hpp"

#include <boost/json/object.hpp>

#include <cstdio>
#include <string>
#include <string_view>

namespace rstmdb::cli {

// Codes of errors the CLI itself reports in --json mode (the server's codes pass through):
// see client_error_code() for connection errors.
inline constexpr std::string_view kErrInvalidArgument = "INVALID_ARGUMENT";
inline constexpr std::string_view kErrSubscriptionEnded = "SUBSCRIPTION_ENDED";
inline constexpr std::string_view kErrBatchFailed = "BATCH_FAILED";
inline constexpr std::string_view kErrUsage = "USAGE";

class Output {
 public:
  Output(bool json, Style out_style, Style err_style, std::FILE* out = stdout, std::FILE* err = stderr)
      : json_(json), out_style_(out_style), err_style_(err_style), out_(out), err_(err) {}

  bool json() const noexcept { return json_; }
  void set_json(bool on) noexcept { json_ = on; }
  const Style& style() const noexcept { return out_style_; }
  const Style& err_style() const noexcept { return err_style_; }

  // A command's result: `human` (plus a newline) or the result object as one JSON line.
  void result(const std::string& human, const boost::json::object& result);
  // A line on stdout, flushed at once (watch events, REPL messages).
  void line(std::string_view text);
  // Informational text for humans on stderr; nothing in --json mode.
  void note(std::string_view text);
  // A JSON object as one line on stderr (watch banners in --json mode).
  void note_json(const boost::json::object& o);

  // "Error: server error: CODE - message" / {"error":<the server's error object>}.
  void server_error(const protocol::ResponseMessage& response);
  // "<prefix>: <message>" (prefix "Error" unless given) / {"error":{"code","message"}}.
  void error(std::string_view code, std::string_view message, std::string_view prefix = "Error");
  // `text` as it is on stderr (a usage message) / {"error":{"code","message":text}}.
  void error_text(std::string_view code, std::string_view text);

 private:
  void write(std::FILE* f, std::string_view text);

  bool json_;
  Style out_style_;
  Style err_style_;
  std::FILE* out_;
  std::FILE* err_;
};

}  // namespace rstmdb::cli
