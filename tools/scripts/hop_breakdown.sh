#!/usr/bin/env bash
# Splits one connection's request time (1 x 1) by hop: the client's mean round trip from
# rstmdb-bench against the server's own histograms, scraped from /metrics after the run —
# rstmdb_request_duration_seconds (decode to reply queued) and
# rstmdb_wal_write_duration_seconds (a commit group's storage write, the sync included under
# every_write). What is left is loopback, the reply's write and the client.
# Usage: tools/scripts/hop_breakdown.sh [BUILD_DIR] [POLICY] [WORKLOAD]
#   e.g. tools/scripts/hop_breakdown.sh build every_write apply_event
set -euo pipefail
BUILD=${1:-build}
POLICY=${2:-never}
WORKLOAD=${3:-apply_event}
DURATION=${DURATION:-4}
BENCH="$BUILD/tools/bench/rstmdb-bench"
SERVER="$BUILD/server/rstmdbd"

dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
metrics_port=$((port + 1))
RSTMDB_BIND=127.0.0.1:$port RSTMDB_DATA=$dir/data RSTMDB_FSYNC_POLICY=$POLICY \
  RSTMDB_METRICS_ENABLED=true RSTMDB_METRICS_BIND=127.0.0.1:$metrics_port "$SERVER" >"$dir/log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
ready=false
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$metrics_port/ready" >/dev/null && ready=true && break
  sleep 0.1
done
if ! $ready; then
  echo "hop_breakdown: rstmdbd not ready on 127.0.0.1:$metrics_port within 10 s; its output:" >&2
  cat "$dir/log" >&2
  exit 1
fi
"$BENCH" -s "127.0.0.1:$port" -c 1 -p 1 -d "$DURATION" --warmup 1 --durability "$POLICY" -w "$WORKLOAD" >"$dir/bench"
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$dir/metrics"

awk '$1 == "total" {printf "client: %s/s, mean %.1f us, p50 %.1f us\n", $4, $6 * 1000, $7 * 1000}' "$dir/bench"
op=$(echo "$WORKLOAD" | tr '[:lower:]' '[:upper:]')
awk -v op="$op" '
  index($0, "rstmdb_request_duration_seconds_sum{operation=\"" op "\"") == 1 {rs = $2}
  index($0, "rstmdb_request_duration_seconds_count{operation=\"" op "\"") == 1 {rc = $2}
  /^rstmdb_wal_write_duration_seconds_sum/ {ws = $2}
  /^rstmdb_wal_write_duration_seconds_count/ {wc = $2}
  END {
    printf "server: request (decode to reply queued) mean %.1f us over %d; group write mean %.1f us over %d\n",
      rc ? rs / rc * 1e6 : 0, rc, wc ? ws / wc * 1e6 : 0, wc
  }' "$dir/metrics"
