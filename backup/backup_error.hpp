// The one error type of the backup module (backup, verify-backup, restore: runtime.md §7).
//
// Each kind is one outcome the command line reports with its own exit code (runtime.md §5.8,
// §7; the mapping is server/backup_commands.cpp): the module says what went wrong, the caller
// decides how the process ends.
#pragma once

#include <stdexcept>
#include <string>

namespace rstmdb::backup {

class BackupError : public std::runtime_error {
 public:
  enum class Kind {
    Invalid,      // 65: the backup (or the data it holds) is not intact or not ours
    Io,           // 74: reading or writing files failed
    Busy,         // 75: a data directory or backup directory is in use by another process
    Unavailable,  // 69: the server's admin socket cannot be reached
    Exists,       // 73: the target is not empty and --force was not given
    Permission,   // 77: ownership or permissions forbid the operation
  };

  BackupError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

}  // namespace rstmdb::backup
