#!/bin/sh
# The daemon against the floor: the same real-time streams (a ball at 1 kHz
# and a scraper at 500 Hz through ptys, bench_latency) played to the daemon
# and to bench_relay, the simplest program that does the job (one thread
# polling the ports and handing each frame to ZeroMQ), one after the other,
# alternating, for many short rounds. Each run is alone on the streams (no
# reference stream beside it: BENCH_REF=0), and every run (the streams'
# writer, the program and its threads) is pinned to the same CPU(s), so a
# frame wakes the program where it was written. Prints every run's CPU share
# (scheduler time of all threads, /proc/PID/task/*/schedstat), wake-ups per
# second (context switches of all threads, per thread), latency from the pty
# write to a subscriber, resident memory and the steal time /proc/stat
# reported meanwhile, then each round's daemon/relay ratios, their median,
# middle half (quartiles) and whole spread, and for the CPU ratio a 95 %
# confidence interval of the median: the verdict is "met" only when its
# upper end is <= 1.1, "NOT met" when its lower end is > 1.1, "undecided"
# otherwise. Rounds with steal time are left out of the verdict (kept if
# fewer than 6 would remain, and said so).
# Usage: bench/floor.sh [build-dir] [seconds] [rounds]   (default build, 4, 40)
# FLOOR_CPUS: the CPU list to pin to (taskset -c); default the last CPU;
# empty: no pinning.
# FLOOR_RELAY: another program in the relay's place, e.g. the daemon of
# another revision: the same rounds then compare two daemons (A/B; the
# verdict line's target does not apply).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
seconds=${2:-4}
rounds=${3:-40}
cpus=${FLOOR_CPUS-$(($(nproc) - 1))}
pin=""
[ -n "$cpus" ] && pin="taskset -c $cpus"
daemon=$build/daemon/massaged
relay=${FLOOR_RELAY:-$build/bench/bench_relay}
for f in "$build/bench/bench_latency" "$relay" "$daemon"; do
    [ -x "$f" ] || { echo "missing $f: build first (cmake --build $build)" >&2; exit 1; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT

steal() { awk '/^cpu /{print $9; exit}' /proc/stat; } # all CPUs, in USER_HZ ticks

run() { # run ROUND PROGRAM ROLE (daemon or relay)
    s0=$(steal)
    BENCH_REF=0 $pin "$build/bench/bench_latency" "$2" "$seconds" > "$out.run"
    s1=$(steal)
    grep -E '^  [^ ]+ threads' "$out.run" | sed "s/^  /  round $1: /"
    echo "$1 $3 $(grep '^RESULT' "$out.run") steal_ticks $((s1 - s0))" >> "$out"
    rm -f "$out.run"
}

echo "$rounds rounds of $seconds s each, daemon and relay alternating, pinned to CPU(s) ${cpus:-none} (load average $(cut -d' ' -f1-3 /proc/loadavg), steal $(steal) ticks since boot):"
r=1
while [ "$r" -le "$rounds" ]; do
    if [ $((r % 2)) = 1 ]; then run $r "$daemon" daemon; run $r "$relay" relay
    else run $r "$relay" relay; run $r "$daemon" daemon; fi
    r=$((r + 1))
done

# RESULT fields by name: ROUND ROLE RESULT key value key value ...
awk '
function field(line, key,   n, a, i) {
    n = split(line, a, " ")
    for (i = 4; i < n; i += 2) if (a[i] == key) return a[i + 1]
    return "nan"
}
# s[1..n] = v[1..n] sorted.
function sorted(v, n, s,   i, j, t) {
    for (i = 1; i <= n; i++) s[i] = v[i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && s[j - 1] > s[j]; j--) { t = s[j]; s[j] = s[j - 1]; s[j - 1] = t }
}
# The q-quantile of v[1..n] (0.5 the median), interpolated between the
# sorted values.
function quantile(v, n, q,   s, x, k) {
    sorted(v, n, s)
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
# A confidence interval of at least 95 % for the median of v[1..n], free of
# any assumption on the rounds distribution but their independence: the
# k-th smallest and k-th largest values, k the largest with
# P(Binomial(n, 1/2) <= k - 1) <= 0.025 (each value is under the true
# median with probability 1/2). Sets ci_lo, ci_hi and ci_level; with fewer
# than 6 values there is none (the whole real line).
function median_ci(v, n,   s, k, p, cdf, i) {
    sorted(v, n, s)
    p = 0.5 ^ n; cdf = p; k = 0
    for (i = 0; cdf <= 0.025 && i < n; ) { k = i + 1; p = p * (n - i) / (i + 1); i++; cdf += p }
    # k is now the number of values that may be cut from each end
    if (k < 1) { ci_lo = -1e300; ci_hi = 1e300; ci_level = 0; return }
    ci_lo = s[k]; ci_hi = s[n + 1 - k]
    p = 0.5 ^ n; cdf = p
    for (i = 0; i < k - 1; i++) { p = p * (n - i) / (i + 1); cdf += p }
    ci_level = 1 - 2 * cdf
}
{
    who = $2
    cpu[who, $1] = field($0, "cpu_pct"); wk[who, $1] = field($0, "wakeups_per_s")
    p50[who, $1] = field($0, "p50_ms"); p99[who, $1] = field($0, "p99_ms")
    rss[who, $1] = field($0, "rss_kb"); lost[who, $1] = field($0, "samples_lost") + field($0, "ring_dropped") + field($0, "publish_dropped")
    sent[who, $1] = field($0, "sent"); got[who, $1] = field($0, "received")
    steal[$1] += field($0, "steal_ticks")
    if ($1 > rounds) rounds = $1
}
END {
    printf "\n%-6s %-7s %8s %10s %8s %8s %8s %8s %14s\n", "round", "program", "cpu_%", "wake-ups/s", "p50_ms", "p99_ms", "rss_kB", "lost", "received/sent"
    for (r = 1; r <= rounds; r++) for (k = 0; k < 2; k++) {
        w = k ? "relay" : "daemon"
        printf "%-6s %-7s %8.3f %10.0f %8.3f %8.3f %8d %8d %14s\n", r, w, cpu[w, r], wk[w, r], p50[w, r], p99[w, r], rss[w, r], lost[w, r], got[w, r] "/" sent[w, r]
    }
    for (r = 1; r <= rounds; r++) {
        rc[r] = cpu["daemon", r] / cpu["relay", r]; rw[r] = wk["daemon", r] / wk["relay", r]
        dp99[r] = p99["daemon", r] - p99["relay", r]
        dc[r] = cpu["daemon", r]; rlc[r] = cpu["relay", r]; dw[r] = wk["daemon", r]; rlw[r] = wk["relay", r]
        d50[r] = p50["daemon", r]; r50[r] = p50["relay", r]; d99[r] = p99["daemon", r]; r99[r] = p99["relay", r]
        if (rss["daemon", r] > maxrss) maxrss = rss["daemon", r]
        if (steal[r] > 0) stolen++
        else clean[++n_clean] = rc[r]
    }
    # The verdict: the rounds without steal time, unless fewer than 6.
    if (n_clean >= 6) { n_v = n_clean; for (r = 1; r <= n_v; r++) v[r] = clean[r]; which = "rounds without steal" }
    else { n_v = rounds; for (r = 1; r <= n_v; r++) v[r] = rc[r]; which = stolen ? "every round, too few without steal" : "every round" }
    printf "\nmedians over %d rounds (spread min-max):\n", rounds
    printf "  CPU %% of one core:   daemon %.3f (%s)   relay %.3f (%s)\n", median(dc, rounds), spread(dc, rounds), median(rlc, rounds), spread(rlc, rounds)
    printf "  wake-ups per second: daemon %.0f   relay %.0f\n", median(dw, rounds), median(rlw, rounds)
    printf "  latency p50 ms:      daemon %.3f   relay %.3f\n", median(d50, rounds), median(r50, rounds)
    printf "  latency p99 ms:      daemon %.3f   relay %.3f\n", median(d99, rounds), median(r99, rounds)
    printf "  rounds with steal time (/proc/stat): %d of %d\n", stolen, rounds
    mc = median(v, n_v); mw = median(rw, rounds); m99 = median(dp99, rounds)
    median_ci(v, n_v)
    verdict = ci_hi <= 1.1 ? "met" : (ci_lo > 1.1 ? "NOT met" : "undecided")
    printf "daemon / relay, each round against the relay of the same round:\n"
    if (ci_level > 0)
        printf "  CPU       %.2f (%.1f %% confidence interval of the median %.2f-%.2f, %d %s; middle half %s, rounds %s)   target <= 1.1: %s\n", mc, 100 * ci_level, ci_lo, ci_hi, n_v, which, middle(v, n_v), spread(v, n_v), verdict
    else
        printf "  CPU       %.2f (no confidence interval from %d rounds: 6 at least; middle half %s, rounds %s)   target <= 1.1: %s\n", mc, n_v, middle(v, n_v), spread(v, n_v), verdict
    printf "  CPU, lower quartile of each program shares: %.2f (other load on the machine only adds CPU: a cross-check, not the verdict)\n", quantile(dc, rounds, 0.25) / quantile(rlc, rounds, 0.25)
    printf "  wake-ups  %.2f (middle half %s, rounds %s)   target <= 1.1: %s\n", mw, middle(rw, rounds), spread(rw, rounds), mw <= 1.1 ? "met" : "NOT met"
    printf "  p99 daemon - relay %+.3f ms (rounds %s)   target <= +0.5 ms: %s\n", m99, spread(dp99, rounds), m99 <= 0.5 ? "met" : "NOT met"
    printf "  daemon resident memory, largest %d kB   target <= 8192 kB: %s\n", maxrss, maxrss <= 8192 ? "met" : "NOT met"
    printf "  CPU ratio of every round (* with steal time):"
    for (r = 1; r <= rounds; r++) printf " %.2f%s", rc[r], (steal[r] > 0 ? "*" : "")
    printf "\n"
    printf "FLOOR cpu_ratio %.3f wakeup_ratio %.3f p99_excess_ms %.3f rss_kb %d cpu_ci_low %.3f cpu_ci_high %.3f cpu_verdict %s rounds %d\n", mc, mw, m99, maxrss, (ci_level > 0 ? ci_lo : 0), (ci_level > 0 ? ci_hi : 0), (verdict == "NOT met" ? "not_met" : verdict), n_v
}' "$out"
