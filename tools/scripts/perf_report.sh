#!/usr/bin/env bash
# Reproduces the README's performance table.
# Usage: [MEMTABLE=ordered|skiplist] tools/scripts/perf_report.sh [BUILD_DIR]
# Each run starts a fresh rstmdbd (bench --local) on a free loopback port and temp data dir,
# with storage.memtable = MEMTABLE (default ordered; passed on as RSTMDB_MEMTABLE).
set -euo pipefail
BUILD=${1:-build}
BENCH="$BUILD/tools/bench/rstmdb-bench"
SERVER="$BUILD/server/rstmdbd"
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
MEMTABLE=${MEMTABLE:-ordered}
case "$MEMTABLE" in
  ordered | skiplist) export RSTMDB_MEMTABLE=$MEMTABLE ;;
  *) echo "MEMTABLE must be ordered or skiplist (got '$MEMTABLE')" >&2; exit 2 ;;
esac

run() {  # label, then bench args
  local label=$1; shift
  local line
  line=$("$BENCH" --local "$SERVER" -d "$DURATION" --warmup "$WARMUP" "$@" 2>/dev/null | grep '^total')
  # total count errors ops/s min mean p50 p90 p99 p99.9 max
  awk -v l="$label" '{printf "| %-44s | %9.0f | %6.2f | %6.2f |\n", l, $4, $7, $9}' <<<"$line"
}

echo "memtable: $MEMTABLE"
echo
echo "| workload | ops/s | p50 ms | p99 ms |"
echo "|---|---|---|---|"
for c in 1 8 32 128; do
  run "APPLY_EVENT every_write, $c conn x 1" --durability every_write -c "$c" -p 1 -w apply_event
done
for op in apply_event create_instance get_instance ping; do
  run "${op^^} never, 4 conn x 16" --durability never -c 4 -p 16 -w "$op"
done
