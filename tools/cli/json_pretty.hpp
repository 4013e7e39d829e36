// Indented JSON for human output, in the layout upstream's CLI prints (serde_json's pretty
// printer): two-space indent, `"key": value`, one array element per line, `{}` and `[]` for
// empty containers. Scalars and escapes follow protocol/json_text.hpp.
#pragma once

#include <boost/json/value.hpp>

#include <string>

namespace rstmdb::cli {

std::string pretty_json(const boost::json::value& v);

}  // namespace rstmdb::cli
