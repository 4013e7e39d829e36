// The 16 RCP error codes (protocol.md §6.4) and the error value every module returns.
#pragma once

#include <boost/json/object.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rstmdb::protocol {

// Order is the table order of protocol.md §6.4. Never add a code: clients deserialize
// `code` into a closed enum and an unknown value kills their read loop.
enum class ErrorCode : unsigned char {
  UnsupportedProtocol,
  BadRequest,
  Unauthorized,
  AuthFailed,
  NotFound,
  MachineNotFound,
  MachineVersionExists,
  MachineVersionLimitExceeded,
  InstanceNotFound,
  InstanceExists,
  InvalidTransition,
  GuardFailed,
  Conflict,
  WalIoError,
  InternalError,
  RateLimited,
};

inline constexpr std::size_t kErrorCodeCount = 16;

// Wire name, e.g. "INSTANCE_NOT_FOUND".
std::string_view error_code_name(ErrorCode code) noexcept;

// Fixed by the code: true only for WAL_IO_ERROR, INTERNAL_ERROR and RATE_LIMITED.
bool error_code_retryable(ErrorCode code) noexcept;

// Inverse of error_code_name; nullopt for anything that is not one of the 16 names.
std::optional<ErrorCode> parse_error_code(std::string_view name) noexcept;

// An error as it travels between modules and onto the wire. `details` is written only
// when it has at least one key (protocol.md §6.4).
struct Error {
  ErrorCode code = ErrorCode::InternalError;
  std::string message;
  boost::json::object details;
};

// Convenience constructors for the common shapes.
Error bad_request(std::string message);
// BAD_REQUEST with details {"field": field}.
Error bad_request_field(std::string message, std::string_view field);

}  // namespace rstmdb::protocol
