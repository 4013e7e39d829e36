#include "protocol/error.hpp"

#include <array>
#include <utility>

namespace rstmdb::protocol {
namespace {

constexpr std::array<std::string_view, kErrorCodeCount> kNames = {
    "UNSUPPORTED_PROTOCOL",
    "BAD_REQUEST",
    "UNAUTHORIZED",
    "AUTH_FAILED",
    "NOT_FOUND",
    "MACHINE_NOT_FOUND",
    "MACHINE_VERSION_EXISTS",
    "MACHINE_VERSION_LIMIT_EXCEEDED",
    "INSTANCE_NOT_FOUND",
    "INSTANCE_EXISTS",
    "INVALID_TRANSITION",
    "GUARD_FAILED",
    "CONFLICT",
    "WAL_IO_ERROR",
    "INTERNAL_ERROR",
    "RATE_LIMITED",
};

static_assert(static_cast<std::size_t>(ErrorCode::RateLimited) + 1 == kErrorCodeCount,
              "kNames must follow the ErrorCode order");

}  // namespace

std::string_view error_code_name(ErrorCode code) noexcept {
  const auto i = static_cast<std::size_t>(code);
  return i < kNames.size() ? kNames[i] : std::string_view("INTERNAL_ERROR");
}

bool error_code_retryable(ErrorCode code) noexcept {
  return code == ErrorCode::WalIoError || code == ErrorCode::InternalError || code == ErrorCode::RateLimited;
}

std::optional<ErrorCode> parse_error_code(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

Error bad_request(std::string message) {
  Error e;
  e.code = ErrorCode::BadRequest;
  e.message = std::move(message);
  return e;
}

Error bad_request_field(std::string message, std::string_view field) {
  Error e = bad_request(std::move(message));
  e.details.emplace("field", field);
  return e;
}

}  // namespace rstmdb::protocol
