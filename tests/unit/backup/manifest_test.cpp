#include "backup/manifest.hpp"
#include "backup/backup_error.hpp"

#include <catch2/catch.hpp>

using namespace rstmdb::backup;

namespace {

Manifest sample() {
  Manifest m;
  m.created_at = "2026-02-21T10:15:30.123Z";
  m.source = {"online", "/var/lib/rstmdb", "db1", "cp-1-1"};
  m.label = "nightly \"quoted\" ünïcode";
  m.server_version = "0.1.0";
  m.rocksdb_version = "7.8.3";
  m.summary = {123, 7, 2, 10};
  m.files = {{"FORMAT", 18, std::string(64, 'a')},
             {"db/000012.sst", 4096, std::string(64, 'b')},
             {"db/MANIFEST-000005", 478, std::string(64, 'c')}};
  return m;
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

void check_invalid(const std::string& text, const std::string& fragment) {
  try {
    decode_manifest(text);
    FAIL("accepted: " << text);
  } catch (const BackupError& e) {
    CHECK(e.kind() == BackupError::Kind::Invalid);
    CHECK_THAT(e.what(), Catch::Matchers::Contains(fragment));
  }
}

}  // namespace

TEST_CASE("a manifest survives encoding and decoding", "[manifest]") {
  const Manifest m = sample();
  const std::string text = encode_manifest(m);
  CHECK(decode_manifest(text) == m);
  // One key per line and one file per line: readable with cat, diffable.
  CHECK_THAT(
      text, Catch::Matchers::StartsWith("{\n  \"format\":\"rstmdb-cpp-backup\",\n  \"format_version\":1,\n"));
  CHECK_THAT(text,
             Catch::Matchers::Contains("\n    {\"path\":\"db/000012.sst\",\"size\":4096,\"sha256\":\"bbbb"));
  CHECK(text.back() == '\n');
  Manifest unlabelled = m;
  unlabelled.label.reset();
  CHECK(decode_manifest(encode_manifest(unlabelled)) == unlabelled);
  CHECK_THAT(encode_manifest(unlabelled), Catch::Matchers::Contains("\"label\":null"));
}

TEST_CASE("incremental metadata has no files", "[manifest]") {
  Manifest m = sample();
  m.files.clear();
  const std::string text = encode_manifest(m);
  CHECK_THROWS_AS(decode_manifest(text), BackupError);  // a directory backup must list FORMAT
  CHECK(decode_manifest(text, false) == m);
}

TEST_CASE("a damaged or foreign manifest is refused with the reason", "[manifest]") {
  const std::string good = encode_manifest(sample());
  check_invalid("", "not valid JSON");
  check_invalid("[]", "not a JSON object");
  check_invalid("{\"format\":1}", "format must be a string");
  check_invalid(replaced(good, "rstmdb-cpp-backup", "rstmdb-backup"), "format is \"rstmdb-backup\"");
  check_invalid(replaced(good, "\"format_version\":1", "\"format_version\":2"),
                "format_version 2 is not supported");
  check_invalid(replaced(good, "\"latest_offset\":123", "\"latest_offset\":-1"),
                "latest_offset must be a non-negative integer");
  check_invalid(replaced(good, "\"oldest_offset\":7", "\"oldest_offset\":0"),
                "oldest_offset must be at least 1");
  check_invalid(replaced(good, "\"machines\":2,", ""), "missing machines");
  check_invalid(replaced(good, "\"label\":\"", "\"label\":[\""), "not valid JSON");
  check_invalid(replaced(good, "\"mode\":\"online\",", ""), "missing source.mode");
  check_invalid(replaced(good, std::string(64, 'b'), std::string(64, 'B')), "sha256 is not 64 lowercase hex");
  check_invalid(replaced(good, std::string(64, 'b'), std::string(63, 'b')), "sha256 is not 64 lowercase hex");
  check_invalid(replaced(good, "\"path\":\"FORMAT\"", "\"path\":\"db/000012.sst\""), "is listed twice");
  check_invalid(replaced(good, "\"path\":\"FORMAT\"", "\"path\":\"db/OPTIONS\""), "does not list FORMAT");
  check_invalid(std::string(kMaxManifestBytes + 1, ' '), "larger than");
  check_invalid("{\"format\":\"\xff\"}", "not valid UTF-8");
  // Paths can never leave the backup directory.
  for (const char* path : {"../etc/passwd", "/etc/passwd", "db/../../x", "db/..", "db/.", "db/a/b", "db/",
                           "dbx/1", "MANIFEST.json", "db/a b", "db/x:y"}) {
    INFO(path);
    CHECK_FALSE(valid_backup_path(path));
    check_invalid(replaced(good, "\"path\":\"db/000012.sst\"", std::string("\"path\":\"") + path + "\""),
                  "path is not FORMAT or db/<file name>");
  }
  CHECK(valid_backup_path("FORMAT"));
  CHECK(valid_backup_path("db/OPTIONS-000011"));
  CHECK(valid_backup_path("db/" + std::string(kMaxFileNameBytes, 'x')));
  CHECK_FALSE(valid_backup_path("db/" + std::string(kMaxFileNameBytes + 1, 'x')));
}

TEST_CASE("labels and timestamps", "[manifest]") {
  CHECK(label_problem("nightly-2026") == "");
  CHECK(label_problem(std::string(kMaxLabelBytes, 'x')) == "");
  CHECK(label_problem(std::string(kMaxLabelBytes + 1, 'x')) == "must be at most 256 bytes");
  CHECK(label_problem("a\nb") == "must not contain control characters");
  CHECK(label_problem("\xc3") == "must be valid UTF-8");
  CHECK(iso8601_utc(0) == "1970-01-01T00:00:00.000Z");
  CHECK(iso8601_utc(1771668930123) == "2026-02-21T10:15:30.123Z");
  CHECK(compact_utc(1771668930123) == "20260221T101530.123Z");
}
