#!/bin/sh
# The daemon against the floor: the same real-time streams (a ball at 1 kHz
# and a scraper at 500 Hz through ptys, bench_latency) played to the daemon
# and to bench_relay, the simplest program that does the job (one thread
# polling the ports and handing each frame to ZeroMQ), one after the other,
# alternating, for several rounds. Each run is alone on the streams (no
# reference stream beside it: BENCH_REF=0). Prints every run's CPU share
# (scheduler time of all threads), wake-ups per second (context switches of
# all threads, per thread), latency from the pty write to a subscriber and
# resident memory, then each round's daemon/relay ratios, their median,
# middle half (quartiles) and whole spread, against the targets of
# docs/BENCHMARKS.md "The floor". Many short rounds rather than a few long
# ones: a burst of the machine's other load lands in one round's pair, and
# the median of the per-round ratios passes over it.
# Usage: bench/floor.sh [build-dir] [seconds] [rounds]   (default build, 10, 12)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
seconds=${2:-10}
rounds=${3:-12}
daemon=$build/daemon/massaged
relay=$build/bench/bench_relay
for f in "$build/bench/bench_latency" "$relay" "$daemon"; do
    [ -x "$f" ] || { echo "missing $f: build first (cmake --build $build)" >&2; exit 1; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run() { # run ROUND NAME PROGRAM
    BENCH_REF=0 "$build/bench/bench_latency" "$2" "$seconds" > "$out.run"
    grep -E '^  [^ ]+ threads' "$out.run" | sed "s/^  /  round $1: /"
    echo "$1 $(basename "$2") $(grep '^RESULT' "$out.run")" >> "$out"
    rm -f "$out.run"
}

echo "$rounds rounds of $seconds s each, daemon and relay alternating (load average $(cut -d' ' -f1-3 /proc/loadavg)):"
r=1
while [ "$r" -le "$rounds" ]; do
    if [ $((r % 2)) = 1 ]; then run $r "$daemon"; run $r "$relay"
    else run $r "$relay"; run $r "$daemon"; fi
    r=$((r + 1))
done

# RESULT fields by name: ROUND PROGRAM RESULT key value key value ...
awk '
function field(line, key,   n, a, i) {
    n = split(line, a, " ")
    for (i = 4; i < n; i += 2) if (a[i] == key) return a[i + 1]
    return "nan"
}
# The q-quantile of v[1..n] (0.5 the median), interpolated between the
# sorted values.
function quantile(v, n, q,   i, j, t, s, x, k) {
    for (i = 1; i <= n; i++) s[i] = v[i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && s[j - 1] > s[j]; j--) { t = s[j]; s[j] = s[j - 1]; s[j - 1] = t }
    x = 1 + q * (n - 1); k = int(x)
    return k >= n ? s[n] : s[k] + (x - k) * (s[k + 1] - s[k])
}
function median(v, n) { return quantile(v, n, 0.5) }
function middle(v, n) { return sprintf("%.2f-%.2f", quantile(v, n, 0.25), quantile(v, n, 0.75)) }
function spread(v, n,   i, lo, hi) {
    lo = hi = v[1]
    for (i = 2; i <= n; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i] }
    return sprintf("%.2f-%.2f", lo, hi)
}
{
    who = ($2 == "bench_relay") ? "relay" : "daemon"
    cpu[who, $1] = field($0, "cpu_pct"); wk[who, $1] = field($0, "wakeups_per_s")
    p50[who, $1] = field($0, "p50_ms"); p99[who, $1] = field($0, "p99_ms")
    rss[who, $1] = field($0, "rss_kb"); lost[who, $1] = field($0, "samples_lost") + field($0, "ring_dropped") + field($0, "publish_dropped")
    sent[who, $1] = field($0, "sent"); got[who, $1] = field($0, "received")
    if ($1 > rounds) rounds = $1
}
END {
    printf "\n%-6s %-7s %8s %10s %8s %8s %8s %8s %14s\n", "round", "program", "cpu_%", "wake-ups/s", "p50_ms", "p99_ms", "rss_kB", "lost", "received/sent"
    for (r = 1; r <= rounds; r++) for (k = 0; k < 2; k++) {
        w = k ? "relay" : "daemon"
        printf "%-6s %-7s %8.3f %10.0f %8.3f %8.3f %8d %8d %14s\n", r, w, cpu[w, r], wk[w, r], p50[w, r], p99[w, r], rss[w, r], lost[w, r], got[w, r] "/" sent[w, r]
        c[w, r] = cpu[w, r]
    }
    for (r = 1; r <= rounds; r++) {
        rc[r] = cpu["daemon", r] / cpu["relay", r]; rw[r] = wk["daemon", r] / wk["relay", r]
        dp99[r] = p99["daemon", r] - p99["relay", r]
        dc[r] = cpu["daemon", r]; rlc[r] = cpu["relay", r]; dw[r] = wk["daemon", r]; rlw[r] = wk["relay", r]
        d50[r] = p50["daemon", r]; r50[r] = p50["relay", r]; d99[r] = p99["daemon", r]; r99[r] = p99["relay", r]
        if (rss["daemon", r] > maxrss) maxrss = rss["daemon", r]
    }
    printf "\nmedians over %d rounds (spread min-max):\n", rounds
    printf "  CPU %% of one core:   daemon %.3f (%s)   relay %.3f (%s)\n", median(dc, rounds), spread(dc, rounds), median(rlc, rounds), spread(rlc, rounds)
    printf "  wake-ups per second: daemon %.0f   relay %.0f\n", median(dw, rounds), median(rlw, rounds)
    printf "  latency p50 ms:      daemon %.3f   relay %.3f\n", median(d50, rounds), median(r50, rounds)
    printf "  latency p99 ms:      daemon %.3f   relay %.3f\n", median(d99, rounds), median(r99, rounds)
    mc = median(rc, rounds); mw = median(rw, rounds); m99 = median(dp99, rounds)
    printf "daemon / relay, each round against the relay of the same round:\n"
    printf "  CPU       %.2f (middle half %s, rounds %s)   target <= 1.1: %s\n", mc, middle(rc, rounds), spread(rc, rounds), mc <= 1.1 ? "met" : "NOT met"
    printf "  CPU, lower quartile of each program shares: %.2f (other load on the machine only adds CPU: a cross-check, not the verdict)\n", quantile(dc, rounds, 0.25) / quantile(rlc, rounds, 0.25)
    printf "  wake-ups  %.2f (middle half %s, rounds %s)   target <= 1.1: %s\n", mw, middle(rw, rounds), spread(rw, rounds), mw <= 1.1 ? "met" : "NOT met"
    printf "  p99 daemon - relay %+.3f ms (rounds %s)   target <= +0.5 ms: %s\n", m99, spread(dp99, rounds), m99 <= 0.5 ? "met" : "NOT met"
    printf "  daemon resident memory, largest %d kB   target <= 8192 kB: %s\n", maxrss, maxrss <= 8192 ? "met" : "NOT met"
    printf "  CPU ratio of every round:"
    for (r = 1; r <= rounds; r++) printf " %.2f", rc[r]
    printf "\n"
    printf "FLOOR cpu_ratio %.3f wakeup_ratio %.3f p99_excess_ms %.3f rss_kb %d\n", mc, mw, m99, maxrss
}' "$out"
