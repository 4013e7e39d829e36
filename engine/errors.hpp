// The errors engine operations answer with (operations.md per op, protocol.md §6.4), and the
// way an operation stops early: it throws OpFailure, which the write pipeline turns into that
// request's error reply (nothing the request staged is kept).
#pragma once

#include "protocol/error.hpp"
#include "storage/storage_error.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace rstmdb::engine {

// Thrown inside an operation to answer it with `error`.
struct OpFailure {
  protocol::Error error;
};

[[noreturn]] void fail(protocol::ErrorCode code, std::string message, boost::json::object details = {});

protocol::Error instance_not_found(const std::string& id);
protocol::Error machine_not_found(const std::string& machine, std::uint32_t version);

// WAL_IO_ERROR "storage error: <what>": a read or write that failed.
protocol::Error storage_failure(const storage::StorageError& e);
// WAL_IO_ERROR for a write whose group was being written when storage failed: its batch may or
// may not be on disk, and RocksDB's recovery at the next start decides.
protocol::Error outcome_unknown(const storage::StorageError& cause);
// WAL_IO_ERROR for a write never attempted because storage had already failed.
protocol::Error not_applied(const storage::StorageError& cause);

// BAD_REQUEST when an encoded change-log entry exceeds protocol::kMaxLogEntryBytes.
void check_entry_size(std::size_t size);

}  // namespace rstmdb::engine
