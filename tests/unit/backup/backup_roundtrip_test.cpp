// Directory, tar and incremental backups of a real store, checked, damaged and restored.
#include "backup/backup_reader.hpp"
#include "backup/backup_writer.hpp"
#include "backup/durable_io.hpp"
#include "backup/incremental.hpp"
#include "backup/restore.hpp"
#include "backup_test_support.hpp"
#include "storage/db_summary.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace rstmdb::backup;
using namespace backup_test;
namespace fs = std::filesystem;
namespace storage = rstmdb::storage;

namespace {

BackupPlan plan_for(const fs::path& checkpoint, std::int64_t created_ms = 1771668930123) {
  BackupPlan plan;
  plan.checkpoint_dir = checkpoint;
  plan.manifest.created_at = iso8601_utc(created_ms);
  plan.manifest.source = {"offline", "/data", "host", "cp"};
  plan.manifest.server_version = "0.1.0";
  plan.manifest.rocksdb_version = "7.8.3";
  return plan;
}

void expect_invalid(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    FAIL("no error");
  } catch (const BackupError& e) {
    CHECK(e.kind() == BackupError::Kind::Invalid);
    CHECK_THAT(e.what(), Catch::Matchers::Contains(fragment));
  }
}

fs::path largest_sst(const fs::path& dir) {
  fs::path best;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".sst" && (best.empty() || fs::file_size(e.path()) > fs::file_size(best)))
      best = e.path();
  }
  REQUIRE_FALSE(best.empty());
  return best;
}

RestoreRequest restore_request(const fs::path& data_dir, const std::string& from) {
  RestoreRequest r;
  r.data_dir = data_dir;
  r.from = from;
  r.store_options = small_options(data_dir);
  return r;
}

// Reads what a restored data directory holds through the store, as the server would.
storage::DbSummary summary_of(const fs::path& data_dir) {
  storage::SummaryOptions o;
  o.cross_check = true;
  return storage::read_db_summary((data_dir / "db").string(), o);
}

}  // namespace

TEST_CASE("a directory backup is complete, checkable and restorable", "[backup]") {
  TempDir tmp;
  FilledStore source(tmp.path() / "data");
  source.fill(3000);
  const fs::path cp = source.checkpoint("cp1");
  source.fill(10);  // after the checkpoint

  std::size_t progress = 0;
  BackupPlan plan = plan_for(cp);
  plan.manifest.label = "nightly";
  plan.after_file = [&](std::size_t n) { progress = n; };
  const WrittenBackup b = write_directory_backup(tmp.path() / "backups", plan, std::nullopt);
  CHECK(b.path == tmp.path() / "backups" / "rstmdb-20260221T101530.123Z-3000");
  CHECK(b.manifest.summary.latest_offset == 3000);
  CHECK(b.manifest.summary.instances == 300);
  CHECK(b.manifest.summary.machines == 1);
  CHECK(progress + 1 == b.manifest.files.size());
  CHECK(b.manifest.label == "nightly");
  CHECK(fs::exists(b.path / "MANIFEST.json"));
  CHECK(read_file(b.path / "FORMAT") == "rstmdb-cpp-data 1\n");
  CHECK(decode_manifest(read_file(b.path / "MANIFEST.json")) == b.manifest);
  for (const auto& e : fs::directory_iterator(tmp.path() / "backups"))
    CHECK_FALSE(e.path().filename().string().starts_with(".tmp-"));

  const VerifyReport full = verify_backup(b.path.string(), false, tmp.path(), {});
  CHECK(full.kind == BackupKind::Directory);
  REQUIRE(full.backups.size() == 1);
  CHECK(full.backups[0] == b.manifest);

  const RestoreResult r = restore_backup(restore_request(tmp.path() / "restored", b.path.string()));
  CHECK(r.manifest == b.manifest);
  CHECK_FALSE(r.previous);
  CHECK_FALSE(r.in_place);
  CHECK(read_file(tmp.path() / "restored" / "FORMAT") == "rstmdb-cpp-data 1\n");
  CHECK_FALSE(fs::exists(tmp.path() / "restored.restore-tmp"));
  CHECK(summary_of(tmp.path() / "restored") == b.manifest.summary);
  auto reopened = open_ok(small_options(tmp.path() / "restored"));
  CHECK(storage::decode_u64_value(*reopened->get(Cf::Meta, kMetaLatestOffset)) == 3000u);
}

TEST_CASE("verify-backup finds every kind of damage", "[backup]") {
  TempDir tmp;
  FilledStore source(tmp.path() / "data");
  source.fill(2000);
  const fs::path cp = source.checkpoint("cp");
  const WrittenBackup b = write_directory_backup(tmp.path() / "backups", plan_for(cp), std::nullopt);
  const fs::path copy = tmp.path() / "copy";
  auto fresh_copy = [&] {
    fs::remove_all(copy);
    fs::copy(b.path, copy, fs::copy_options::recursive);
  };
  auto verify = [&](bool quick) { verify_backup(copy.string(), quick, tmp.path(), {}); };

  SECTION("a flipped byte in an SST") {
    fresh_copy();
    flip_byte(largest_sst(copy / "db"), 1000);
    expect_invalid([&] { verify(true); }, "does not match its SHA-256");
  }
  SECTION("a flipped byte in the manifest's digest") {
    fresh_copy();
    std::string text = read_file(copy / "MANIFEST.json");
    const auto at = text.find("\"sha256\":\"") + 10;
    text[at] = text[at] == '0' ? '1' : '0';
    write_file(copy / "MANIFEST.json", text);
    expect_invalid([&] { verify(true); }, "does not match its SHA-256");
  }
  SECTION("an extra file") {
    fresh_copy();
    write_file(copy / "db" / "000999.sst", "x");
    expect_invalid([&] { verify(true); }, "db/000999.sst is not listed in the manifest");
  }
  SECTION("a missing file") {
    fresh_copy();
    fs::remove(largest_sst(copy / "db"));
    expect_invalid([&] { verify(true); }, "is missing");
  }
  SECTION("a truncated file") {
    fresh_copy();
    const fs::path sst = largest_sst(copy / "db");
    fs::resize_file(sst, fs::file_size(sst) - 1);
    expect_invalid([&] { verify(true); }, "bytes, the manifest says");
  }
  SECTION("a database that does not hold what the manifest says, with matching digests") {
    // Manifest and files agree, but the offsets in the manifest are not those of the data:
    // only the full check (the database opened) can find this.
    fresh_copy();
    Manifest m = decode_manifest(read_file(copy / "MANIFEST.json"));
    m.summary.latest_offset += 1;
    fs::remove(copy / "MANIFEST.json");
    write_file(copy / "MANIFEST.json", encode_manifest(m));
    verify(true);
    expect_invalid([&] { verify(false); }, "the database holds offset 2000");
  }
  SECTION("a damaged SST with a manifest rewritten to match it") {
    fresh_copy();
    const fs::path sst = largest_sst(copy / "db");
    flip_byte(sst, fs::file_size(sst) / 3);
    Manifest m = decode_manifest(read_file(copy / "MANIFEST.json"));
    for (auto& f : m.files) {
      if (f.path == "db/" + sst.filename().string()) f.sha256 = digest_file(sst).sha256;
    }
    write_file(copy / "MANIFEST.json", encode_manifest(m));
    verify(true);
    expect_invalid([&] { verify(false); }, "database check failed");
  }
  SECTION("a directory of backups is not a backup") {
    expect_invalid([&] { verify_backup((tmp.path() / "backups").string(), true, tmp.path(), {}); },
                   "holds 1 backup(s), name one of them");
  }
}

TEST_CASE("verification and restore never write into the backup", "[backup]") {
  TempDir tmp;
  FilledStore source(tmp.path() / "data");
  source.fill(1500);
  const fs::path cp = source.checkpoint("cp");
  source.fill(5);
  const WrittenBackup b = write_directory_backup(tmp.path() / "backups", plan_for(cp), std::nullopt);
  std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> before;
  auto listing = [&] {
    std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> out;
    for (const auto& e : fs::recursive_directory_iterator(b.path)) {
      struct stat st {};
      REQUIRE(::lstat(e.path().c_str(), &st) == 0);
      out[e.path().string()] = {static_cast<std::uintmax_t>(st.st_size),
                                st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
    }
    return out;
  };
  before = listing();
  verify_backup(b.path.string(), false, tmp.path(), {});
  restore_backup(restore_request(tmp.path() / "restored", b.path.string()));
  CHECK(listing() == before);
}

TEST_CASE("a tar backup streams, checks and restores", "[backup]") {
  TempDir tmp;
  FilledStore source(tmp.path() / "data");
  source.fill(2500);
  const fs::path cp = source.checkpoint("cp");
  const fs::path archive = tmp.path() / "b.tar";
  const int fd = ::open(archive.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  const WrittenBackup b = write_tar_backup(fd, "b.tar", plan_for(cp));
  ::close(fd);
  CHECK(b.manifest.summary.latest_offset == 2500);

  const VerifyReport quick = verify_backup(archive.string(), true, tmp.path(), {});
  CHECK(quick.kind == BackupKind::Tar);
  CHECK(quick.backups.at(0) == b.manifest);
  verify_backup(archive.string(), false, tmp.path(), {});
  // The full check's scratch directory is gone.
  for (const auto& e : fs::directory_iterator(tmp.path()))
    CHECK_FALSE(e.path().filename().string().starts_with("rstmdb-verify-"));

  const RestoreResult r = restore_backup(restore_request(tmp.path() / "restored", archive.string()));
  CHECK(summary_of(tmp.path() / "restored") == b.manifest.summary);
  CHECK(r.manifest == b.manifest);

  // Damage in the content: the quick check (digests) already finds it.
  const std::string bytes = read_file(archive);
  std::string damaged = bytes;
  damaged[damaged.size() / 2] ^= 0x10;
  write_file(tmp.path() / "damaged.tar", damaged);
  CHECK_THROWS_AS(verify_backup((tmp.path() / "damaged.tar").string(), true, tmp.path(), {}), BackupError);
  // A damaged archive restores nothing.
  expect_invalid(
      [&] { restore_backup(restore_request(tmp.path() / "other", (tmp.path() / "damaged.tar").string())); },
      "");
  CHECK_FALSE(fs::exists(tmp.path() / "other"));
  CHECK_FALSE(fs::exists(tmp.path() / "other.restore-tmp"));
}

TEST_CASE("keep prunes older backups, and leftovers of killed runs are removed", "[backup]") {
  TempDir tmp;
  FilledStore source(tmp.path() / "data");
  const fs::path dir = tmp.path() / "backups";
  std::vector<fs::path> made;
  for (int i = 0; i < 4; ++i) {
    source.fill(100);
    const fs::path cp = source.checkpoint("cp" + std::to_string(i));
    made.push_back(write_directory_backup(dir, plan_for(cp, 1771668930000 + i), std::nullopt).path);
  }
  fs::create_directories(dir / ".tmp-writing" / "db");  // what a killed run leaves
  write_file(dir / ".tmp-writing" / "db" / "000001.sst", "partial");
  source.fill(100);
  const WrittenBackup b = write_directory_backup(dir, plan_for(source.checkpoint("cp9"), 1771668931000), 2);
  CHECK(b.removed == std::vector<fs::path>{dir / ".tmp-writing"});
  CHECK(b.pruned == std::vector<fs::path>{made[2], made[1], made[0]});
  CHECK(list_backups(dir) == std::vector<fs::path>{b.path, made[3]});
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{".lock", made[3].filename().string(), b.path.filename().string()});
}

TEST_CASE("one run at a time writes to a backup directory", "[backup]") {
  TempDir tmp;
  FilledStore source(tmp.path() / "data");
  source.fill(10);
  const fs::path dir = tmp.path() / "backups";
  fs::create_directories(dir);
  auto held = FileLock::try_lock(dir / ".lock");
  REQUIRE(held);
  try {
    write_directory_backup(dir, plan_for(source.checkpoint("cp")), std::nullopt);
    FAIL("wrote beside another run");
  } catch (const BackupError& e) {
    CHECK(e.kind() == BackupError::Kind::Busy);
  }
}

TEST_CASE("the copy must hold what the server reported", "[backup]") {
  TempDir tmp;
  FilledStore source(tmp.path() / "data");
  source.fill(10);
  BackupPlan plan = plan_for(source.checkpoint("cp"));
  plan.expected = storage::DbSummary{11, 1, 1, 10};
  expect_invalid([&] { write_directory_backup(tmp.path() / "b", plan, std::nullopt); },
                 "server reported offset 11");
  for (const auto& e : fs::directory_iterator(tmp.path() / "b"))
    CHECK_FALSE(e.path().filename().string().starts_with("rstmdb-"));
}

TEST_CASE("incremental backups share files, verify, prune and restore", "[backup]") {
  TempDir tmp;
  FilledStore source(tmp.path() / "data");
  const fs::path repo = tmp.path() / "repo";
  source.fill(2000);
  const IncrementalBackup first =
      write_incremental_backup(repo, plan_for(source.checkpoint("a")), std::nullopt);
  CHECK(is_incremental_repository(repo));
  CHECK(first.metadata.summary.latest_offset == 2000);
  source.fill(50);
  BackupPlan second_plan = plan_for(source.checkpoint("b"));
  second_plan.manifest.label = "second";
  const IncrementalBackup second = write_incremental_backup(repo, second_plan, std::nullopt);
  CHECK(second.id == first.id + 1);
  CHECK(second.metadata.label == "second");

  const VerifyReport report = verify_backup(repo.string(), false, tmp.path(), {});
  CHECK(report.kind == BackupKind::Repository);
  CHECK(report.ids == std::vector<std::uint32_t>{first.id, second.id});
  CHECK(report.backups.at(1).summary.latest_offset == 2050);

  const RestoreResult r = restore_backup(restore_request(tmp.path() / "restored", repo.string()));
  CHECK(r.manifest.summary.latest_offset == 2050);
  CHECK(summary_of(tmp.path() / "restored") == second.metadata.summary);

  source.fill(10);
  const IncrementalBackup third = write_incremental_backup(repo, plan_for(source.checkpoint("c")), 1);
  CHECK(verify_backup(repo.string(), true, tmp.path(), {}).ids == std::vector<std::uint32_t>{third.id});

  // A flipped byte in a shared file fails the checksum verification.
  fs::path shared;
  for (const auto& e : fs::recursive_directory_iterator(repo / "shared_checksum")) {
    if (e.path().extension() == ".sst" && (shared.empty() || fs::file_size(e.path()) > fs::file_size(shared)))
      shared = e.path();
  }
  REQUIRE_FALSE(shared.empty());
  flip_byte(shared, fs::file_size(shared) / 2);
  CHECK_NOTHROW(verify_backup(repo.string(), true, tmp.path(), {}));  // sizes only
  expect_invalid([&] { verify_backup(repo.string(), false, tmp.path(), {}); }, "backup 3");
  expect_invalid([&] { restore_backup(restore_request(tmp.path() / "again", repo.string())); }, "backup 3");
  CHECK_FALSE(fs::exists(tmp.path() / "again"));

  // A directory with other contents is not turned into a repository.
  fs::create_directories(tmp.path() / "other");
  write_file(tmp.path() / "other" / "x", "x");
  try {
    write_incremental_backup(tmp.path() / "other", plan_for(source.checkpoint("d")), std::nullopt);
    FAIL("wrote into a foreign directory");
  } catch (const BackupError& e) {
    CHECK(e.kind() == BackupError::Kind::Exists);
  }
}

TEST_CASE("restore: the lock, --force and the previous contents", "[restore]") {
  TempDir tmp;
  FilledStore source(tmp.path() / "data");
  source.fill(500);
  const WrittenBackup b =
      write_directory_backup(tmp.path() / "backups", plan_for(source.checkpoint("cp")), std::nullopt);

  SECTION("a locked data directory is refused") {
    const fs::path target = tmp.path() / "busy";
    auto running = open_ok(small_options(target));  // a server's store
    try {
      restore_backup(restore_request(target, b.path.string()));
      FAIL("restored beside a running store");
    } catch (const BackupError& e) {
      CHECK(e.kind() == BackupError::Kind::Busy);
      CHECK_THAT(e.what(), Catch::Matchers::Contains("is in use by another rstmdbd (pid"));
    }
  }
  SECTION("a non-empty data directory needs --force and is kept aside") {
    const fs::path target = tmp.path() / "old";
    {
      FilledStore old(target);
      old.fill(7);
    }
    RestoreRequest r = restore_request(target, b.path.string());
    try {
      restore_backup(r);
      FAIL("replaced a data directory without --force");
    } catch (const BackupError& e) {
      CHECK(e.kind() == BackupError::Kind::Exists);
    }
    CHECK(summary_of(target).latest_offset == 7);  // untouched
    r.force = true;
    const RestoreResult done = restore_backup(r);
    REQUIRE(done.previous);
    CHECK(done.previous->string().starts_with(target.string() + ".pre-restore-"));
    CHECK(summary_of(*done.previous).latest_offset == 7);
    CHECK(summary_of(target).latest_offset == 500);
  }
  SECTION("an empty data directory (a fresh volume) is restored into") {
    const fs::path target = tmp.path() / "empty";
    fs::create_directories(target);
    const RestoreResult done = restore_backup(restore_request(target, b.path.string()));
    CHECK_FALSE(done.previous);
    CHECK(summary_of(target).latest_offset == 500);
  }
  SECTION("a leftover staging directory of an interrupted restore is replaced") {
    const fs::path target = tmp.path() / "fresh";
    fs::create_directories(tmp.path() / "fresh.restore-tmp" / "db");
    const RestoreResult done = restore_backup(restore_request(target, b.path.string()));
    CHECK(done.removed_leftover == tmp.path() / "fresh.restore-tmp");
    CHECK(summary_of(target).latest_offset == 500);
  }
}

TEST_CASE("chown specifications", "[restore]") {
  auto owner = parse_owner("0:0");
  REQUIRE(std::holds_alternative<Owner>(owner));
  CHECK(std::get<Owner>(owner).uid == 0);
  auto root = parse_owner("root");
  REQUIRE(std::holds_alternative<Owner>(root));
  CHECK(std::get<Owner>(root).gid == 0);
  CHECK(std::get<std::string>(parse_owner("no-such-user-rstmdb")) ==
        "--chown: no such user: no-such-user-rstmdb");
  CHECK(std::get<std::string>(parse_owner("root:no-such-group-rstmdb")) ==
        "--chown: no such group: no-such-group-rstmdb");
  CHECK(std::get<std::string>(parse_owner(":0")) == "--chown needs a user");
  CHECK(std::get<std::string>(parse_owner("root:")) == "--chown needs a group after ':'");
  CHECK(std::get<Owner>(parse_owner("4242:4343")).gid == 4343u);
}
