#!/bin/sh
# Replay of recorded sessions through the whole pipeline: the daemon records a
# simulated ball and scraper session (written as fast as it reads them), then
# massaged-replay runs the XDF files through the chain, the detectors and the
# JSON and ZeroMQ send of every raw and event message (a publisher with no
# subscriber), and reports its main thread's CPU time. Reference in the same
# command: bench_pipeline, the same kinds of session from bytes in memory.
# Usage: bench/replay.sh BUILD_DIR [device seconds]   (default 300)
set -eu
. "$(dirname "$0")/../tools/ini.sh"
build=$1
seconds=${2:-300}
dir=$(mktemp -d /tmp/massaged-replay.XXXXXX)
dpid=""
trap '[ -z "$dpid" ] || kill $dpid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
{
    cat <<INI
[publish]
endpoint = ipc://$dir/pub.sock
[record]
dir = $dir/rec
[history]
db = $dir/history.db
INI
    ini_sim_devices "$dir"
} | ini_write "$dir/rec.ini"
"$build/daemon/massaged" --config "$dir/rec.ini" 2>"$dir/daemon.log" &
dpid=$!
for kind in ball scraper; do
    "$build/tools/massaged-sim" --kind "$kind" --seed 7 --duration "$seconds" --fast \
        --link "$dir/$kind.tty" --quiet --linger 1 >/dev/null &
done
wait %2 %3
kill -TERM "$dpid"
wait "$dpid" || { echo "daemon failed:"; cat "$dir/daemon.log"; exit 1; }
dpid=""
ls "$dir"/rec/massaged-*.xdf > "$dir/files"
echo "recorded: $(wc -l < "$dir/files") file(s), $(du -k "$dir/rec" | cut -f1) kB, ${seconds} s of a ball and a scraper"
for rep in 1 2 3 4 5; do
    # shellcheck disable=SC2046
    "$build/tools/massaged-replay" $(cat "$dir/files") --endpoint "ipc://$dir/replay.sock" \
        2>"$dir/replay.out.$rep" >/dev/null
    tail -1 "$dir/replay.out.$rep"
done
replay=$(sed -n 's/.*(\([0-9.]*\) M samples\/s).*/\1/p' "$dir"/replay.out.* | sort -n | sed -n 3p)
ref=$("$build/bench/bench_pipeline" "$seconds" 5 2>/dev/null |
      sed -n 's/^whole pipeline.*both kinds: \([0-9.]*\) M samples\/s.*/\1/p')
verdict=$(awk -v r="$replay" 'BEGIN { print (r >= 5 ? "met" : "NOT met") }')
echo "replay of the XDF recording (massaged-replay: recorded values into the chain, detectors,"
echo "  JSON and send of every message), median of 5: $replay M samples/s of main-thread CPU,"
echo "  loading the files not counted (target >= 5 M/s: $verdict)"
echo "reference, the same kinds of session as device bytes in memory (bench_pipeline $seconds 5:"
echo "  decode, chain, detectors, JSON; no send): $ref M samples/s"
awk -v r="$replay" -v f="$ref" 'BEGIN { printf "replay from the recording / from bytes in memory: %.2f\n", r / f }'
