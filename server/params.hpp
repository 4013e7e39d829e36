// Typed access to a request's `params` with the exact errors of operations.md §1.1:
//   invalid request: missing field '<name>'
//   invalid request: invalid type for field '<name>': expected <type>
//   invalid request: invalid value for field '<name>': <why>
// all BAD_REQUEST with details {"field":"<name>"}. A key set to null counts as absent.
// Accessors throw RequestError; handlers wrapped by sync_handler() turn it into the reply.
#pragma once

#include "protocol/error.hpp"
#include "server/dispatcher.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rstmdb::server {

// A request that cannot proceed; carries the error to answer.
class RequestError : public std::exception {
 public:
  explicit RequestError(protocol::Error error) : error_(std::move(error)) {}
  const char* what() const noexcept override { return error_.message.c_str(); }
  const protocol::Error& error() const noexcept { return error_; }
  protocol::Error& error() noexcept { return error_; }

 private:
  protocol::Error error_;
};

protocol::Error missing_field(std::string_view name);
protocol::Error invalid_type(std::string_view name, std::string_view expected);
protocol::Error invalid_value(std::string_view name, std::string_view why);

class Params {
 public:
  explicit Params(const boost::json::object& params) : params_(params) {}

  // The value under `key`, or nullptr when absent or null.
  const boost::json::value* find(std::string_view key) const;
  // First present of `canonical`, then `alias` (the canonical spelling wins).
  const boost::json::value* find(std::string_view canonical, std::string_view alias) const;

  std::string required_string(std::string_view key, std::string_view alias = {}) const;
  std::optional<std::string> optional_string(std::string_view key, std::string_view alias = {}) const;
  std::optional<bool> optional_bool(std::string_view key) const;
  std::uint32_t required_u32(std::string_view key) const;
  std::optional<std::uint32_t> optional_u32(std::string_view key) const;
  std::optional<std::uint64_t> optional_u64(std::string_view key, std::string_view alias = {}) const;
  // An object (absent/null → nullopt). `key` names the field in errors.
  std::optional<boost::json::object> optional_object(std::string_view key, std::string_view alias = {}) const;
  std::optional<std::vector<std::string>> optional_string_array(std::string_view key) const;

  const boost::json::object& raw() const noexcept { return params_; }

 private:
  const boost::json::object& params_;
};

// Adapts a synchronous handler body to the Handler signature: runs it, answers its Reply, and
// turns a thrown RequestError into that error reply.
template <typename Fn>
Handler sync_handler(Fn fn) {
  return [fn = std::move(fn)](const protocol::Request& request, SessionContext& session, Completion done) {
    Reply reply;
    try {
      reply = fn(request, session);
    } catch (RequestError& e) {
      reply = Reply::error(std::move(e.error()));
    }
    done(std::move(reply));
  };
}

}  // namespace rstmdb::server
