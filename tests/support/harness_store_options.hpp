// The Store options of the power-cut and storage-fault tests (storage and engine level): the
// smallest write buffer (1 MiB in all, 512 KiB per column family), so flushes and compactions
// happen within a few rounds of load and faults and cuts land in them too; a small block cache
// and file budget. Header-only: the storage tests do not link the engine harness.
#pragma once

#include "storage/store.hpp"

#include <rocksdb/env.h>

#include <filesystem>

namespace rstmdb::test {

// Options for a Store on `data_dir` over `env` (FaultFs's, or nullptr for the default).
inline storage::StoreOptions harness_store_options(const std::filesystem::path& data_dir,
                                                   storage::MemtableKind memtable, rocksdb::Env* env) {
  storage::StoreOptions o;
  o.data_dir = data_dir.string();
  o.block_cache_mb = 8;
  o.max_open_files = 256;
  o.write_buffer_mb = 1;
  o.memtable = memtable;
  o.env = env;
  return o;
}

}  // namespace rstmdb::test
