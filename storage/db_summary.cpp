#include "storage/db_summary.hpp"

#include "storage/keys.hpp"
#include "storage/records.hpp"
#include "storage/store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace rstmdb::storage {

namespace {

StorageError status_error(const std::string& what, const rocksdb::Status& s) {
  StorageError::Kind kind = StorageError::Kind::Io;
  if (s.IsCorruption() || s.IsInvalidArgument() || s.IsNotSupported() || s.IsPathNotFound()) {
    kind = StorageError::Kind::Corruption;
  } else if (s.IsNoSpace()) {
    kind = StorageError::Kind::NoSpace;
  }
  return StorageError(what + ": " + s.ToString(), kind);
}

StorageError corrupt(const std::string& db_dir, const std::string& what) {
  return StorageError(db_dir + ": " + what, StorageError::Kind::Corruption);
}

// A read-only handle on every column family, closed on scope exit.
class ReadOnlyDb {
 public:
  ReadOnlyDb(const std::string& db_dir, const SummaryOptions& options) : dir_(db_dir) {
    rocksdb::DBOptions db_options;
    db_options.info_log = make_rocksdb_logger(options.log_sink);
    db_options.max_open_files = options.max_open_files;
    db_options.paranoid_checks = true;
    db_options.skip_stats_update_on_db_open = true;
    std::vector<std::string> present;
    auto s = rocksdb::DB::ListColumnFamilies(db_options, db_dir, &present);
    if (!s.ok()) throw status_error("cannot open " + db_dir, s);
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
    for (std::size_t i = 0; i < kCfCount; ++i) {
      const std::string name(cf_name(static_cast<Cf>(i)));
      if (std::find(present.begin(), present.end(), name) == present.end()) {
        throw corrupt(db_dir, "not an rstmdb-cpp database: no column family \"" + name + "\"");
      }
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* raw = nullptr;
    s = rocksdb::DB::OpenForReadOnly(db_options, db_dir, descriptors, &handles_, &raw);
    if (!s.ok()) throw status_error("cannot open " + db_dir + " read-only", s);
    db_.reset(raw);
  }
  ~ReadOnlyDb() {
    for (auto* h : handles_)
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  ReadOnlyDb(const ReadOnlyDb&) = delete;
  ReadOnlyDb& operator=(const ReadOnlyDb&) = delete;

  rocksdb::DB& db() { return *db_; }
  rocksdb::ColumnFamilyHandle* handle(Cf cf) { return handles_.at(static_cast<std::size_t>(cf) + 1); }

  std::optional<std::uint64_t> meta_u64(std::string_view key) {
    std::string value;
    const auto s =
        db_->Get(rocksdb::ReadOptions(), handle(Cf::Meta), rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) throw status_error("read of meta " + std::string(key) + " in " + dir_, s);
    auto decoded = decode_u64_value(value);
    if (!decoded) throw corrupt(dir_, "meta " + std::string(key) + " is not an 8-byte value");
    return decoded;
  }

  // Visits every key of `cf` in order; `visit` returns false to stop.
  template <typename Visit>
  void scan(Cf cf, const rocksdb::ReadOptions& ro, Visit&& visit) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handle(cf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const auto k = it->key();
      const auto v = it->value();
      if (!visit(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) break;
    }
    if (!it->status().ok())
      throw status_error("scan of " + std::string(cf_name(cf)) + " in " + dir_, it->status());
  }

  std::optional<std::string> last_key(Cf cf, const rocksdb::ReadOptions& ro) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handle(cf)));
    it->SeekToLast();
    if (!it->status().ok())
      throw status_error("scan of " + std::string(cf_name(cf)) + " in " + dir_, it->status());
    if (!it->Valid()) return std::nullopt;
    return it->key().ToString();
  }

 private:
  std::string dir_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // [0] default, then Cf order
  std::unique_ptr<rocksdb::DB> db_;
};

using StateCounts = std::map<std::pair<std::string, std::string>, std::uint64_t>;

void cross_check(ReadOnlyDb& db, const std::string& db_dir, const rocksdb::ReadOptions& ro,
                 const StateCounts& counted, const DbSummary& summary) {
  StateCounts live;
  db.scan(Cf::Instances, ro, [&](std::string_view, std::string_view value) {
    InstanceRecord record;
    if (!decode_instance(value, record)) {
      throw corrupt(db_dir, "an instance record does not decode");
    }
    if (!record.deleted) ++live[{record.machine, record.state}];
    return true;
  });
  // The counts CF keeps zero entries for (machine, state) pairs that were emptied.
  StateCounts nonzero;
  for (const auto& [k, n] : counted) {
    if (n != 0) nonzero.emplace(k, n);
  }
  if (live != nonzero) {
    std::uint64_t total = 0;
    for (const auto& [k, n] : live)
      total += n;
    throw corrupt(db_dir, "instance counters disagree with the instance records (" +
                              std::to_string(summary.instances) + " counted, " + std::to_string(total) +
                              " live records)");
  }
  db.scan(Cf::Machines, ro, [&](std::string_view key, std::string_view value) {
    std::string name;
    std::uint32_t version = 0;
    MachineRecord record;
    if (!decode_machine_key(key, name, version) || !decode_machine(value, record)) {
      throw corrupt(db_dir, "machine record does not decode");
    }
    return true;
  });
  const auto last = db.last_key(Cf::Log, ro);
  const std::uint64_t last_offset = last ? decode_offset_key(*last) : 0;
  if (last && last_offset == 0) throw corrupt(db_dir, "log key is not an offset");
  if (last_offset != summary.latest_offset) {
    throw corrupt(db_dir, "log ends at offset " + std::to_string(last_offset) + " but latest_offset is " +
                              std::to_string(summary.latest_offset));
  }
}

}  // namespace

DbSummary read_db_summary(const std::string& db_dir, const SummaryOptions& options) {
  ReadOnlyDb db(db_dir, options);
  if (options.verify_checksums) {
    const auto s = db.db().VerifyChecksum();
    if (!s.ok()) throw status_error("checksum verification of " + db_dir, s);
  }
  // One snapshot for every read: a read-only DB does not change, but say so anyway.
  const rocksdb::Snapshot* snapshot = db.db().GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.verify_checksums = true;
  DbSummary summary;
  try {
    summary.latest_offset = db.meta_u64(kMetaLatestOffset).value_or(0);
    summary.oldest_offset = db.meta_u64(kMetaOldestOffset).value_or(1);
    db.scan(Cf::Machines, ro, [&](std::string_view, std::string_view) {
      ++summary.machines;
      return true;
    });
    StateCounts counted;
    db.scan(Cf::Counts, ro, [&](std::string_view key, std::string_view value) {
      std::string machine, state;
      const auto n = decode_u64_value(value);
      if (!decode_count_key(key, machine, state) || !n)
        throw corrupt(db_dir, "instance counter does not decode");
      summary.instances += *n;
      counted[{std::move(machine), std::move(state)}] = *n;
      return true;
    });
    if (options.cross_check) cross_check(db, db_dir, ro, counted, summary);
  } catch (...) {
    db.db().ReleaseSnapshot(snapshot);
    throw;
  }
  db.db().ReleaseSnapshot(snapshot);
  return summary;
}

}  // namespace rstmdb::storage
