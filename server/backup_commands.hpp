// `rstmdbd backup`, `rstmdbd verify-backup` and `rstmdbd restore` (runtime.md §7): the command
// line around the backup module (backup/). Each returns the process exit code and reports on
// stderr; stdout carries a one-line summary, or the tar stream of `backup --to -` and nothing
// else.
//
// backup first tries the data-directory lock. Held by a server → online: ADMIN_CHECKPOINT_CREATE
// over the admin socket, copy, ADMIN_CHECKPOINT_RELEASE (backup_completed true after a complete
// copy, which the server records as its last successful backup). Free → offline: this process
// holds the lock throughout, opens the store and checkpoints it itself; it must then run as the
// data directory's owner (opening the store writes files there).
//   exit 0; 74 I/O error or a copy that does not hold what the server reported; 69 the lock is
//   held but the admin socket cannot be reached; 75 another backup writes to DIR, or the server
//   has too many open checkpoints; 77 permission denied; 64 usage.
// verify-backup: exit 0 valid, 65 invalid (anything that stops the check counts as invalid).
// restore: exit 0; 75 a server (or tool) holds the data directory; 65 the backup is not
//   intact; 73 the target is not empty and --force was not given; 74 I/O; 77 permission; 64 usage.
#pragma once

#include "config/command_line.hpp"
#include "config/config.hpp"

namespace rstmdb::server {

int run_backup_command(const config::Config& config, const config::CommandLine& cli);
int run_verify_backup_command(const config::CommandLine& cli);
int run_restore_command(const config::Config& config, const config::CommandLine& cli);

}  // namespace rstmdb::server
