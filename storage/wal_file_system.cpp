#include "storage/wal_file_system.hpp"

#include <string_view>

namespace rstmdb::storage {

bool WalSizeExtendingFileSystem::is_wal_file(const std::string& fname) {
  const std::string_view name(fname);
  const auto slash = name.find_last_of('/');
  const std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  constexpr std::string_view kSuffix = ".log";
  if (base.size() <= kSuffix.size() || !base.ends_with(kSuffix)) return false;
  for (char c : base.substr(0, base.size() - kSuffix.size())) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

rocksdb::IOStatus WalSizeExtendingFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  if (!is_wal_file(fname)) return target()->NewWritableFile(fname, file_opts, result, dbg);
  rocksdb::FileOptions wal_opts(file_opts);
  wal_opts.fallocate_with_keep_size = false;
  return target()->NewWritableFile(fname, wal_opts, result, dbg);
}

std::unique_ptr<rocksdb::Env> make_store_env(rocksdb::Env* base) {
  const std::shared_ptr<rocksdb::FileSystem> base_fs =
      base != nullptr ? base->GetFileSystem() : rocksdb::FileSystem::Default();
  return rocksdb::NewCompositeEnv(std::make_shared<WalSizeExtendingFileSystem>(base_fs));
}

}  // namespace rstmdb::storage
