#!/bin/sh
# Runs every benchmark and prints each figure against its same-run reference
# (docs/BENCHMARKS.md). Usage: bench/run.sh [build-dir]   (default: build)
# QUICK=1 shortens every part (figures are then noisier); SMOKE=1 runs each
# part for a moment only, to check that it works (tests/e2e/test_bench.py).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
quick=${QUICK:-0}
if [ "${SMOKE:-0}" = 1 ]; then
    replay_s=10 reps=1 stft_n=20000 stft_reps=1 ring_items=200000 ring_reps=1 lat_s=6 scale_s=3 floor_s=4 floor_rounds=1 frame_s=2
    fleet_n=2 fleet_s=3 hist_s=2 hist_dev=300
elif [ "$quick" = 1 ]; then
    replay_s=60 reps=3 stft_n=500000 stft_reps=7 ring_items=2000000 ring_reps=3 lat_s=8 scale_s=5 floor_s=10 floor_rounds=2 frame_s=10
    fleet_n=12 fleet_s=15 hist_s=20 hist_dev=1800
else
    replay_s=300 reps=5 stft_n=2000000 stft_reps=7 ring_items=5000000 ring_reps=5 lat_s=20 scale_s=10 floor_s=4 floor_rounds=40 frame_s=10
    fleet_n=12 fleet_s=60 hist_s=60 hist_dev=3600
fi
b=$build/bench
daemon=$build/daemon/massaged
for f in "$b/bench_pipeline" "$b/bench_latency" "$b/bench_relay" "$b/malloc_count.so" "$daemon"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "missing $f: build first (cmake --build $build)" >&2; exit 1; }
done

echo "== machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Hypervisor vendor):' | sed 's/  */ /g'
echo "kernel $(uname -r); $(${CC:-cc} --version | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== 1. replay through the whole pipeline (bench_pipeline $replay_s $reps)"
"$b/bench_pipeline" "$replay_s" "$reps"

echo
echo "== 1b. replay of an XDF recording the daemon made, by massaged-replay (bench/replay.sh $replay_s)"
"$here/bench/replay.sh" "$build" "$replay_s"

echo
echo "== 2. short-time Fourier stage, kissfft against FFTW (bench_stft $stft_n $stft_reps)"
if [ -x "$b/bench_stft" ]; then "$b/bench_stft" "$stft_n" "$stft_reps"; else echo "bench_stft not built (libfftw3-dev missing)"; fi

echo
echo "== 3. SPSC ring against ck_ring (bench_ring $ring_items $ring_reps)"
if [ -x "$b/bench_ring" ]; then "$b/bench_ring" "$ring_items" "$ring_reps"; else echo "bench_ring not built (libck-dev missing)"; fi

echo
echo "== 4-6. latency, CPU, memory and steady-state allocations at real-time load (bench_latency $lat_s s)"
mc=$(mktemp)
from=3 to=$(awk "BEGIN{print $lat_s - 2}")
BENCH_DAEMON_PRELOAD=$b/malloc_count.so MALLOC_COUNT_OUT=$mc MALLOC_COUNT_FROM=$from \
    MALLOC_COUNT_TO=$to "$b/bench_latency" "$daemon" "$lat_s" | grep -v '^daemon exit'
awk -v win="$from-$to s" '
    /^window_s/ { w = $2; printf "steady-state heap calls in the daemon (%s after start, %.1f s): %.1f allocations/s, of which ZeroMQ (libzmq, libstdc++) %.1f/s and the rest %.1f/s; frees %.1f/s\n", win, w, ($4+$6+$8)/w, $12/w, $14/w, $10/w }
    /^caller/ { print "  other caller: " $0 }' "$mc"
echo "(reference: the raw messages published per second, one per frame: 200/s)"
rm -f "$mc"
echo "the same without the counting shim (its own memory left out of the resident figure):"
"$b/bench_latency" "$daemon" "$lat_s" | grep -E '^(daemon at|  p50|  daemon /)'

echo
echo "== 6b. the same load with [publish] batch_ms (coalescing: CPU against latency), against batch_ms = 0 in the same command"
for ms in 0 50 100; do
    echo "batch_ms = $ms:"
    BENCH_BATCH_MS=$ms "$b/bench_latency" "$daemon" "$lat_s" |
        grep -E '^(  p50|daemon at|  CPU per frame|  host clock)'
done

echo
echo "== 6c. the same load recorded to XDF ([record] dir), against recording off in the same command"
for rec in 0 1; do
    if [ "$rec" = 1 ]; then echo "recording on:"; else echo "recording off:"; fi
    BENCH_RECORD=$rec "$b/bench_latency" "$daemon" "$lat_s" |
        grep -E '^(  p50|daemon at|  CPU per frame|recording:)'
done

echo
echo "== 7. scaling with 1, 2, 4 and 8 balls at 1 kHz ($scale_s s each)"
printf '%-8s %10s %10s %12s %10s %10s %10s %10s %12s %14s\n' devices samples/s cpu_% cpu_%/device rss_kB anon_kB p99_ms ref_p99 samples_lost ring+pub_drop

for n in 1 2 4 8; do
    line=$("$b/bench_latency" "$daemon" "$scale_s" "$n" | grep '^RESULT')
    set -- $line
    # RESULT devices N samples_per_s S p50_ms . p99_ms . max_ms . cpu_pct C rss_kb R sent . received . samples_lost L ring_dropped D publish_dropped P ref_p50_ms . ref_p99_ms .
    cpu=${13}; rss=${15}; p99=${9}; lost=${21}; ring=${23}; pub=${25}; ref99=${29}; anon=${31}
    per=$(awk "BEGIN{printf \"%.3f\", $cpu / $n}")
    printf '%-8s %10s %10s %12s %10s %10s %10s %10s %12s %14s\n' "$n" "$5" "$cpu" "$per" "$rss" "$anon" "$p99" "$ref99" "$lost" "$((ring + pub))"
done
echo "(linear growth: cpu_%/device stays near the 1-device figure; everything lost or dropped must be 0)"

echo
echo "== 8. idle: one device unplugged, one silent port (bench/idle.sh)"
"$here/bench/idle.sh" "$daemon" "$lat_s"

echo
echo "== 9. the floor: the daemon against a one-thread relay, each alone on the same streams, alternating (bench/floor.sh $floor_s s, $floor_rounds rounds)"
"$here/bench/floor.sh" "$build" "$floor_s" "$floor_rounds"
echo "where the daemon's own work goes at real time: each frame alone, warm and cold (bench_pipeline $frame_s --per-frame)"
"$b/bench_pipeline" "$frame_s" --per-frame

echo
echo "== 10. MQTT fleet: $fleet_n daemons with a simulated ball and scraper each, one Mosquitto broker (bench/fleet.py, $fleet_s s)"
/usr/bin/python3 "$here/bench/fleet.py" --build "$build" --daemons "$fleet_n" --seconds "$fleet_s"

echo
echo "== 11. history of sessions: CPU and memory with [history] db against without, same run; the database's size per session (bench/history.py, $hist_s s)"
/usr/bin/python3 "$here/bench/history.py" --build "$build" --seconds "$hist_s" --device-s "$hist_dev"
echo
echo "== 12. resident memory in the default configuration (history on), by mapping (bench/memory.py, $hist_s s)"
/usr/bin/python3 "$here/bench/memory.py" --seconds "$hist_s" "$build"
