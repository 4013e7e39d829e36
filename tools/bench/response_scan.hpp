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

}  // namespace rstmdb::bench
