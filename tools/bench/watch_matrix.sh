#!/usr/bin/env bash
# The watch workload's matrix (issue 11 items 4 and 8), one table:
#   events/s delivered to 1, 10, 100 and 1 000 WATCH_ALL subscribers while 4 writers apply;
#   the delay from a writer's APPLY_EVENT response to the event's arrival (p50/p99), and
#   from the writer's send of the APPLY_EVENT (never negative);
#   writer throughput with 0, 1 and 100 live subscribers, and with one stalled one.
# Each row is one rstmdb-bench --local run: a fresh rstmdbd on a free loopback port and temp
# data dir. The JSON reports are kept in OUT.
#
# Usage: tools/bench/watch_matrix.sh [BUILD_DIR]
# Environment (defaults): DURATION=10 WARMUP=2 (s; together below the server's 30 s
# network.write_timeout_secs, which closes the stalled subscriber), WRITERS=4, PIPELINE=16,
# DURABILITY=never, INSTANCES=10000, SUB_THREADS=1 (bench threads for the subscribers),
# RATE_1000=500 (the writers' applies/s in all, open loop, in the 1 000-subscriber row),
# OUT=watch-matrix-<time>.
set -euo pipefail
BUILD=${1:-build}
BENCH="$BUILD/tools/bench/rstmdb-bench"
SERVER="$BUILD/server/rstmdbd"
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
WRITERS=${WRITERS:-4}
PIPELINE=${PIPELINE:-16}
DURABILITY=${DURABILITY:-never}
INSTANCES=${INSTANCES:-10000}
SUB_THREADS=${SUB_THREADS:-1}
RATE_1000=${RATE_1000:-500}
OUT=${OUT:-watch-matrix-$(date -u +%Y%m%dT%H%M%SZ)}
for f in "$BENCH" "$SERVER"; do
  [[ -x $f ]] || { echo "watch_matrix: $f not found (build first)" >&2; exit 2; }
done
if awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { exit !(d + w >= 30) }'; then
  echo "watch_matrix: warning: WARMUP + DURATION >= 30 s: the server closes the stalled" \
       "subscriber after network.write_timeout_secs (30 s) without write progress" >&2
fi
mkdir -p "$OUT"

failed=0
run() {  # name, then extra bench args
  local name=$1; shift
  echo "watch_matrix: $name" >&2
  if ! "$BENCH" --local "$SERVER" --durability "$DURABILITY" -w apply_event -c "$WRITERS" \
      -p "$PIPELINE" -d "$DURATION" --warmup "$WARMUP" --instances "$INSTANCES" \
      --subscriber-threads "$SUB_THREADS" --json "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>&1; then
    echo "watch_matrix: $name FAILED (see $OUT/$name.txt)" >&2
    failed=1
  fi
}

run subs-0
for n in 1 10 100; do
  run "subs-$n" --subscribers "$n"
done
# A thousand subscribers of everything need a thousand times the writers' rate: on 2 cores the
# server delivers ~1.3 M events/s in all, so unthrottled writers (tens of thousands/s) would
# leave every subscriber minutes behind and the verification drain would not end. This row's
# writers run open loop at RATE_1000 applies/s in all (events/s delivered = 1 000 x that).
run subs-1000 --subscribers 1000 --rate "$RATE_1000"
run stalled-1 --stalled-subscribers 1

echo "rstmdb-bench watch matrix: $WRITERS writers x pipeline $PIPELINE, durability $DURABILITY," \
     "warmup $WARMUP s + $DURATION s measured, $INSTANCES instances, $SUB_THREADS subscriber thread(s);" \
     "$(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ); JSON in $OUT"
echo
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
rows = [("subs-0", "0 subscribers"), ("subs-1", "1 subscriber"), ("subs-10", "10 subscribers"),
        ("subs-100", "100 subscribers"), ("subs-1000", "1 000 subscribers (writers at RATE_1000/s)"),
        ("stalled-1", "1 stalled subscriber, 0 reading")]
print("| run | writer ops/s | writer p50 ms | writer p99 ms | events/s total | per subscriber "
      "min / median | event p50 ms | event p99 ms | sent→event p50 / p99 ms | drain s | stream errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name, label in rows:
    path = os.path.join(out, name + ".json")
    try:
        r = json.load(open(path))
    except (OSError, ValueError):
        print("| %s | failed | | | | | | | | | |" % label)
        continue
    t = r["total"]
    cells = [label, "%.0f" % t["ops_per_sec"], "%.2f" % (t["latency_us"]["p50"] / 1000),
             "%.2f" % (t["latency_us"]["p99"] / 1000)]
    w = r.get("watch")
    if w and w["subscribers"] > 0:
        per = w["per_subscriber_events_per_sec"]
        cells += ["%.0f" % w["events_per_sec"], "%.0f / %.0f" % (per["min"], per["median"]),
                  "%.2f" % (w["latency_us"]["p50"] / 1000), "%.2f" % (w["latency_us"]["p99"] / 1000),
                  "%.2f / %.2f" % (w["latency_from_send_us"]["p50"] / 1000,
                                   w["latency_from_send_us"]["p99"] / 1000),
                  "%.2f" % w["drain_s"], str(w["errors"])]
    elif w:
        cells += ["–", "–", "–", "–", "–", "–",
                  "stalled connected %d/%d" % (w["stalled_connected_at_end"], w["stalled_subscribers"])]
    else:
        cells += ["–"] * 7
    print("| " + " | ".join(cells) + " |")
PY
exit $failed
