#!/usr/bin/env bash
# Repeats the engine issue's two throughput targets, interleaved, and prints every run and the
# median: non-durable APPLY_EVENT at 4 connections x 16, and durable (every_write) APPLY_EVENT
# at 32 connections x 1. This VM's speed moves by up to ~30% between runs, so one run says
# little. Usage: [MEMTABLE=ordered|skiplist|both] tools/scripts/perf_targets.sh [BUILD_DIR] [RUNS]
# MEMTABLE sets storage.memtable of the servers it starts (through RSTMDB_MEMTABLE, which
# rstmdb-bench --local passes on); "both" interleaves the two in every run. Default: ordered.
set -euo pipefail
BUILD=${1:-build}
RUNS=${2:-6}
BENCH="$BUILD/tools/bench/rstmdb-bench"
SERVER="$BUILD/server/rstmdbd"
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
MEMTABLE=${MEMTABLE:-ordered}
case "$MEMTABLE" in
  ordered | skiplist) memtables=("$MEMTABLE") ;;
  both) memtables=(ordered skiplist) ;;
  *) echo "MEMTABLE must be ordered, skiplist or both (got '$MEMTABLE')" >&2; exit 2 ;;
esac

ops() {  # memtable, then bench args -> ops/s of the run
  local memtable=$1; shift
  RSTMDB_MEMTABLE=$memtable "$BENCH" --local "$SERVER" -d "$DURATION" --warmup "$WARMUP" "$@" 2>/dev/null |
    awk '$1 == "total" {printf "%.0f\n", $4}'
}

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A never durable
for ((i = 1; i <= RUNS; i++)); do
  for m in "${memtables[@]}"; do
    n=$(ops "$m" --durability never -c 4 -p 16 -w apply_event)
    d=$(ops "$m" --durability every_write -c 32 -p 1 -w apply_event)
    never[$m]+="$n " durable[$m]+="$d "
    echo "run $i, memtable $m: APPLY_EVENT never 4x16 $n/s, every_write 32x1 $d/s"
  done
done
for m in "${memtables[@]}"; do
  echo "median, memtable $m: never 4x16 $(printf '%s\n' ${never[$m]} | median)/s (target 70000)," \
    "every_write 32x1 $(printf '%s\n' ${durable[$m]} | median)/s (target 15000)"
done
