// The one error type of the storage module (design.md invariant 9; issue: trustworthy storage).
//
// Every storage failure — a failed RocksDB read, write, WAL sync, flush or compaction, a
// background error, a corrupt record — is a StorageError. It is a std::exception, so a thread
// that lets one escape dies loudly through its own catch (or std::terminate with a message),
// never silently. Functions that return an error instead of throwing return
// std::optional<StorageError>, marked [[nodiscard]].
#pragma once

#include <stdexcept>
#include <string>

namespace rstmdb::storage {

class StorageError : public std::runtime_error {
 public:
  // What went wrong, as far as the caller needs to tell: NoSpace and Io are the disk's
  // fault; Corruption means stored bytes did not decode or failed a checksum.
  enum class Kind { Io, NoSpace, Corruption, Other };

  // `message` is suitable for "storage error: <message>".
  explicit StorageError(const std::string& message, Kind kind = Kind::Io)
      : std::runtime_error(message), kind_(kind) {}

  Kind kind() const noexcept { return kind_; }
  std::string message() const { return what(); }

 private:
  Kind kind_;
};

}  // namespace rstmdb::storage
