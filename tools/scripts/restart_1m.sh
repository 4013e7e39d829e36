#!/usr/bin/env bash
# Measures restart time and RSS with N instances (default 1 000 000).
# Usage: tools/scripts/restart_1m.sh [BUILD_DIR] [N]
set -euo pipefail
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-1000000}
DIR=$(mktemp -d)
trap 'pkill -TERM -f "rstmdbd --bind 127.0.0.1:0 --data-dir $DIR/data" 2>/dev/null || true; rm -rf "$DIR"' EXIT
cd "$DIR"

start() {  # starts rstmdbd, waits for "ready", prints the port
  "$BUILD/server/rstmdbd" --bind 127.0.0.1:0 --data-dir "$DIR/data" "$@" > "$DIR/server.log" 2>&1 &
  for _ in $(seq 1 600); do grep -q "ready in" "$DIR/server.log" && break; sleep 0.05; done
  grep -oP 'listening on 127.0.0.1:\K\d+' "$DIR/server.log"
}
stop() {
  local pid; pid=$(pgrep -f "rstmdbd --bind 127.0.0.1:0 --data-dir $DIR/data")
  echo "RSS $(grep VmRSS /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
  kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

port=$(start --set storage.fsync_policy=never)
python3 "$SCRIPTS/load_instances.py" "127.0.0.1:$port" "$N" | sed 's/^/load: /'
echo -n "after loading: "; stop
for i in 1 2 3; do
  port=$(start)
  echo "restart $i: $(grep -oP 'storage: opened .*' "$DIR/server.log"); $(grep -oP 'ready in \d+ ms' "$DIR/server.log")"
  echo -n "  idle after restart: "; stop
done
echo "data dir: $(du -sh "$DIR/data" | cut -f1)"
