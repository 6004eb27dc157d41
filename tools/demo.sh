#!/bin/bash
# The main job: builds massaged and runs it against two simulated devices (a
# massage ball and a scraping tool, each on its own pseudo-terminal), printing
# what the daemon publishes. Runs until Ctrl-C, or for DEMO_SECONDS seconds.
# Usage: tools/demo.sh [--raw]   (--raw also shows the raw sample messages)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/ini.sh
tools/deps.sh --runtime
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

run=$(mktemp -d /tmp/massaged-demo.XXXXXX)
pids=()
daemon_pid=""
cleanup() {
  # The daemon first: its stop ends the treatment sessions still open and
  # writes them to the history, which massaged-history then lists.
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    echo >&2
    echo "treatment sessions in the history ($run/history.db, docs/HISTORY.md):" >&2
    build/tools/massaged-history --db "$run/history.db" list >&2 || true
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo files (config, daemon log, simulator ground truth) are in $run" >&2
}
trap cleanup EXIT
trap 'exit 0' INT TERM

endpoint=${DEMO_ENDPOINT:-ipc://$run/pub.sock}
web_listen=${DEMO_WEB_LISTEN:-127.0.0.1:8080}
{
  cat <<INI
[publish]
endpoint = $endpoint

[web]
listen = $web_listen

[session]
; short for the demo (default 120): the scraper's session ends 5 s after
; its simulated unplugging at 8 s, while the demo runs
idle_s = 5

[history]
db = $run/history.db

INI
  ini_sim_devices "$run"
} | ini_write "$run/massaged.ini"

build/tools/massaged-sim --kind ball --seed 1 --link "$run/ball.tty" \
  --truth "$run/ball.truth.jsonl" --quiet >"$run/ball.sim.log" 2>&1 &
pids+=($!)
build/tools/massaged-sim --kind scraper --seed 2 --link "$run/scraper.tty" \
  --pause-at 8 --pause-for 10 \
  --truth "$run/scraper.truth.jsonl" --quiet >"$run/scraper.sim.log" 2>&1 &
pids+=($!)
build/daemon/massaged --config "$run/massaged.ini" 2>"$run/massaged.log" &
daemon_pid=$!
# The live dashboard (docs/DASHBOARD.md), a subscriber like any other.
build/tools/massaged-web --config "$run/massaged.ini" 2>"$run/massaged-web.log" &
pids+=($!)
echo "live dashboard: http://$web_listen/ (log: $run/massaged-web.log)" >&2

topics=(--brief --topic event. --topic status.)
[ "${1:-}" = "--raw" ] && topics=()
echo "massaged is running with a simulated ball and scraper; events from $endpoint:" >&2
echo "(the scraper is unplugged from 8 s to 18 s: its session ends, it reconnects, and" \
  "its status counts the 10 s it did not send, 5000 samples, in samples_lost)" >&2
if [ -n "${DEMO_SECONDS:-}" ]; then
  timeout --foreground "$DEMO_SECONDS" build/tools/massaged-sub --endpoint "$endpoint" \
    "${topics[@]}" || true
else
  build/tools/massaged-sub --endpoint "$endpoint" "${topics[@]}" || true
fi
