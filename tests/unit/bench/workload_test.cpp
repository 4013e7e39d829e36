#include "tools/bench/workload.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <random>
#include <string>
#include <variant>

using namespace rstmdb::bench;

namespace {

WorkloadMix parse_ok(std::string_view text) {
  auto r = WorkloadMix::parse(text);
  if (auto* err = std::get_if<std::string>(&r)) FAIL("unexpected error for '" << text << "': " << *err);
  return std::get<WorkloadMix>(std::move(r));
}

std::string parse_error(std::string_view text) {
  auto r = WorkloadMix::parse(text);
  REQUIRE(std::holds_alternative<std::string>(r));
  return std::get<std::string>(r);
}

}  // namespace

TEST_CASE("op names round-trip", "[workload]") {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const auto op = static_cast<Op>(i);
    CHECK(op_from_name(op_name(op)) == op);
  }
  CHECK(op_from_name("APPLY_EVENT") == Op::ApplyEvent);
  CHECK(op_from_name("Lifecycle") == Op::Lifecycle);
  CHECK_FALSE(op_from_name("put_machine").has_value());
  CHECK_FALSE(op_from_name("").has_value());
  CHECK(op_name_list().find("wal_stats") != std::string::npos);
}

TEST_CASE("workload mix parses weights", "[workload]") {
  const WorkloadMix m = parse_ok("apply_event=70,get_instance=30");
  REQUIRE(m.entries().size() == 2);
  CHECK(m.entries()[0].op == Op::ApplyEvent);
  CHECK(m.entries()[0].weight == 70);
  CHECK(m.entries()[1].op == Op::GetInstance);
  CHECK(m.entries()[1].weight == 30);
  CHECK(m.total_weight() == 100);
  CHECK(m.to_string() == "apply_event=70,get_instance=30");
  CHECK(m.contains(Op::GetInstance));
  CHECK_FALSE(m.contains(Op::Ping));
}

TEST_CASE("workload mix defaults, whitespace, case and zero weights", "[workload]") {
  CHECK(parse_ok("apply_event").to_string() == "apply_event=1");
  CHECK(parse_ok(" Ping = 3 , wal_stats ").to_string() == "ping=3,wal_stats=1");
  CHECK(parse_ok("lifecycle=1,ping=0").to_string() == "lifecycle=1");  // weight 0 drops the op
  CHECK_FALSE(parse_ok("lifecycle=1,ping=0").contains(Op::Ping));
  CHECK(parse_ok("ping=1000000").total_weight() == 1'000'000);
}

TEST_CASE("workload mix rejects bad input", "[workload]") {
  CHECK(parse_error("").find("empty") != std::string::npos);
  CHECK(parse_error("   ").find("empty") != std::string::npos);
  CHECK(parse_error("ping,,wal_stats").find("empty entry") != std::string::npos);
  CHECK(parse_error("ping,").find("empty entry") != std::string::npos);
  CHECK(parse_error("nosuchop=3").find("unknown op 'nosuchop'") != std::string::npos);
  CHECK(parse_error("put_machine").find("unknown op") != std::string::npos);
  CHECK(parse_error("ping=1,PING=2").find("twice") != std::string::npos);
  CHECK(parse_error("ping=").find("invalid weight") != std::string::npos);
  CHECK(parse_error("ping=-1").find("invalid weight") != std::string::npos);
  CHECK(parse_error("ping=1.5").find("invalid weight") != std::string::npos);
  CHECK(parse_error("ping=abc").find("invalid weight") != std::string::npos);
  CHECK(parse_error("ping=1000001").find("invalid weight") != std::string::npos);
  CHECK(parse_error("ping=99999999999999999999").find("invalid weight") != std::string::npos);
  CHECK(parse_error("ping=0,wal_stats=0").find("0") != std::string::npos);
}

TEST_CASE("workload mix picks ops in proportion to their weights", "[workload]") {
  const WorkloadMix m = parse_ok("apply_event=70,get_instance=20,ping=10");
  std::mt19937_64 rng(1);
  std::array<int, kOpCount> seen{};
  constexpr int kDraws = 200'000;
  for (int i = 0; i < kDraws; ++i)
    ++seen[static_cast<std::size_t>(m.pick(rng()))];
  CHECK(seen[static_cast<std::size_t>(Op::ApplyEvent)] / double(kDraws) == Approx(0.70).margin(0.01));
  CHECK(seen[static_cast<std::size_t>(Op::GetInstance)] / double(kDraws) == Approx(0.20).margin(0.01));
  CHECK(seen[static_cast<std::size_t>(Op::Ping)] / double(kDraws) == Approx(0.10).margin(0.01));
  CHECK(seen[static_cast<std::size_t>(Op::Lifecycle)] == 0);

  // The ends of the random range map to the first and last op.
  CHECK(m.pick(0) == Op::ApplyEvent);
  CHECK(m.pick(UINT64_MAX) == Op::Ping);
  CHECK(parse_ok("wal_read").pick(12345) == Op::WalRead);
}

TEST_CASE("op classification", "[workload]") {
  CHECK(op_uses_working_set(Op::ApplyEvent));
  CHECK(op_uses_working_set(Op::GetInstance));
  CHECK_FALSE(op_uses_working_set(Op::Lifecycle));
  CHECK(op_uses_machine(Op::Lifecycle));
  CHECK(op_uses_machine(Op::CreateInstance));
  CHECK_FALSE(op_uses_machine(Op::Ping));
  CHECK_FALSE(op_uses_machine(Op::WalStats));
}
