#include "server/batch_errors.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using rstmdb::protocol::ErrorCode;
using rstmdb::server::for_each_batch_element_error;

namespace {

std::vector<ErrorCode> errors_of(std::string_view text) {
  std::vector<ErrorCode> out;
  for_each_batch_element_error(text, [&](ErrorCode c) { out.push_back(c); });
  return out;
}

}  // namespace

TEST_CASE("batch errors: each failed element's code, in order", "[server][metrics]") {
  CHECK(errors_of(
            R"({"results":[{"status":"ok","result":{"a":1}},{"status":"error","error":{"code":)"
            R"("INVALID_TRANSITION","message":"x"}},{"status":"error","error":{"code":"NOT_FOUND"}}]})") ==
        std::vector<ErrorCode>{ErrorCode::InvalidTransition, ErrorCode::NotFound});
}

TEST_CASE("batch errors: nothing inside a result is mistaken for an element", "[server][metrics]") {
  // A ctx that holds an error-shaped object, quotes and brackets in strings.
  CHECK(errors_of(R"({"results":[{"status":"ok","result":{"ctx":{"x":[{"status":"error","error":{"code":)"
                  R"("CONFLICT"}}],"s":"\"}]{[\\"}}},{"status":"ok","result":{}}]})")
            .empty());
  CHECK(errors_of(R"({"results":[]})").empty());
  CHECK(errors_of("").empty());
  CHECK(errors_of(R"({"status":"error","error":{"code":"CONFLICT"}})").empty());
  // Cut text: the elements before the cut only.
  CHECK(errors_of(R"({"results":[{"status":"error","error":{"code":"CONFLICT"}},{"status":"err)") ==
        std::vector<ErrorCode>{ErrorCode::Conflict});
  // An unknown code is not counted.
  CHECK(errors_of(R"({"results":[{"status":"error","error":{"code":"FROB"}}]})").empty());
}

TEST_CASE("result texts: a top-level unsigned member, never one of a nested value", "[server][metrics]") {
  using rstmdb::server::top_level_uint;
  CHECK(top_level_uint(R"({"instance_id":"a","state":"s","wal_offset":12})", "wal_offset") == 12u);
  CHECK(top_level_uint(
            R"({"from_state":"a","ctx":{"wal_offset":99,"x":[1,{"wal_offset":5}]},"s":"\"wal_offset\":7",)"
            R"("wal_offset":3,"applied":true})",
            "wal_offset") == 3u);
  CHECK(!top_level_uint(R"({"ctx":{"wal_offset":99}})", "wal_offset"));
  CHECK(!top_level_uint(R"({"wal_offset":-1})", "wal_offset"));
  CHECK(!top_level_uint(R"({"wal_offset":"5"})", "wal_offset"));
  CHECK(!top_level_uint(R"({"wal_offset":1.5})", "wal_offset"));
  CHECK(!top_level_uint("", "wal_offset"));
  CHECK(!top_level_uint(R"({"a":)", "wal_offset"));
}
