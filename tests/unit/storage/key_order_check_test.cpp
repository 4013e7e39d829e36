// The comparator check of the ordered memtable (storage/key_order_check.hpp): which orders it
// accepts, that RocksDB refuses a column family with another comparator at DB::Open, and that
// the factory will not create a memtable for a comparator that disagrees.
#include "storage/key_order_check.hpp"
#include "storage/ordered_memtable.hpp"
#include "support/temp_dir.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/comparator.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <catch2/catch.hpp>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

using rstmdb::storage::bytewise_internal_order_mismatch;
using rstmdb::storage::bytewise_user_order_mismatch;
using rstmdb::storage::OrderedMemTableFactory;

namespace {

// A user-key order that is not bytewise, under any name.
class NamedComparator : public rocksdb::Comparator {
 public:
  enum class Order { Bytewise, Reverse, Signed, CaseFolded };
  NamedComparator(const char* name, Order order) : name_(name), order_(order) {}
  const char* Name() const override { return name_; }
  int Compare(const rocksdb::Slice& a, const rocksdb::Slice& b) const override {
    switch (order_) {
      case Order::Bytewise:
        return a.compare(b);
      case Order::Reverse:
        return b.compare(a);
      case Order::Signed:
      case Order::CaseFolded:
        break;
    }
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
      int x = static_cast<signed char>(a[i]);
      int y = static_cast<signed char>(b[i]);
      if (order_ == Order::CaseFolded) {
        x = std::tolower(static_cast<unsigned char>(a[i]));
        y = std::tolower(static_cast<unsigned char>(b[i]));
      }
      if (x != y) return x < y ? -1 : 1;
    }
    return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
  }
  void FindShortestSeparator(std::string*, const rocksdb::Slice&) const override {}
  void FindShortSuccessor(std::string*) const override {}

 private:
  const char* name_;
  Order order_;
};

// A memtable comparator in the shape RocksDB hands to CreateMemTableRep (length-prefixed
// internal keys), built from a user-key order and a tag order.
class TestKeyComparator final : public rocksdb::MemTableRep::KeyComparator {
 public:
  enum class Tags { Descending, Ascending, BigEndianDescending, Ignored };
  TestKeyComparator(const rocksdb::Comparator* user, Tags tags) : user_(user), tags_(tags) {}

  int operator()(const char* a, const char* b) const override {
    return compare(rocksdb::GetLengthPrefixedSlice(a), rocksdb::GetLengthPrefixedSlice(b));
  }
  int operator()(const char* a, const rocksdb::Slice& b) const override {
    return compare(rocksdb::GetLengthPrefixedSlice(a), b);
  }

 private:
  int compare(const rocksdb::Slice& a, const rocksdb::Slice& b) const {
    const rocksdb::Slice ua(a.data(), a.size() - 8);
    const rocksdb::Slice ub(b.data(), b.size() - 8);
    if (const int r = user_->Compare(ua, ub); r != 0) return r;
    const std::uint64_t ta = tag(a), tb = tag(b);
    switch (tags_) {
      case Tags::Descending:
      case Tags::BigEndianDescending:
        return ta > tb ? -1 : ta < tb ? 1 : 0;
      case Tags::Ascending:
        return ta < tb ? -1 : ta > tb ? 1 : 0;
      case Tags::Ignored:
        return 0;
    }
    return 0;
  }
  std::uint64_t tag(const rocksdb::Slice& k) const {
    std::uint64_t t = 0;
    for (int i = 0; i < 8; ++i) {
      const auto byte = static_cast<std::uint64_t>(static_cast<unsigned char>(k[k.size() - 8 + i]));
      t |= tags_ == Tags::BigEndianDescending ? byte << (8 * (7 - i)) : byte << (8 * i);
    }
    return t;
  }
  const rocksdb::Comparator* user_;
  Tags tags_;
};

using rstmdb::test::TempDir;
// Each test's directory: a TempDir named rstmdb-keyorder-test-*.
constexpr const char* kTempPrefix = "rstmdb-keyorder-test";

// Opens a DB whose "probe" column family uses `cmp` and `factory`; returns the status (and
// closes the DB again if it opened).
rocksdb::Status open_with(const TempDir& dir, const rocksdb::Comparator* cmp,
                          std::shared_ptr<rocksdb::MemTableRepFactory> factory) {
  rocksdb::DBOptions db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.allow_concurrent_memtable_write = false;
  rocksdb::ColumnFamilyOptions plain;
  plain.memtable_factory = std::make_shared<OrderedMemTableFactory>();
  rocksdb::ColumnFamilyOptions probe;
  probe.comparator = cmp;
  probe.memtable_factory = std::move(factory);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, plain},
                                                      {"probe", probe}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(db, (dir.path() / "db").string(), cfs, &handles, &raw);
  if (raw != nullptr) {
    for (auto* h : handles)
      REQUIRE(raw->DestroyColumnFamilyHandle(h).ok());
    delete raw;
  }
  return s;
}

}  // namespace

TEST_CASE("key order check: RocksDB's bytewise comparator is the only user-key order accepted") {
  CHECK_FALSE(bytewise_user_order_mismatch(*rocksdb::BytewiseComparator()));

  const auto reverse = bytewise_user_order_mismatch(*rocksdb::ReverseBytewiseComparator());
  REQUIRE(reverse);
  CHECK(*reverse == "comparator \"rocksdb.ReverseBytewiseComparator\" is not \"leveldb.BytewiseComparator\"");

  // Under the bytewise name, the probes catch each wrong order.
  const char* const kName = "leveldb.BytewiseComparator";
  using Order = NamedComparator::Order;
  const auto reversed = bytewise_user_order_mismatch(NamedComparator(kName, Order::Reverse));
  REQUIRE(reversed);
  CHECK(*reversed == "comparator \"leveldb.BytewiseComparator\" orders \"\" after \"\\x00\"");
  const auto signed_bytes = bytewise_user_order_mismatch(NamedComparator(kName, Order::Signed));
  REQUIRE(signed_bytes);
  CHECK(signed_bytes->find("after") != std::string::npos);
  const auto folded = bytewise_user_order_mismatch(NamedComparator(kName, Order::CaseFolded));
  REQUIRE(folded);
  CHECK(folded->find("\"A\" equal to \"a\"") != std::string::npos);
  CHECK_FALSE(bytewise_user_order_mismatch(NamedComparator(kName, Order::Bytewise)));

  // The right order under another name is still refused: a probe set cannot prove equality.
  const auto renamed = bytewise_user_order_mismatch(NamedComparator("my.Bytewise", Order::Bytewise));
  REQUIRE(renamed);
  CHECK(*renamed == "comparator \"my.Bytewise\" is not \"leveldb.BytewiseComparator\"");
}

TEST_CASE("key order check: the memtable comparator must order internal keys bytewise, newest first") {
  using Tags = TestKeyComparator::Tags;
  const rocksdb::Comparator* bytewise = rocksdb::BytewiseComparator();
  CHECK_FALSE(bytewise_internal_order_mismatch(TestKeyComparator(bytewise, Tags::Descending)));

  const auto reverse = bytewise_internal_order_mismatch(
      TestKeyComparator(rocksdb::ReverseBytewiseComparator(), Tags::Descending));
  REQUIRE(reverse);
  CHECK(*reverse ==
        "the memtable comparator orders \"\" (sequence 72057594037927935, type 1) after \"\\x00\" "
        "(sequence 1099511627776, type 1)");
  const NamedComparator signed_order("x", NamedComparator::Order::Signed);
  CHECK(bytewise_internal_order_mismatch(TestKeyComparator(&signed_order, Tags::Descending)));
  const auto ascending = bytewise_internal_order_mismatch(TestKeyComparator(bytewise, Tags::Ascending));
  REQUIRE(ascending);
  CHECK(ascending->find("(sequence 72057594037927935, type 1) after \"\" (sequence 1099511627776, type 1)") !=
        std::string::npos);
  CHECK(bytewise_internal_order_mismatch(TestKeyComparator(bytewise, Tags::BigEndianDescending)));
  CHECK(bytewise_internal_order_mismatch(TestKeyComparator(bytewise, Tags::Ignored)));
}

TEST_CASE(
    "key order check: DB::Open refuses a column family with another comparator on the ordered memtable") {
  TempDir dir(kTempPrefix);
  const rocksdb::Status refused =
      open_with(dir, rocksdb::ReverseBytewiseComparator(), std::make_shared<OrderedMemTableFactory>());
  INFO(refused.ToString());
  CHECK(refused.IsInvalidArgument());
  CHECK(refused.ToString().find("the ordered memtable (storage.memtable=ordered) requires RocksDB's bytewise "
                                "comparator, but the column family's comparator "
                                "\"rocksdb.ReverseBytewiseComparator\" is not") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "db" / "CURRENT"));  // refused before creating anything

  // RocksDB's skip list takes any comparator, and ours takes the bytewise one.
  const rocksdb::Status skiplist =
      open_with(dir, rocksdb::ReverseBytewiseComparator(), std::make_shared<rocksdb::SkipListFactory>());
  INFO(skiplist.ToString());
  CHECK(skiplist.ok());
  TempDir other(kTempPrefix);
  const rocksdb::Status ordered =
      open_with(other, rocksdb::BytewiseComparator(), std::make_shared<OrderedMemTableFactory>());
  INFO(ordered.ToString());
  CHECK(ordered.ok());
}

TEST_CASE("key order check: the factory creates no memtable for a comparator that disagrees") {
  OrderedMemTableFactory factory;
  const TestKeyComparator good(rocksdb::BytewiseComparator(), TestKeyComparator::Tags::Descending);
  std::unique_ptr<rocksdb::MemTableRep> rep(factory.CreateMemTableRep(good, nullptr, nullptr, nullptr));
  CHECK(rep != nullptr);

  // A refusal is fatal (RocksDB has no error path there): run it in a child process.
  int err[2];
  REQUIRE(::pipe(err) == 0);
  std::cout.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // not Catch's handler, which would report a failure here
    ::dup2(err[1], STDERR_FILENO);
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    const TestKeyComparator bad(rocksdb::ReverseBytewiseComparator(), TestKeyComparator::Tags::Descending);
    delete factory.CreateMemTableRep(bad, nullptr, nullptr, nullptr);
    ::_exit(0);
  }
  ::close(err[1]);
  std::string output;
  char buf[512];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;)
    output.append(buf, static_cast<std::size_t>(n));
  ::close(err[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO(output);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(output.find("rstmdbd: fatal: the ordered memtable (storage.memtable=ordered) requires the bytewise "
                    "internal-key order, but the memtable comparator orders") != std::string::npos);
}
