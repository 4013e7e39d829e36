#include "engine/errors.hpp"

#include "protocol/frame.hpp"

namespace rstmdb::engine {

using protocol::Error;
using protocol::ErrorCode;

void fail(ErrorCode code, std::string message, boost::json::object details) {
  throw OpFailure{Error{code, std::move(message), std::move(details)}};
}

Error instance_not_found(const std::string& id) {
  boost::json::object d;
  d["instance_id"] = id;
  return Error{ErrorCode::InstanceNotFound, "instance not found: " + id, std::move(d)};
}

Error machine_not_found(const std::string& machine, std::uint32_t version) {
  boost::json::object d;
  d["machine"] = machine;
  d["version"] = version;
  return Error{ErrorCode::MachineNotFound,
               "machine version not found: " + machine + " v" + std::to_string(version), std::move(d)};
}

Error storage_failure(const storage::StorageError& e) {
  return Error{ErrorCode::WalIoError, "storage error: " + e.message(), {}};
}

Error outcome_unknown(const storage::StorageError& cause) {
  return Error{
      ErrorCode::WalIoError,
      "storage error: " + cause.message() +
          "; the outcome of this write is unknown (the server stops; read it back after it restarts)",
      {}};
}

Error not_applied(const storage::StorageError& cause) {
  return Error{ErrorCode::WalIoError,
               "storage error: writes stopped after a storage failure (" + cause.message() +
                   "); this write was not applied",
               {}};
}

void check_entry_size(std::size_t size) {
  if (size > protocol::kMaxLogEntryBytes) {
    fail(ErrorCode::BadRequest, "change-log entry too large (" + std::to_string(size) + " bytes, max " +
                                    std::to_string(protocol::kMaxLogEntryBytes) + ")");
  }
}

}  // namespace rstmdb::engine
