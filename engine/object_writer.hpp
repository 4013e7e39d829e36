// Builds a compact JSON object as text, in the order fields are added, with the string and
// number conventions of protocol/json_text.hpp. Used for change-log entries and results that
// splice stored JSON text (ctx, definitions, entries) without re-parsing it.
#pragma once

#include "protocol/json_text.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace rstmdb::engine {

class ObjectWriter {
 public:
  // Appends '{' to `out`; finish() appends '}'.
  explicit ObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }

  ObjectWriter& string(std::string_view key, std::string_view value) {
    this->key(key);
    protocol::append_json_string(out_, value);
    return *this;
  }
  ObjectWriter& number(std::string_view key, std::uint64_t value) {
    this->key(key);
    out_ += std::to_string(value);
    return *this;
  }
  ObjectWriter& signed_number(std::string_view key, std::int64_t value) {
    this->key(key);
    out_ += std::to_string(value);
    return *this;
  }
  ObjectWriter& boolean(std::string_view key, bool value) {
    this->key(key);
    out_ += value ? "true" : "false";
    return *this;
  }
  // `json` must be one complete compact JSON value.
  ObjectWriter& raw(std::string_view key, std::string_view json) {
    this->key(key);
    out_ += json;
    return *this;
  }
  ObjectWriter& value(std::string_view key, const boost::json::value& v) {
    this->key(key);
    protocol::append_json(out_, v);
    return *this;
  }
  void finish() { out_.push_back('}'); }

 private:
  void key(std::string_view k) {
    if (!first_) out_.push_back(',');
    first_ = false;
    protocol::append_json_string(out_, k);
    out_.push_back(':');
  }

  std::string& out_;
  bool first_ = true;
};

}  // namespace rstmdb::engine
