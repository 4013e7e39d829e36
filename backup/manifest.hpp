// MANIFEST.json of a directory backup (runtime.md §7.1): what the backup holds and how to check
// it. The same document, without `files`, is the application metadata of each backup in an
// incremental (RocksDB BackupEngine) repository.
//
//   {"format":"rstmdb-cpp-backup","format_version":1,"created_at":"2026-02-21T10:15:30.123Z",
//    "source":{"mode":"online","data_dir":"/var/lib/rstmdb","host":"db1","checkpoint":"…"},
//    "label":null,"server_version":"0.1.0","rocksdb_version":"7.8.3",
//    "latest_offset":123,"oldest_offset":1,"machines":2,"instances":10,
//    "files":[{"path":"FORMAT","size":18,"sha256":"…"},{"path":"db/000012.sst",…},…]}
//
// Offsets and counts are read from the backed-up database itself (storage/db_summary.hpp).
// File paths are relative to the backup directory: "FORMAT" or "db/<RocksDB file name>", so a
// manifest can never point outside its backup.
#pragma once

#include "storage/db_summary.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rstmdb::backup {

inline constexpr std::string_view kManifestFormat = "rstmdb-cpp-backup";
inline constexpr std::int64_t kManifestVersion = 1;
inline constexpr std::string_view kManifestFileName = "MANIFEST.json";
inline constexpr std::string_view kFormatFileName = "FORMAT";
inline constexpr std::string_view kDbDirName = "db";

// Bounds on what a manifest may describe, so that reading one (possibly hostile or damaged)
// cannot exhaust memory: 200 000 files is a database of more than 10 TB at RocksDB's 64 MiB
// SST target, and at about 120 bytes per entry such a manifest is ~24 MiB.
inline constexpr std::size_t kMaxBackupFiles = 200'000;
inline constexpr std::size_t kMaxManifestBytes = 32u << 20;
// A RocksDB file name (000123.sst, MANIFEST-000005, OPTIONS-000011, CURRENT, 000012.log).
inline constexpr std::size_t kMaxFileNameBytes = 255;
// --label: short operator text.
inline constexpr std::size_t kMaxLabelBytes = 256;

struct ManifestFile {
  std::string path;  // "FORMAT" or "db/<name>"
  std::uint64_t size = 0;
  std::string sha256;  // lowercase hex

  bool operator==(const ManifestFile&) const = default;
};

struct BackupSource {
  std::string mode;        // "online" (checkpoint from a running server) or "offline"
  std::string data_dir;    // absolute path of the data directory backed up
  std::string host;        // hostname of the machine the tool ran on
  std::string checkpoint;  // the checkpoint's id

  bool operator==(const BackupSource&) const = default;
};

struct Manifest {
  std::string created_at;  // ISO 8601 UTC with milliseconds
  BackupSource source;
  std::optional<std::string> label;
  std::string server_version;
  std::string rocksdb_version;
  storage::DbSummary summary;
  std::vector<ManifestFile> files;  // empty in incremental metadata

  bool operator==(const Manifest&) const = default;
};

// JSON text, one top-level key per line and one file per line, ending with a newline.
std::string encode_manifest(const Manifest& manifest);

// Parses and checks a manifest: format and format_version, every field's type, offsets and
// counts, file paths (valid_backup_path, no duplicates, FORMAT present when `require_files`),
// sizes and digests; unknown keys are ignored. Throws BackupError (Invalid) naming the problem.
Manifest decode_manifest(std::string_view text, bool require_files = true);

// "FORMAT" or "db/<name>" with a plain RocksDB file name (letters, digits, '.', '_', '-'; not
// "." or ".."; at most kMaxFileNameBytes).
bool valid_backup_path(std::string_view path) noexcept;

// The label rules (--label): at most kMaxLabelBytes of valid UTF-8 without control characters.
// Returns the problem, or "" if the label is acceptable.
std::string label_problem(std::string_view label);

// "2026-02-21T10:15:30.123Z" for a time in milliseconds since the epoch, and the compact form
// used in directory names, "20260221T101530.123Z".
std::string iso8601_utc(std::int64_t unix_ms);
std::string compact_utc(std::int64_t unix_ms);

}  // namespace rstmdb::backup
