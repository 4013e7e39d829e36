#include "protocol/error.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace rstmdb::protocol;

TEST_CASE("error code names follow protocol.md §6.4", "[error]") {
  const std::pair<ErrorCode, std::string_view> table[] = {
      {ErrorCode::UnsupportedProtocol, "UNSUPPORTED_PROTOCOL"},
      {ErrorCode::BadRequest, "BAD_REQUEST"},
      {ErrorCode::Unauthorized, "UNAUTHORIZED"},
      {ErrorCode::AuthFailed, "AUTH_FAILED"},
      {ErrorCode::NotFound, "NOT_FOUND"},
      {ErrorCode::MachineNotFound, "MACHINE_NOT_FOUND"},
      {ErrorCode::MachineVersionExists, "MACHINE_VERSION_EXISTS"},
      {ErrorCode::MachineVersionLimitExceeded, "MACHINE_VERSION_LIMIT_EXCEEDED"},
      {ErrorCode::InstanceNotFound, "INSTANCE_NOT_FOUND"},
      {ErrorCode::InstanceExists, "INSTANCE_EXISTS"},
      {ErrorCode::InvalidTransition, "INVALID_TRANSITION"},
      {ErrorCode::GuardFailed, "GUARD_FAILED"},
      {ErrorCode::Conflict, "CONFLICT"},
      {ErrorCode::WalIoError, "WAL_IO_ERROR"},
      {ErrorCode::InternalError, "INTERNAL_ERROR"},
      {ErrorCode::RateLimited, "RATE_LIMITED"},
  };
  static_assert(std::size(table) == kErrorCodeCount);
  std::set<std::string_view> seen;
  for (const auto& [code, name] : table) {
    CHECK(error_code_name(code) == name);
    CHECK(parse_error_code(name) == code);
    seen.insert(name);
  }
  CHECK(seen.size() == kErrorCodeCount);
  CHECK_FALSE(parse_error_code("bad_request"));
  CHECK_FALSE(parse_error_code(""));
  CHECK_FALSE(parse_error_code("BAD_REQUEST "));
}

TEST_CASE("retryable is fixed by the code", "[error]") {
  for (std::size_t i = 0; i < kErrorCodeCount; ++i) {
    const auto code = static_cast<ErrorCode>(i);
    const bool expected =
        code == ErrorCode::WalIoError || code == ErrorCode::InternalError || code == ErrorCode::RateLimited;
    CAPTURE(error_code_name(code));
    CHECK(error_code_retryable(code) == expected);
  }
}

TEST_CASE("bad_request helpers", "[error]") {
  Error e = bad_request("invalid request: x");
  CHECK(e.code == ErrorCode::BadRequest);
  CHECK(e.message == "invalid request: x");
  CHECK(e.details.empty());
  Error f = bad_request_field("invalid type for field 'limit': expected integer", "limit");
  CHECK(f.code == ErrorCode::BadRequest);
  REQUIRE(f.details.size() == 1);
  CHECK(f.details.at("field") == "limit");
  CHECK(Error{}.code == ErrorCode::InternalError);
}
