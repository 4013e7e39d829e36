// A cheap, allocation-free look at a response envelope (protocol.md §6.3): enough to match
// it to its request and to tell "ok" from an error code, without building a JSON DOM.
//
// Only the top-level keys `type`, `id` and `status` and the `code` inside `error` are read;
// every other value is skipped by a string- and nesting-aware scan. Key order does not
// matter, but the scan stops as soon as the answer is known, so with the usual order
// (type, id, status, result) the `result` of an ok response is never walked.
//
// String values are returned raw (between the quotes, escapes not decoded), which is all a
// bench needs: its ids are decimal digits and error codes are upper-case ASCII.
#pragma once

#include <cstdint>
#include <string_view>

namespace rstmdb::bench {

struct ResponseSummary {
  std::string_view type;        // "response", "event", "end", ... or empty when absent
  std::string_view id;          // valid when has_id
  std::string_view status;      // "ok" / "error", valid when has_status
  std::string_view error_code;  // error.code when status is "error" and it was present
  bool has_id = false;
  bool has_status = false;

  bool is_response() const noexcept { return type.empty() || type == "response"; }
  bool ok() const noexcept { return has_status && status == "ok"; }
};

// Returns false when `json` is not a well-formed JSON object as far as it was scanned.
bool scan_response(std::string_view json, ResponseSummary& out) noexcept;

// `result.wal_offset` of an ok response (APPLY_EVENT, CREATE_INSTANCE, ...). Returns false when
// it is absent, not an unsigned integer, or the JSON is malformed as far as it was scanned.
bool scan_result_offset(std::string_view json, std::uint64_t& offset) noexcept;

// A server-initiated message (protocol.md §6.5): an event or an end.
struct EventSummary {
  std::string_view type;             // "event", "end", ...
  std::string_view subscription_id;  // raw
  std::string_view instance_id;      // raw; events only
  std::string_view reason;           // raw; end only
  std::uint64_t wal_offset = 0;
  bool has_wal_offset = false;
};

// Reads type, subscription_id, instance_id, wal_offset and reason; stops once an event's
// instance_id and wal_offset are known (before payload and ctx, in the server's key order).
bool scan_event(std::string_view json, EventSummary& out) noexcept;

}  // namespace rstmdb::bench
