#include "server/params.hpp"

#include <limits>

namespace rstmdb::server {

namespace {

protocol::Error field_error(std::string message, std::string_view name) {
  return protocol::bad_request_field(std::move(message), name);
}

}  // namespace

protocol::Error missing_field(std::string_view name) {
  return field_error("invalid request: missing field '" + std::string(name) + "'", name);
}

protocol::Error invalid_type(std::string_view name, std::string_view expected) {
  return field_error("invalid request: invalid type for field '" + std::string(name) + "': expected " +
                         std::string(expected),
                     name);
}

protocol::Error invalid_value(std::string_view name, std::string_view why) {
  return field_error(
      "invalid request: invalid value for field '" + std::string(name) + "': " + std::string(why), name);
}

const boost::json::value* Params::find(std::string_view key) const {
  auto it = params_.find(key);
  if (it == params_.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

const boost::json::value* Params::find(std::string_view canonical, std::string_view alias) const {
  if (auto* v = find(canonical)) return v;
  if (!alias.empty()) return find(alias);
  return nullptr;
}

std::optional<std::string> Params::optional_string(std::string_view key, std::string_view alias) const {
  const auto* v = find(key, alias);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) throw RequestError(invalid_type(key, "string"));
  return std::string(v->get_string());
}

std::string Params::required_string(std::string_view key, std::string_view alias) const {
  auto s = optional_string(key, alias);
  if (!s) throw RequestError(missing_field(key));
  return std::move(*s);
}

std::optional<bool> Params::optional_bool(std::string_view key) const {
  const auto* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) throw RequestError(invalid_type(key, "bool"));
  return v->get_bool();
}

std::optional<std::uint64_t> Params::optional_u64(std::string_view key, std::string_view alias) const {
  const auto* v = find(key, alias);
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  if (v->is_int64()) throw RequestError(invalid_value(key, "must not be negative"));
  throw RequestError(invalid_type(key, "u64"));
}

std::optional<std::uint32_t> Params::optional_u32(std::string_view key) const {
  const auto* v = find(key);
  if (v == nullptr) return std::nullopt;
  std::uint64_t n = 0;
  if (v->is_uint64()) {
    n = v->get_uint64();
  } else if (v->is_int64() && v->get_int64() >= 0) {
    n = static_cast<std::uint64_t>(v->get_int64());
  } else {
    throw RequestError(invalid_type(key, "u32"));
  }
  if (n > std::numeric_limits<std::uint32_t>::max()) {
    throw RequestError(invalid_value(key, "must be at most 4294967295"));
  }
  return static_cast<std::uint32_t>(n);
}

std::uint32_t Params::required_u32(std::string_view key) const {
  auto n = optional_u32(key);
  if (!n) throw RequestError(missing_field(key));
  return *n;
}

std::optional<boost::json::object> Params::optional_object(std::string_view key,
                                                           std::string_view alias) const {
  const auto* v = find(key, alias);
  if (v == nullptr) return std::nullopt;
  if (!v->is_object()) throw RequestError(invalid_type(key, "object"));
  return v->get_object();
}

std::optional<std::vector<std::string>> Params::optional_string_array(std::string_view key) const {
  const auto* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array()) throw RequestError(invalid_type(key, "array of strings"));
  std::vector<std::string> out;
  out.reserve(v->get_array().size());
  for (const auto& item : v->get_array()) {
    if (!item.is_string()) throw RequestError(invalid_type(key, "array of strings"));
    out.emplace_back(item.get_string());
  }
  return out;
}

}  // namespace rstmdb::server
